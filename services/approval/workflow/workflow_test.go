package workflow

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

// openFor routes steps for a request and opens its approval.
func openFor(t *testing.T, requester, beneficiary, ent string, steps ...*igav1.ApprovalStep) *igav1.Approval {
	t.Helper()
	req := &igav1.AccessRequest{Id: "r1", RequesterEmail: requester, BeneficiaryEmail: beneficiary, EntitlementId: ent,
		Duration: durationpb.New(8 * time.Hour)}
	dec := &igav1.PolicyDecision{RequestId: "r1", Effect: igav1.Effect_EFFECT_REQUIRE_APPROVAL, ApprovalSteps: steps,
		GrantedDuration: durationpb.New(4 * time.Hour), Reason: "needs approval"}
	stages, err := Route(testSnapshot(), PartiesOf(req), steps)
	if err != nil {
		t.Fatal(err)
	}
	return Open(req, dec, stages[0], t0)
}

type vote struct {
	who     string
	approve bool
	outcome Outcome
	err     error
}

func TestDecide(t *testing.T) {
	twoStage := []*igav1.ApprovalStep{
		step(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1, 0, ""),
		step(igav1.ApproverKind_APPROVER_KIND_SECURITY, 2, 0, ""),
	}
	tests := []struct {
		name       string
		approval   func(t *testing.T) *igav1.Approval
		votes      []vote
		status     igav1.ApprovalStatus
		stage      int32
		approvers  []string
		reasonPart string
	}{
		{
			name:     "manager approves",
			approval: func(t *testing.T) *igav1.Approval { return openFor(t, dana, dana, "snowflake:analyst", manager) },
			votes:    []vote{{who: marco, approve: true, outcome: Approved}},
			status:   igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED, stage: 1, approvers: []string{marco},
			reasonPart: "Approved by Marco Bianchi",
		},
		{
			name:     "requester and beneficiary can never approve; strangers neither",
			approval: func(t *testing.T) *igav1.Approval { return openFor(t, dana, sam, "aws-prod:admin", manager) },
			votes: []vote{
				{who: dana, approve: true, err: ErrSelfApproval},
				{who: sam, approve: true, err: ErrSelfApproval},
				{who: lee, approve: true, err: ErrNotApprover},
				{who: "", approve: true, err: ErrNoIdentity},
			},
			status: igav1.ApprovalStatus_APPROVAL_STATUS_PENDING, stage: 1, approvers: []string{priya},
		},
		{
			name:     "a deny ends it at once",
			approval: func(t *testing.T) *igav1.Approval { return openFor(t, dana, dana, "snowflake:analyst", financeGrp) },
			votes: []vote{
				{who: olivia, approve: false, outcome: Denied},
				{who: marco, approve: true, err: ErrAlreadyDecided},
				{who: olivia, approve: false, outcome: Unchanged},
			},
			status: igav1.ApprovalStatus_APPROVAL_STATUS_DENIED, stage: 1, reasonPart: "Denied by Olivia Chen: not needed",
		},
		{
			name:     "quorum counts distinct approvers",
			approval: func(t *testing.T) *igav1.Approval { return openFor(t, sam, sam, "aws-prod:admin", security2) },
			votes: []vote{
				{who: lee, approve: true, outcome: Recorded},
				{who: "LEE.KIM@acme.example", approve: true, outcome: Unchanged},
				{who: lee, approve: false, err: ErrAlreadyVoted},
				{who: kai, approve: true, outcome: Approved},
			},
			status: igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED, stage: 1, reasonPart: "Lee Kim, Kai Tanaka",
		},
		{
			name:     "two stages run in order",
			approval: func(t *testing.T) *igav1.Approval { return openFor(t, sam, sam, "aws-prod:admin", twoStage...) },
			votes: []vote{
				{who: lee, approve: true, err: ErrNotApprover},
				{who: priya, approve: true, outcome: Advanced},
				{who: priya, approve: true, outcome: Unchanged}, // a retry of the stage-1 vote
				{who: kai, approve: true, outcome: Approved},
			},
			status: igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED, stage: 2, approvers: []string{kai, lee},
		},
		{
			name: "parallel steps each need their approver",
			approval: func(t *testing.T) *igav1.Approval {
				return openFor(t, dana, dana, "snowflake:analyst", manager, entOwner)
			},
			votes: []vote{
				{who: marco, approve: true, outcome: Recorded},
				{who: sofia, approve: true, outcome: Approved},
			},
			status: igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED, stage: 1, approvers: []string{marco, sofia},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.approval(t)
			for i, v := range tc.votes {
				before := proto.Clone(a)
				got, err := Decide(testSnapshot(), a, Vote{Approver: v.who, Approve: v.approve, Reason: "not needed", At: t0.Add(time.Minute)})
				if v.err != nil {
					if !errors.Is(err, v.err) {
						t.Fatalf("vote %d by %q: err = %v, want %v", i, v.who, err, v.err)
					}
					if !proto.Equal(before, a) {
						t.Fatalf("vote %d by %q: a refused vote changed the approval", i, v.who)
					}
					continue
				}
				if err != nil || got != v.outcome {
					t.Fatalf("vote %d by %q: outcome = %v, %v; want %v", i, v.who, got, err, v.outcome)
				}
			}
			if a.GetStatus() != tc.status || a.GetCurrentStage() != tc.stage {
				t.Errorf("status = %v stage %d, want %v stage %d", a.GetStatus(), a.GetCurrentStage(), tc.status, tc.stage)
			}
			if tc.approvers != nil && !slices.Equal(a.GetApprovers(), tc.approvers) {
				t.Errorf("approvers = %v, want %v", a.GetApprovers(), tc.approvers)
			}
			if !strings.Contains(a.GetReason(), tc.reasonPart) {
				t.Errorf("reason = %q, want it to contain %q", a.GetReason(), tc.reasonPart)
			}
		})
	}
}

func TestOpenAndRefuse(t *testing.T) {
	a := openFor(t, marco, dana, "snowflake:analyst", manager)
	if a.GetId() != "r1" || a.GetRequestId() != "r1" || a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING {
		t.Fatalf("approval = %v", a)
	}
	if !slices.Equal(a.GetApprovers(), []string{olivia}) {
		t.Errorf("approvers = %v, want the manager's manager", a.GetApprovers())
	}
	if a.GetDuration().AsDuration() != 4*time.Hour {
		t.Errorf("duration = %v, want the granted 4h", a.GetDuration().AsDuration())
	}
	if !CanDecide(a, olivia) || CanDecide(a, marco) || CanDecide(a, dana) {
		t.Errorf("CanDecide: olivia %v, marco %v, dana %v", CanDecide(a, olivia), CanDecide(a, marco), CanDecide(a, dana))
	}
	r := Refuse(&igav1.AccessRequest{Id: "r2", Duration: durationpb.New(time.Hour)}, &igav1.PolicyDecision{}, "nobody", t0)
	if r.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_DENIED || r.GetDecidedAt() == nil || r.GetDuration().AsDuration() != time.Hour {
		t.Errorf("refused = %v", r)
	}
}

func TestDecideNextStageWithNobodyDenies(t *testing.T) {
	a := openFor(t, dana, dana, "snowflake:analyst", manager, step(igav1.ApproverKind_APPROVER_KIND_SECURITY, 2, 0, ""))
	// Security left between the opening and the vote.
	snap := testSnapshot()
	for _, p := range snap.People {
		p.Groups = slices.DeleteFunc(p.Groups, func(g string) bool { return g == "security" })
	}
	got, err := Decide(snap, a, Vote{Approver: marco, Approve: true, At: t0})
	if err != nil || got != Denied {
		t.Fatalf("outcome = %v, %v; want denied", got, err)
	}
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_DENIED || !strings.Contains(a.GetReason(), "Stage 2 cannot be approved") {
		t.Errorf("approval = %v", a)
	}
}

func TestEscalate(t *testing.T) {
	snap := testSnapshot()
	tests := []struct {
		name  string
		a     func(t *testing.T) *igav1.Approval
		from  []string
		added []string
		want  []string
	}{
		{name: "to the approver's manager", a: func(t *testing.T) *igav1.Approval { return openFor(t, dana, dana, "snowflake:analyst", manager) },
			from: []string{marco}, added: []string{olivia}, want: []string{marco, olivia}},
		{name: "a group escalates to each member's manager once", a: func(t *testing.T) *igav1.Approval { return openFor(t, sam, sam, "aws-prod:admin", security) },
			from: []string{kai, lee}, added: []string{priya}, want: []string{kai, lee, priya}},
		{name: "never to the requester", a: func(t *testing.T) *igav1.Approval { return openFor(t, priya, priya, "snowflake:analyst", security) },
			from: []string{kai, lee}, want: []string{kai, lee}},
		{name: "the top of the organisation has nobody above", a: func(t *testing.T) *igav1.Approval { return openFor(t, marco, dana, "snowflake:analyst", manager) },
			from: []string{olivia}, want: []string{olivia}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a(t)
			added := Escalate(snap, a, tc.from)
			if !slices.Equal(added, tc.added) || !slices.Equal(a.GetApprovers(), tc.want) {
				t.Fatalf("added %v, approvers %v; want %v, %v", added, a.GetApprovers(), tc.added, tc.want)
			}
			if again := Escalate(snap, a, tc.from); len(again) != 0 {
				t.Errorf("escalating twice added %v", again)
			}
			if got := Escalated(snap, a); got != (len(tc.added) > 0) {
				t.Errorf("Escalated = %v", got)
			}
		})
	}
}

func TestEscalatedApproverStandsInForTheStep(t *testing.T) {
	snap := testSnapshot()
	// Manager step (Marco) and security step (Kai, Lee); Marco's manager Olivia is added.
	a := openFor(t, dana, dana, "snowflake:analyst", manager, security)
	Escalate(snap, a, []string{marco})
	if got, err := Decide(snap, a, Vote{Approver: olivia, Approve: true, At: t0}); err != nil || got != Recorded {
		t.Fatalf("olivia: %v, %v; want recorded (security still waits)", got, err)
	}
	if got, err := Decide(snap, a, Vote{Approver: lee, Approve: true, At: t0}); err != nil || got != Approved {
		t.Fatalf("lee: %v, %v; want approved", got, err)
	}
}

func TestDelegate(t *testing.T) {
	snap := testSnapshot()
	tests := []struct {
		from, to string
		err      error
	}{
		{from: lee, to: olivia, err: ErrNotApprover},
		{from: "", to: olivia, err: ErrNoIdentity},
		{from: marco, to: "", err: ErrBadDelegate},
		{from: marco, to: dana, err: ErrBadDelegate},
		{from: marco, to: "ghost@acme.example", err: ErrBadDelegate},
		{from: marco, to: "ted.long@acme.example", err: ErrBadDelegate}, // terminated
		{from: marco, to: marco, err: ErrBadDelegate},
		{from: marco, to: "Olivia.Chen@acme.example"},
	}
	a := openFor(t, dana, dana, "snowflake:analyst", manager)
	for _, tc := range tests {
		if err := Delegate(snap, a, tc.from, tc.to); !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%q -> %q: err = %v, want %v", tc.from, tc.to, err, tc.err)
		}
	}
	if !slices.Equal(a.GetApprovers(), []string{olivia}) {
		t.Fatalf("approvers = %v", a.GetApprovers())
	}
	if _, err := Decide(snap, a, Vote{Approver: marco, Approve: true, At: t0}); !errors.Is(err, ErrNotApprover) {
		t.Errorf("the delegator decides: %v", err)
	}
	if got, err := Decide(snap, a, Vote{Approver: olivia, Approve: true, At: t0}); err != nil || got != Approved {
		t.Errorf("the delegate decides: %v, %v", got, err)
	}
	if err := Delegate(snap, a, olivia, sam); !errors.Is(err, ErrAlreadyDecided) {
		t.Errorf("delegate after the end: %v", err)
	}
}

func TestStageOpenedAt(t *testing.T) {
	snap := testSnapshot()
	a := openFor(t, sam, sam, "aws-prod:admin", step(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1, 0, ""), step(igav1.ApproverKind_APPROVER_KIND_SECURITY, 2, 0, ""))
	if got := StageOpenedAt(a); !got.Equal(t0) {
		t.Errorf("stage 1 opened at %v, want creation %v", got, t0)
	}
	later := t0.Add(3 * time.Hour)
	if _, err := Decide(snap, a, Vote{Approver: priya, Approve: true, At: later}); err != nil {
		t.Fatal(err)
	}
	if got := StageOpenedAt(a); !got.Equal(later) {
		t.Errorf("stage 2 opened at %v, want the stage-1 vote %v", got, later)
	}
}
