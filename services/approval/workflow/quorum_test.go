package workflow

import (
	"errors"
	"slices"
	"testing"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

func anyOf(stage int32, alts ...igav1.ApproverKind) *igav1.ApprovalStep {
	s := &igav1.ApprovalStep{Kind: igav1.ApproverKind_APPROVER_KIND_ANY_OF, Stage: stage}
	for _, k := range alts {
		s.AnyOf = append(s.AnyOf, &igav1.Approver{Kind: k})
	}
	return s
}

func allOf(group string, stage int32) *igav1.ApprovalStep {
	return &igav1.ApprovalStep{Kind: igav1.ApproverKind_APPROVER_KIND_GROUP, Group: group, Stage: stage, All: true}
}

var managerOrAppOwner = anyOf(1, igav1.ApproverKind_APPROVER_KIND_MANAGER, igav1.ApproverKind_APPROVER_KIND_APP_OWNER)

func TestRouteAnyOfAndAll(t *testing.T) {
	snap := testSnapshot()
	tests := []struct {
		name      string
		p         Parties
		step      *igav1.ApprovalStep
		approvers []string
		quorum    int
		desc      string
		waiting   string
		err       error
	}{
		{name: "manager or app owner: either may approve", p: Parties{dana, dana, "snowflake:analyst"}, step: managerOrAppOwner,
			approvers: []string{marco, sofia}, quorum: 1,
			desc: "manager or app owner: Marco Bianchi, Sofia Ruiz (1 of 2)", waiting: "any of Marco Bianchi, Sofia Ruiz (manager or app owner)"},
		{name: "the same person on both sides is asked once", p: Parties{dana, dana, "grafana:payments-viewer"}, step: managerOrAppOwner,
			approvers: []string{marco}, quorum: 1, desc: "manager or app owner: Marco Bianchi", waiting: "Marco Bianchi (manager or app owner)"},
		{name: "no manager: the app owner alone, and it says so", p: Parties{ivy, ivy, "snowflake:analyst"}, step: managerOrAppOwner,
			approvers: []string{sofia}, quorum: 1,
			desc: "app owner: Sofia Ruiz — nobody may approve as manager"},
		{name: "an app without owner: the manager alone", p: Parties{sam, sam, "stripe:admin"}, step: managerOrAppOwner,
			approvers: []string{priya}, quorum: 1},
		{name: "nobody on either side", p: Parties{ivy, ivy, "stripe:admin"}, step: managerOrAppOwner, err: ErrNoApprover},
		{name: "one alternative is not an any-of", p: Parties{dana, dana, "snowflake:analyst"},
			step: anyOf(1, igav1.ApproverKind_APPROVER_KIND_MANAGER), err: ErrNoApprover},
		{name: "an any-of with a quorum is refused", p: Parties{dana, dana, "snowflake:analyst"},
			step: func() *igav1.ApprovalStep {
				s := anyOf(1, igav1.ApproverKind_APPROVER_KIND_MANAGER, igav1.ApproverKind_APPROVER_KIND_SECURITY)
				s.Quorum = 2
				return s
			}(),
			err: ErrNoApprover},
		{name: "all of the group", p: Parties{sam, sam, "aws-prod:admin"}, step: allOf("finance-leads", 1),
			approvers: []string{marco, olivia}, quorum: 2,
			desc: "group finance-leads: Marco Bianchi, Olivia Chen (all 2)", waiting: "all of Marco Bianchi, Olivia Chen (group finance-leads)"},
		{name: "all never includes the requester", p: Parties{marco, dana, "snowflake:analyst"}, step: allOf("finance-leads", 1),
			approvers: []string{olivia}, quorum: 1},
		{name: "all of an empty group", p: Parties{sam, sam, "aws-prod:admin"}, step: allOf("nobody-here", 1), err: ErrNoApprover},
		{name: "all of security", p: Parties{sam, sam, "aws-prod:admin"},
			step:      &igav1.ApprovalStep{Kind: igav1.ApproverKind_APPROVER_KIND_SECURITY, Stage: 1, All: true},
			approvers: []string{kai, lee}, quorum: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := RouteStage(snap, tc.p, []*igav1.ApprovalStep{tc.step}, 1)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := st.Steps[0]
			if !slices.Equal(s.Approvers, tc.approvers) || s.Quorum != tc.quorum {
				t.Errorf("approvers %v quorum %d, want %v quorum %d", s.Approvers, s.Quorum, tc.approvers, tc.quorum)
			}
			if tc.desc != "" && st.Description() != tc.desc {
				t.Errorf("description %q, want %q", st.Description(), tc.desc)
			}
			if tc.waiting != "" && st.Waiting() != tc.waiting {
				t.Errorf("waiting %q, want %q", st.Waiting(), tc.waiting)
			}
		})
	}
}

// Approval by either side of an any-of step completes it; an all step needs everyone.
func TestDecideAnyOfAndAll(t *testing.T) {
	tests := []struct {
		name     string
		approval func(t *testing.T) *igav1.Approval
		votes    []vote
		status   igav1.ApprovalStatus
	}{
		{name: "the manager approves the any-of step",
			approval: func(t *testing.T) *igav1.Approval {
				return openFor(t, dana, dana, "snowflake:analyst", managerOrAppOwner)
			},
			votes:  []vote{{who: marco, approve: true, outcome: Approved}},
			status: igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED},
		{name: "the app owner approves the any-of step",
			approval: func(t *testing.T) *igav1.Approval {
				return openFor(t, dana, dana, "snowflake:analyst", managerOrAppOwner)
			},
			votes:  []vote{{who: sofia, approve: true, outcome: Approved}, {who: marco, approve: true, err: ErrAlreadyDecided}},
			status: igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED},
		{name: "either side denying ends it",
			approval: func(t *testing.T) *igav1.Approval {
				return openFor(t, dana, dana, "snowflake:analyst", managerOrAppOwner)
			},
			votes:  []vote{{who: sofia, approve: false, outcome: Denied}},
			status: igav1.ApprovalStatus_APPROVAL_STATUS_DENIED},
		{name: "an any-of step then a stage of all",
			approval: func(t *testing.T) *igav1.Approval {
				return openFor(t, sam, sam, "aws-prod:admin", managerOrAppOwner, allOf("finance-leads", 2))
			},
			votes: []vote{
				{who: priya, approve: true, outcome: Advanced},
				{who: marco, approve: true, outcome: Recorded},
				{who: olivia, approve: true, outcome: Approved},
			},
			status: igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED},
		{name: "all: one approval is not enough",
			approval: func(t *testing.T) *igav1.Approval {
				return openFor(t, sam, sam, "aws-prod:admin", allOf("finance-leads", 1))
			},
			votes:  []vote{{who: olivia, approve: true, outcome: Recorded}},
			status: igav1.ApprovalStatus_APPROVAL_STATUS_PENDING},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.approval(t)
			for i, v := range tc.votes {
				got, err := Decide(testSnapshot(), a, Vote{Approver: v.who, Approve: v.approve, At: t0})
				if v.err != nil {
					if !errors.Is(err, v.err) {
						t.Fatalf("vote %d by %s: err %v, want %v", i, v.who, err, v.err)
					}
					continue
				}
				if err != nil || got != v.outcome {
					t.Fatalf("vote %d by %s: %v, %v; want %v", i, v.who, got, err, v.outcome)
				}
			}
			if a.GetStatus() != tc.status {
				t.Errorf("status %v, want %v (%s)", a.GetStatus(), tc.status, a.GetReason())
			}
		})
	}
}

// Whoever stands in for a member of an all step covers that member: a delegate covers
// the delegator only, an escalated manager covers their reports.
func TestAllStepStandIns(t *testing.T) {
	snap := testSnapshot()
	// Security (Kai, Lee, both reporting to Priya) must all approve Dana's request.
	allSecurity := &igav1.ApprovalStep{Kind: igav1.ApproverKind_APPROVER_KIND_SECURITY, Stage: 1, All: true}

	a := openFor(t, dana, dana, "snowflake:analyst", allSecurity)
	if err := Delegate(snap, a, lee, olivia); err != nil {
		t.Fatal(err)
	}
	if got, err := Decide(snap, a, Vote{Approver: olivia, Approve: true, At: t0}); err != nil || got != Recorded {
		t.Fatalf("the delegate: %v, %v; want recorded (Kai has not approved)", got, err)
	}
	if got, err := Decide(snap, a, Vote{Approver: kai, Approve: true, At: t0}); err != nil || got != Approved {
		t.Fatalf("kai: %v, %v; want approved", got, err)
	}

	a = openFor(t, dana, dana, "snowflake:analyst", allSecurity)
	if added := Escalate(snap, a, []string{lee, kai}); !slices.Equal(added, []string{priya}) {
		t.Fatalf("escalated to %v", added)
	}
	if got, err := Decide(snap, a, Vote{Approver: priya, Approve: true, At: t0}); err != nil || got != Approved {
		t.Fatalf("priya standing in for her reports Kai and Lee: %v, %v; want approved", got, err)
	}

	// A member who joined the group after the stage opened was never asked and is not
	// waited for.
	a = openFor(t, sam, sam, "aws-prod:admin", allOf("finance-leads", 1))
	a.Approvers = slices.DeleteFunc(a.Approvers, func(m string) bool { return m == olivia })
	if got, err := Decide(snap, a, Vote{Approver: marco, Approve: true, At: t0}); err != nil || got != Approved {
		t.Fatalf("marco, the only one asked: %v, %v; want approved", got, err)
	}
}

// A manager chain that loops (possible from a directory synced from an IdP, though the
// YAML loader refuses it) never hangs routing, escalation or stand-in checks, and never
// lets a party to the request approve.
func TestManagerLoopsNeverHangOrApprove(t *testing.T) {
	const a, b = "ann.loop@acme.example", "bo.loop@acme.example"
	snap := directory.NewSnapshot([]*igav1.Person{
		{Email: a, Name: "Ann", ManagerEmail: b, Status: "active", Groups: []string{"loop"}},
		{Email: b, Name: "Bo", ManagerEmail: a, Status: "active", Groups: []string{"loop"}},
	}, []*igav1.App{{Id: "app", OwnerEmail: b}}, []*igav1.Entitlement{{Id: "app:x", AppId: "app"}})
	// Bo asks for Ann: her manager is Bo (the requester), his manager is Ann (the beneficiary).
	p := Parties{Requester: b, Beneficiary: a, EntitlementID: "app:x"}
	for _, s := range []*igav1.ApprovalStep{manager, entOwner, appOwner, managerOrAppOwner, allOf("loop", 1)} {
		if st, err := RouteStage(snap, p, []*igav1.ApprovalStep{s}, 1); !errors.Is(err, ErrNoApprover) {
			t.Errorf("%v step routed to %v (%v); want no eligible approver", s.GetKind(), st.Approvers(), err)
		}
	}
	// An approval already open (say, routed before the directory changed) escalates to
	// nobody new and cannot be completed by either party.
	ap := &igav1.Approval{Id: "r1", RequesterEmail: b, BeneficiaryEmail: a, EntitlementId: "app:x",
		Status: igav1.ApprovalStatus_APPROVAL_STATUS_PENDING, CurrentStage: 1, Steps: []*igav1.ApprovalStep{manager}, Approvers: []string{b}}
	if added := Escalate(snap, ap, []string{b}); len(added) != 0 {
		t.Errorf("escalated to %v", added)
	}
	if _, err := Decide(snap, ap, Vote{Approver: b, Approve: true, At: t0}); !errors.Is(err, ErrSelfApproval) {
		t.Errorf("the requester approved: %v", err)
	}
	if manages(snap, "nobody@acme.example", a) {
		t.Error("manages found a boss outside the loop")
	}
}
