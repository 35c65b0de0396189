package workflow

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

const (
	dana   = "dana.reyes@acme.example"
	marco  = "marco.bianchi@acme.example"
	olivia = "olivia.chen@acme.example"
	sam    = "sam.patel@acme.example"
	priya  = "priya.nair@acme.example"
	lee    = "lee.kim@acme.example"
	kai    = "kai.tanaka@acme.example"
	sofia  = "sofia.ruiz@acme.example"
	ivy    = "ivy.owens@acme.example"
	una    = "una.berg@acme.example"
	ted    = "ted.long@acme.example"
)

// testSnapshot is a small company: Finance (Dana → Marco → Olivia), Engineering
// (Sam → Priya), Security (Lee, Kai), a data platform owner (Sofia → Olivia), Ivy with no
// manager, and Una whose manager Ted has left.
func testSnapshot() *directory.Snapshot {
	person := func(email, name, manager string, groups ...string) *igav1.Person {
		return &igav1.Person{Email: email, Name: name, ManagerEmail: manager, Groups: groups, Status: "active"}
	}
	tedP := person(ted, "Ted Long", olivia)
	tedP.Status = "terminated"
	people := []*igav1.Person{
		person(dana, "Dana Reyes", marco, "finance", "all-staff"),
		person(marco, "Marco Bianchi", olivia, "finance", "finance-leads"),
		person(olivia, "Olivia Chen", "", "finance", "finance-leads"),
		person(sam, "Sam Patel", priya, "engineering"),
		person(priya, "Priya Nair", "", "engineering"),
		person(lee, "Lee Kim", priya, "security"),
		person(kai, "Kai Tanaka", priya, "security"),
		person(sofia, "Sofia Ruiz", olivia, "data"),
		person(ivy, "Ivy Owens", ""),
		person(una, "Una Berg", ted),
		tedP,
	}
	apps := []*igav1.App{
		{Id: "snowflake", Name: "Snowflake", OwnerEmail: sofia},
		{Id: "grafana", Name: "Grafana", OwnerEmail: marco},
		{Id: "aws-prod", Name: "AWS production", OwnerEmail: priya},
		{Id: "stripe", Name: "Stripe", OwnerEmail: ""},
		{Id: "netsuite", Name: "NetSuite", OwnerEmail: marco},
	}
	ents := []*igav1.Entitlement{
		{Id: "snowflake:analyst", AppId: "snowflake", Name: "analyst", Level: "read", Risk: "medium"},
		{Id: "grafana:payments-viewer", AppId: "grafana", Name: "payments-viewer", Level: "read", Risk: "low"},
		{Id: "grafana:admin", AppId: "grafana", Name: "admin", Level: "admin", Risk: "high", OwnerEmail: lee},
		{Id: "aws-prod:admin", AppId: "aws-prod", Name: "admin", Level: "admin", Risk: "critical"},
		{Id: "stripe:admin", AppId: "stripe", Name: "admin", Level: "admin", Risk: "critical"},
		{Id: "netsuite:ap-approver", AppId: "netsuite", Name: "ap-approver", Level: "write", Risk: "high"},
	}
	return directory.NewSnapshot(people, apps, ents)
}

func step(kind igav1.ApproverKind, stage int32, quorum int32, group string) *igav1.ApprovalStep {
	return &igav1.ApprovalStep{Kind: kind, Stage: stage, Quorum: quorum, Group: group}
}

var (
	manager    = step(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1, 0, "")
	entOwner   = step(igav1.ApproverKind_APPROVER_KIND_ENTITLEMENT_OWNER, 1, 0, "")
	appOwner   = step(igav1.ApproverKind_APPROVER_KIND_APP_OWNER, 1, 0, "")
	security   = step(igav1.ApproverKind_APPROVER_KIND_SECURITY, 1, 0, "")
	security2  = step(igav1.ApproverKind_APPROVER_KIND_SECURITY, 1, 2, "")
	financeGrp = step(igav1.ApproverKind_APPROVER_KIND_GROUP, 1, 0, "finance-leads")
)

func TestRouteStep(t *testing.T) {
	snap := testSnapshot()
	tests := []struct {
		name      string
		parties   Parties
		step      *igav1.ApprovalStep
		approvers []string
		desc      string // substring of the step's description
		escalated bool
		err       error
		errText   string // substring of the error
	}{
		{name: "manager of the beneficiary", parties: Parties{dana, dana, "snowflake:analyst"}, step: manager,
			approvers: []string{marco}, desc: "manager: Marco Bianchi"},
		{name: "manager who asks on behalf of a report escalates to their manager", parties: Parties{marco, dana, "snowflake:analyst"},
			step: manager, approvers: []string{olivia}, desc: "manager's manager: Olivia Chen", escalated: true},
		{name: "no manager at all is denied", parties: Parties{ivy, ivy, "netsuite:ap-approver"}, step: manager,
			err: ErrNoApprover, errText: "Ivy Owens has no manager"},
		{name: "top of the organisation has no manager", parties: Parties{olivia, olivia, "snowflake:analyst"}, step: manager,
			err: ErrNoApprover, errText: "no manager"},
		{name: "manager who left escalates", parties: Parties{una, una, "snowflake:analyst"}, step: manager,
			approvers: []string{olivia}, desc: "Olivia Chen", escalated: true},
		{name: "manager is the requester and has no manager", parties: Parties{priya, sam, "aws-prod:admin"}, step: manager,
			err: ErrNoApprover, errText: "is the requester"},
		{name: "entitlement owner falls back to the app owner", parties: Parties{dana, dana, "snowflake:analyst"}, step: entOwner,
			approvers: []string{sofia}, desc: "entitlement owner: Sofia Ruiz"},
		{name: "entitlement's own owner", parties: Parties{dana, dana, "grafana:admin"}, step: entOwner,
			approvers: []string{lee}, desc: "entitlement owner: Lee Kim"},
		{name: "owner asking for themself escalates to the app owner", parties: Parties{lee, lee, "grafana:admin"}, step: entOwner,
			approvers: []string{marco}, desc: "app owner: Marco Bianchi", escalated: true},
		{name: "app owner asking for themself escalates to their manager", parties: Parties{sofia, sofia, "snowflake:analyst"}, step: appOwner,
			approvers: []string{olivia}, desc: "app owner's manager: Olivia Chen", escalated: true},
		{name: "app without an owner is denied", parties: Parties{dana, dana, "stripe:admin"}, step: appOwner,
			err: ErrNoApprover, errText: "no owner"},
		{name: "group excludes the requester", parties: Parties{marco, marco, "grafana:admin"}, step: financeGrp,
			approvers: []string{olivia}, desc: "group finance-leads: Olivia Chen"},
		{name: "group of several", parties: Parties{dana, dana, "snowflake:analyst"}, step: financeGrp,
			approvers: []string{marco, olivia}, desc: "(1 of 2)"},
		{name: "security group", parties: Parties{sam, sam, "aws-prod:admin"}, step: security,
			approvers: []string{kai, lee}, desc: "security: Kai Tanaka, Lee Kim"},
		{name: "security quorum beyond the eligible members is denied", parties: Parties{lee, lee, "aws-prod:admin"}, step: security2,
			err: ErrNoApprover, errText: "needs 2 approvals but only 1"},
		{name: "empty group is denied", parties: Parties{dana, dana, "snowflake:analyst"},
			step: step(igav1.ApproverKind_APPROVER_KIND_GROUP, 1, 0, "nobody"), err: ErrNoApprover, errText: `group "nobody"`},
		{name: "unknown beneficiary", parties: Parties{dana, "ghost@acme.example", "snowflake:analyst"}, step: manager,
			err: ErrUnknownPerson},
		{name: "unknown entitlement", parties: Parties{dana, dana, "nope:admin"}, step: entOwner, err: ErrUnknownEntitlement},
		{name: "unknown approver kind", parties: Parties{dana, dana, "snowflake:analyst"},
			step: step(igav1.ApproverKind_APPROVER_KIND_UNSPECIFIED, 1, 0, ""), err: ErrNoApprover},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := RouteStage(snap, tc.parties, []*igav1.ApprovalStep{tc.step}, tc.step.GetStage())
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("route: %v", err)
			}
			if got := st.Approvers(); !slices.Equal(got, tc.approvers) {
				t.Errorf("approvers = %v, want %v", got, tc.approvers)
			}
			for _, a := range st.Approvers() {
				if a == tc.parties.Requester || a == tc.parties.Beneficiary {
					t.Errorf("party %s is an approver", a)
				}
			}
			if d := st.Description(); !strings.Contains(d, tc.desc) {
				t.Errorf("description = %q, want it to contain %q", d, tc.desc)
			}
			if got := st.Steps[0].Escalation != ""; got != tc.escalated {
				t.Errorf("escalation = %q, want escalated=%v", st.Steps[0].Escalation, tc.escalated)
			}
		})
	}
}

func TestRouteStagesInOrder(t *testing.T) {
	snap := testSnapshot()
	steps := []*igav1.ApprovalStep{
		step(igav1.ApproverKind_APPROVER_KIND_SECURITY, 2, 0, ""),
		step(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1, 0, ""),
		step(igav1.ApproverKind_APPROVER_KIND_APP_OWNER, 1, 0, ""),
	}
	stages, err := Route(snap, Parties{sam, sam, "aws-prod:admin"}, steps)
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || stages[0].Number != 1 || stages[1].Number != 2 {
		t.Fatalf("stages = %+v", stages)
	}
	// Priya is both Sam's manager and the app owner: one approver for two steps.
	if got := stages[0].Approvers(); !slices.Equal(got, []string{priya}) {
		t.Errorf("stage 1 approvers = %v", got)
	}
	if got := stages[1].Approvers(); !slices.Equal(got, []string{kai, lee}) {
		t.Errorf("stage 2 approvers = %v", got)
	}
	if got := stages[0].Waiting(); got != "Priya Nair (manager, app owner)" {
		t.Errorf("waiting = %q", got)
	}
}

func TestRouteRefusesWhenAnyStageHasNobody(t *testing.T) {
	snap := testSnapshot()
	steps := []*igav1.ApprovalStep{
		step(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1, 0, ""),
		step(igav1.ApproverKind_APPROVER_KIND_GROUP, 2, 0, "nobody"),
	}
	if _, err := Route(snap, Parties{dana, dana, "snowflake:analyst"}, steps); !errors.Is(err, ErrNoApprover) {
		t.Fatalf("err = %v, want ErrNoApprover", err)
	}
	if _, err := Route(snap, Parties{dana, dana, "snowflake:analyst"}, nil); !errors.Is(err, ErrNoApprover) {
		t.Fatalf("no steps: err = %v, want ErrNoApprover", err)
	}
}
