package planner

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/inmem"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// emergencyPolicy allows aws-prod:admin through break-glass, reviewed by security and
// the manager, the way the policy and approval services answer it.
type emergencyPolicy struct{ inmem.Policy }

func (p emergencyPolicy) Preview(ctx context.Context, req *igav1.AccessRequest) (*igav1.PolicyDecision, error) {
	if req.GetEntitlementId() != "aws-prod:admin" || !req.GetEmergency() {
		return p.Policy.Preview(ctx, req)
	}
	return &igav1.PolicyDecision{Effect: igav1.Effect_EFFECT_ALLOW, MaxDuration: durationpb.New(3600e9), GrantedDuration: req.GetDuration(),
		Reason:      "Allowed as an emergency (break-glass) for at most 1h: on-call engineers during an incident.",
		ReviewSteps: []*igav1.ApprovalStep{{Kind: igav1.ApproverKind_APPROVER_KIND_SECURITY, Stage: 1}, {Kind: igav1.ApproverKind_APPROVER_KIND_MANAGER, Stage: 1}}}, nil
}

func (p emergencyPolicy) Requirements(ctx context.Context, req *igav1.AccessRequest) (*igav1.RequirementsResponse, error) {
	d, _ := p.Preview(ctx, req)
	if len(d.GetReviewSteps()) == 0 {
		return p.Policy.Requirements(ctx, req)
	}
	return &igav1.RequirementsResponse{Decision: d, ReviewStages: []*igav1.StageApprovers{{Stage: 1,
		Approvers: []string{"lee.kim@acme.example", "priya.nair@acme.example"}, Description: "security: Lee Kim; manager: Priya Nair"}}}, nil
}

// An emergency allowed through break-glass is never "auto-approved": the agent says it is
// granted at once, capped, reviewed afterwards by whom, and removed if they reject it.
func TestEmergencySaysItIsReviewedAfterTheFact(t *testing.T) {
	h := newHarness(t)
	snap := h.snap
	dir := func() *directory.Snapshot { return snap }
	pol := emergencyPolicy{inmem.Policy{Dir: dir}}
	h.p = NewBuiltin(tools.New(tools.Deps{Directory: dir, Policy: pol, Approvals: pol, Grants: h.ledger, Actions: h.actions}))
	r := h.say(sam, "emergency: I need aws prod admin for 1 hour for INC-3001, payments are down")
	if r.Kind != conv.ReplyProposal || r.EntitlementID != "aws-prod:admin" {
		t.Fatalf("proposal: %+v", r)
	}
	for _, want := range []string{"as an emergency (break-glass)", "granted at once for at most 1 hour", "reviewed after the fact by", "Lee Kim", "removed at once"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("proposal lacks %q: %s", want, r.Text)
		}
	}
	if strings.Contains(r.Text, "auto-approves") {
		t.Errorf("an emergency called auto-approved: %s", r.Text)
	}
	r = h.pick(sam, "yes")
	if r.Kind != conv.ReplySubmitted || !strings.Contains(r.Text, "allowed as an emergency") || !strings.Contains(r.Text, "if they reject it, it is removed at once") {
		t.Fatalf("submitted: %+v", r)
	}
	if reqs := h.actions.Requests(); len(reqs) != 1 || !reqs[0].GetEmergency() {
		t.Fatalf("submitted requests: %v", reqs)
	}
}
