package policy

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/policy/engine"
)

// The decision of record of an emergency grant names who reviews it after the fact, so the
// approval service can open the review; other decisions name no reviewers.
func TestDecisionRecordsBreakGlassReviewers(t *testing.T) {
	pol, err := engine.Load("../engine/testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		emergency bool
		want      []igav1.ApproverKind
	}{
		{"emergency", true, []igav1.ApproverKind{igav1.ApproverKind_APPROVER_KIND_SECURITY}},
		{"no emergency", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ar := &igav1.AccessRequest{Id: "r-1", RequesterEmail: "sam.patel@acme.example", EntitlementId: "aws-prod:admin",
				Emergency: tc.emergency, Justification: "sev1 payments outage", TicketRef: "INC-77", Duration: durationpb.New(4 * time.Hour)}
			d, err := Decide(pol, testSnapshot(), ar, nil, nil, at)
			if err != nil {
				t.Fatal(err)
			}
			var got []igav1.ApproverKind
			for _, s := range d.GetReviewSteps() {
				got = append(got, s.GetKind())
			}
			if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) || IsBreakGlass(d) != tc.emergency {
				t.Fatalf("review steps %v (break-glass %v), want %v; decision %v", got, IsBreakGlass(d), tc.want, d)
			}
		})
	}
}
