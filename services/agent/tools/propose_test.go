package tools_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/inmem"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// defaultingPolicy answers like the policy engine: a request without a duration is
// granted the policy's default for it; one with a duration gets it, capped.
type defaultingPolicy struct {
	inmem.Policy
	def   time.Duration
	asked []time.Duration
}

func (p *defaultingPolicy) Preview(ctx context.Context, req *igav1.AccessRequest) (*igav1.PolicyDecision, error) {
	p.asked = append(p.asked, req.GetDuration().AsDuration())
	d := p.Decide(req)
	if req.GetDuration().AsDuration() == 0 && d.GetEffect() != igav1.Effect_EFFECT_DENY {
		d.GrantedDuration = durationpb.New(p.def)
	}
	return d, nil
}

// With no duration asked, the proposal takes policy's default for the request, not the
// catalog's; an asked duration is kept; a policy without a default leaves the catalog's.
func TestProposalTakesPolicysDefaultDuration(t *testing.T) {
	snap, err := directory.LoadDir("../testdata/directory")
	if err != nil {
		t.Fatal(err)
	}
	dir := func() *directory.Snapshot { return snap }
	const sam = "sam.patel@acme.example"
	ent, _, err := tools.New(tools.Deps{Directory: dir}).Session(conv.New("c"), nil).Entitlement("github:read")
	if err != nil {
		t.Fatal(err)
	}
	catalogDefault, _ := tools.DurationLimits(ent)
	for _, tc := range []struct {
		name      string
		policyDef time.Duration
		asked     time.Duration
		want      time.Duration
		defaulted bool
	}{
		{"policy default", 4 * time.Hour, 0, 4 * time.Hour, true},
		{"asked duration kept", 4 * time.Hour, 2 * 24 * time.Hour, 2 * 24 * time.Hour, false},
		{"policy without a default", 0, 0, catalogDefault, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := &defaultingPolicy{Policy: inmem.Policy{Dir: dir}, def: tc.policyDef}
			ledger := inmem.NewLedger()
			tl := tools.New(tools.Deps{Directory: dir, Policy: pol, Approvals: pol.Policy, Grants: ledger, Actions: inmem.NewActions(ledger)})
			d := &conv.Draft{EntitlementID: "github:read", DurationAsked: tc.asked}
			p, err := tl.Session(conv.New("c-"+tc.name), nil).ProposeRequest(context.Background(), sam, d)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Request.GetDuration().AsDuration(); got != tc.want || d.Duration != tc.want || p.Defaulted != tc.defaulted {
				t.Fatalf("duration %s (draft %s, defaulted %v), want %s (defaulted %v)", got, d.Duration, p.Defaulted, tc.want, tc.defaulted)
			}
			// The decision shown is policy's answer for the duration proposed.
			if last := pol.asked[len(pol.asked)-1]; last != tc.want {
				t.Fatalf("policy last previewed %s, want the proposed %s", last, tc.want)
			}
		})
	}
}
