package simulate

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/bus/bustest"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/policy/engine"
	"github.com/agentic-iga/iga/services/policy/policy"
)

func TestReplayReportsFlipsWithReasons(t *testing.T) {
	ctx := context.Background()
	b := bustest.New(t)
	snap, err := directory.LoadDir("../../../deploy/demo")
	if err != nil {
		t.Fatal(err)
	}
	current, err := engine.Load("../../../deploy/demo/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The change: Finance loses self-service on Stripe.
	changed, err := engine.Parse("new.yaml", []byte(`rules:
  - id: stripe-frozen
    match: {apps: [stripe]}
    effect: deny
    reason: Stripe access is frozen during the audit.
  - id: everything-else-as-before
    effect: require_approval
    approvals: [{kind: manager}]
    reason: Everything else needs the manager.
`))
	if err != nil {
		t.Fatal(err)
	}
	created := timestamppb.New(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	reqs := []*igav1.AccessRequest{
		{Id: "r1", RequesterEmail: "dana.reyes@acme.example", EntitlementId: "stripe:viewer", CreatedAt: created},
		{Id: "r2", RequesterEmail: "sam.patel@acme.example", EntitlementId: "snowflake:analyst", CreatedAt: created},
		{Id: "r3", RequesterEmail: "dana.reyes@acme.example", EntitlementId: "grafana:payments-viewer", CreatedAt: created},
		{Id: "r4", RequesterEmail: "gone@acme.example", EntitlementId: "grafana:payments-viewer", CreatedAt: created},
	}
	for _, ar := range reqs {
		if _, err := b.Publish(ctx, SubjectSubmitted, &igav1.RequestSubmitted{Request: ar}, bus.WithID("submitted-"+ar.GetId())); err != nil {
			t.Fatal(err)
		}
	}
	// A redelivered submission is read once.
	if _, err := b.Publish(ctx, SubjectSubmitted, &igav1.RequestSubmitted{Request: reqs[0]}, bus.WithID("submitted-again-r1")); err != nil {
		t.Fatal(err)
	}
	got, truncated, err := ReadSubmitted(ctx, b.JetStream(), Window{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || truncated {
		t.Fatalf("read %d requests (truncated %v), want 4", len(got), truncated)
	}
	held, err := Held(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	rep := Replay(got, Inputs{
		Before: func(ar *igav1.AccessRequest) (*igav1.PolicyDecision, error) {
			return policy.Decide(current, snap, ar, nil, nil, ar.GetCreatedAt().AsTime())
		},
		After: changed, Snap: snap, Held: held,
	})
	if rep.Requests != 4 || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], "gone@acme.example") {
		t.Fatalf("requests %d skipped %v", rep.Requests, rep.Skipped)
	}
	byID := map[string]Change{}
	for _, c := range rep.Changes {
		byID[c.Request.GetId()] = c
	}
	if c := byID["r1"]; !c.Flipped || c.What != "allow → deny" || !strings.Contains(c.After.GetReason(), "frozen during the audit") {
		t.Fatalf("r1: %+v", c)
	}
	if c := byID["r3"]; !c.Flipped || c.What != "allow → require_approval" {
		t.Fatalf("r3: %+v", c)
	}
	if _, changed := byID["r2"]; changed {
		t.Fatalf("r2 did not change but is reported: %+v", byID["r2"])
	}
	if rep.Flips() != 2 {
		t.Fatalf("flips %d", rep.Flips())
	}
}

func TestReadSubmittedKeepsTheNewestWithinTheWindow(t *testing.T) {
	ctx := context.Background()
	b := bustest.New(t)
	publish := func(id string) {
		t.Helper()
		if _, err := b.Publish(ctx, SubjectSubmitted, &igav1.RequestSubmitted{Request: &igav1.AccessRequest{Id: id}}, bus.WithID("submitted-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"r1", "r2", "r3"} {
		publish(id)
	}
	// Since is measured against the events' stored times, so take it from the stream.
	st, err := b.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	third, err := st.GetMsg(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"r4", "r5"} {
		publish(id)
	}
	ids := func(reqs []*igav1.AccessRequest) string {
		var out []string
		for _, r := range reqs {
			out = append(out, r.GetId())
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		name      string
		w         Window
		want      string
		truncated bool
	}{
		{"everything", Window{}, "r1,r2,r3,r4,r5", false},
		{"the newest two", Window{Limit: 2}, "r4,r5", true},
		{"a limit above the count", Window{Limit: 10}, "r1,r2,r3,r4,r5", false},
		{"since the third", Window{Since: third.Time}, "r3,r4,r5", false},
		{"since and limit", Window{Since: third.Time, Limit: 1}, "r5", true},
		{"since the future", Window{Since: time.Now().Add(time.Hour)}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, truncated, err := ReadSubmitted(ctx, b.JetStream(), tc.w)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tc.want || truncated != tc.truncated {
				t.Fatalf("read %q (truncated %v), want %q (truncated %v)", ids(got), truncated, tc.want, tc.truncated)
			}
		})
	}
}
