package workflow

import (
	"slices"
	"strings"
	"testing"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// TestDemoDatasetRoutes checks routing against the demo company the README walks through:
// every entitlement has an owner who may approve, and the anchors route as documented.
func TestDemoDatasetRoutes(t *testing.T) {
	snap, err := directory.LoadDir("../../../deploy/demo")
	if err != nil {
		t.Fatalf("load the demo dataset: %v", err)
	}
	const dana, marco = "dana.reyes@acme.example", "marco.bianchi@acme.example"
	st, err := RouteStage(snap, Parties{dana, dana, "snowflake:analyst"}, []*igav1.ApprovalStep{manager}, 1)
	if err != nil || !slices.Equal(st.Approvers(), []string{marco}) || st.Description() != "manager: Marco Bianchi" {
		t.Errorf("dana's manager step = %+v, %v", st, err)
	}
	// Marco asking for Dana goes to his manager, the CFO.
	st, err = RouteStage(snap, Parties{marco, dana, "snowflake:analyst"}, []*igav1.ApprovalStep{manager}, 1)
	if err != nil || !slices.Equal(st.Approvers(), []string{"olivia.chen@acme.example"}) {
		t.Errorf("marco for dana = %+v, %v", st, err)
	}
	for _, kind := range []*igav1.ApprovalStep{security, step(igav1.ApproverKind_APPROVER_KIND_GROUP, 1, 0, "sox-controllers")} {
		if _, err := RouteStage(snap, Parties{dana, dana, "snowflake:analyst"}, []*igav1.ApprovalStep{kind}, 1); err != nil {
			t.Errorf("%v step: %v", kind.GetKind(), err)
		}
	}
	// The demo policy's quorums route: two of the change advisory board, every SOX
	// controller, the manager or the app owner (the app owner when there is no manager).
	cab2 := step(igav1.ApproverKind_APPROVER_KIND_GROUP, 1, 2, "cab")
	if st, err := RouteStage(snap, Parties{"noor.bakker@acme.example", "noor.bakker@acme.example", "terraform-cloud:prod-apply"}, []*igav1.ApprovalStep{cab2}, 1); err != nil || st.Steps[0].Quorum != 2 || len(st.Approvers()) != 8 {
		t.Errorf("two of the CAB = %+v, %v", st, err)
	}
	allSox := allOf("sox-controllers", 1)
	if st, err := RouteStage(snap, Parties{dana, dana, "bank-portal:payment-initiator"}, []*igav1.ApprovalStep{allSox}, 1); err != nil || st.Steps[0].Quorum != 3 || !strings.HasPrefix(st.Waiting(), "all of ") {
		t.Errorf("every SOX controller = %+v, %v", st, err)
	}
	const rachel, kevin = "rachel.thompson@acme.example", "kevin.zhao@acme.example"
	if st, err := RouteStage(snap, Parties{rachel, rachel, "linear:team-admin"}, []*igav1.ApprovalStep{managerOrAppOwner}, 1); err != nil || !slices.Equal(st.Approvers(), []string{kevin}) {
		t.Errorf("the CEO's team admin = %+v, %v; want the app owner", st, err)
	}
	for _, e := range snap.EntitlementList() {
		if _, err := RouteStage(snap, Parties{dana, dana, e.GetId()}, []*igav1.ApprovalStep{entOwner}, 1); err != nil {
			t.Errorf("owner of %s: %v", e.GetId(), err)
		}
	}
}
