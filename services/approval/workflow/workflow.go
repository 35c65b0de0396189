package workflow

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// Errors of deciding an approval.
var (
	ErrNotFound       = errors.New("approval not found")
	ErrAlreadyDecided = errors.New("approval already decided")
	// ErrSelfApproval: the requester and the beneficiary can never approve.
	ErrSelfApproval = errors.New("cannot approve own request")
	ErrNotApprover  = errors.New("not an approver of the current stage")
	// ErrAlreadyVoted: the approver already decided this stage the other way.
	ErrAlreadyVoted = errors.New("already decided this stage")
	ErrNoIdentity   = errors.New("no approver identity")
	// ErrBadDelegate: the delegate may not take over (a party, unknown, already listed).
	ErrBadDelegate = errors.New("invalid delegate")
)

// Outcome is what a vote did to an approval.
type Outcome int

const (
	// Unchanged: the same approver repeated the same vote; nothing to store.
	Unchanged Outcome = iota
	// Recorded: the vote counts; the stage still waits for more approvals.
	Recorded
	// Advanced: the stage is complete and the next stage now waits.
	Advanced
	// Approved: every stage is complete.
	Approved
	// Denied: an approver denied, or the next stage has nobody who may approve.
	Denied
)

func (o Outcome) String() string {
	return [...]string{"unchanged", "recorded", "advanced", "approved", "denied"}[o]
}

// Vote is one approver's decision.
type Vote struct {
	Approver string
	Approve  bool
	Reason   string
	At       time.Time
}

// Open builds the pending approval of a request whose decision requires approval; first
// is the routed first stage.
func Open(req *igav1.AccessRequest, dec *igav1.PolicyDecision, first Stage, now time.Time) *igav1.Approval {
	a := base(req, dec, now)
	a.Status = igav1.ApprovalStatus_APPROVAL_STATUS_PENDING
	a.CurrentStage = first.Number
	a.Approvers = first.Approvers()
	a.Reason = dec.GetReason()
	return a
}

// Refuse builds the record of an approval that cannot even start, denied with reason.
func Refuse(req *igav1.AccessRequest, dec *igav1.PolicyDecision, reason string, now time.Time) *igav1.Approval {
	a := base(req, dec, now)
	if n := StageNumbers(a.Steps); len(n) > 0 {
		a.CurrentStage = n[0]
	}
	a.Status = igav1.ApprovalStatus_APPROVAL_STATUS_DENIED
	a.Reason = reason
	a.DecidedAt = timestamppb.New(now)
	return a
}

func base(req *igav1.AccessRequest, dec *igav1.PolicyDecision, now time.Time) *igav1.Approval {
	d := dec.GetGrantedDuration()
	if d == nil || d.AsDuration() <= 0 {
		d = req.GetDuration()
	}
	a := &igav1.Approval{
		Id:               req.GetId(),
		RequestId:        req.GetId(),
		RequesterEmail:   Normalize(req.GetRequesterEmail()),
		BeneficiaryEmail: Normalize(req.GetBeneficiaryEmail()),
		EntitlementId:    req.GetEntitlementId(),
		CreatedAt:        timestamppb.New(now),
	}
	for _, s := range dec.GetApprovalSteps() {
		a.Steps = append(a.Steps, proto.CloneOf(s))
	}
	if d != nil {
		a.Duration = durationpb.New(d.AsDuration())
	}
	return a
}

// Decide applies v to the pending approval a, in place (hand it a copy), and says what
// happened. The requester and beneficiary are refused; only approvers of the current
// stage may decide; a deny ends the approval at once; approvals count distinct approvers
// per step until each step of the stage has its quorum, then the next stage opens.
func Decide(snap *directory.Snapshot, a *igav1.Approval, v Vote) (Outcome, error) {
	who := Normalize(v.Approver)
	if who == "" {
		return Unchanged, fmt.Errorf("%w: say who decides (an approver email)", ErrNoIdentity)
	}
	// A repeated vote (a retried call) changes nothing, even after it ended the approval.
	for _, old := range a.GetVotes() {
		if old.GetStage() == a.GetCurrentStage() && Normalize(old.GetApproverEmail()) == who {
			if old.GetApproved() == v.Approve {
				return Unchanged, nil
			}
			return Unchanged, fmt.Errorf("%w: %s already %s stage %d of approval %s", ErrAlreadyVoted, who, verb(old.GetApproved()), a.GetCurrentStage(), a.GetId())
		}
	}
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING {
		return Unchanged, fmt.Errorf("%w: approval %s is already %s (%s)", ErrAlreadyDecided, a.GetId(), StatusWord(a.GetStatus()), a.GetReason())
	}
	switch p := PartiesOfApproval(a); {
	case who == Normalize(p.Requester):
		return Unchanged, fmt.Errorf("%w: %s requested this access; someone else must approve it", ErrSelfApproval, who)
	case who == Normalize(p.Beneficiary):
		return Unchanged, fmt.Errorf("%w: %s would receive this access; someone else must approve it", ErrSelfApproval, who)
	}
	if !slices.Contains(a.GetApprovers(), who) {
		// A retry of the vote that completed an earlier stage.
		for _, old := range a.GetVotes() {
			if Normalize(old.GetApproverEmail()) == who && old.GetApproved() == v.Approve && old.GetStage() < a.GetCurrentStage() {
				return Unchanged, nil
			}
		}
		return Unchanged, fmt.Errorf("%w: %s may not decide approval %s; stage %d waits for %s",
			ErrNotApprover, who, a.GetId(), a.GetCurrentStage(), strings.Join(names(snap, a.GetApprovers()), ", "))
	}
	a.Votes = append(a.Votes, &igav1.ApprovalVote{
		ApproverEmail: who, Approved: v.Approve, Reason: v.Reason, Stage: a.GetCurrentStage(), DecidedAt: timestamppb.New(v.At),
	})
	if !v.Approve {
		reason := "Denied by " + NameOf(snap, who)
		if v.Reason != "" {
			reason += ": " + v.Reason
		}
		finish(a, igav1.ApprovalStatus_APPROVAL_STATUS_DENIED, reason, v.At)
		return Denied, nil
	}
	if !stageComplete(snap, a) {
		return Recorded, nil
	}
	return advance(snap, a, v.At), nil
}

// advance opens the stage after the current one, or approves when there is none. A next
// stage nobody may approve denies the request.
func advance(snap *directory.Snapshot, a *igav1.Approval, now time.Time) Outcome {
	for _, n := range StageNumbers(a.GetSteps()) {
		if n <= a.GetCurrentStage() {
			continue
		}
		st, err := RouteStage(snap, PartiesOfApproval(a), a.GetSteps(), n)
		if err != nil {
			finish(a, igav1.ApprovalStatus_APPROVAL_STATUS_DENIED, fmt.Sprintf("Stage %d cannot be approved: %v", n, err), now)
			return Denied
		}
		a.CurrentStage, a.Approvers = n, st.Approvers()
		return Advanced
	}
	var by []string
	for _, v := range a.GetVotes() {
		if v.GetApproved() {
			by = append(by, NameOf(snap, v.GetApproverEmail()))
		}
	}
	finish(a, igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED, "Approved by "+strings.Join(by, ", "), now)
	return Approved
}

// Expire ends a pending approval nobody decided in time.
func Expire(a *igav1.Approval, reason string, now time.Time) {
	finish(a, igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED, reason, now)
}

func finish(a *igav1.Approval, s igav1.ApprovalStatus, reason string, now time.Time) {
	a.Status, a.Reason, a.DecidedAt = s, reason, timestamppb.New(now)
}

// stageComplete reports whether every step of the current stage has its quorum of
// distinct approvers. Step membership is routed again from the directory and intersected
// with the approvers recorded when the stage opened; if the directory no longer routes the
// stage, the recorded approvers stand in for every step.
func stageComplete(snap *directory.Snapshot, a *igav1.Approval) bool {
	approved := map[string]bool{}
	for _, v := range a.GetVotes() {
		if v.GetStage() == a.GetCurrentStage() && v.GetApproved() {
			approved[Normalize(v.GetApproverEmail())] = true
		}
	}
	type need struct {
		members []string
		quorum  int
		// every, for an all step: each routed member must be covered, by their own
		// approval or by whoever stands in for them.
		every   []string
		standIn func(member string) []string
	}
	var needs []need
	if st, err := RouteStage(snap, PartiesOfApproval(a), a.GetSteps(), a.GetCurrentStage()); err == nil {
		// People added by escalation or delegation stand in for the steps of those they
		// replace: an escalated manager for their reports' steps, a delegate for the
		// steps of whoever handed over.
		routed := st.Approvers()
		var added []string
		for _, m := range a.GetApprovers() {
			if !slices.Contains(routed, m) {
				added = append(added, m)
			}
		}
		for _, s := range st.Steps {
			members := slices.Clone(s.Approvers)
			handedOver := slices.ContainsFunc(s.Approvers, func(m string) bool { return !slices.Contains(a.GetApprovers(), m) })
			for _, m := range added {
				if handedOver || slices.ContainsFunc(s.Approvers, func(r string) bool { return manages(snap, m, r) }) {
					members = append(members, m)
				}
			}
			n := need{members: members, quorum: s.Quorum}
			if s.All {
				n.every = s.Approvers
				n.standIn = func(member string) []string {
					if !slices.Contains(a.GetApprovers(), member) {
						// Handed over (a delegate stands in), or joined the group after the
						// stage opened (never asked; nobody needs to stand in).
						return added
					}
					return slices.DeleteFunc(slices.Clone(added), func(x string) bool { return !manages(snap, x, member) })
				}
			}
			needs = append(needs, n)
		}
	} else {
		for _, s := range a.GetSteps() {
			if s.GetStage() == a.GetCurrentStage() {
				n := need{members: a.GetApprovers(), quorum: max(int(s.GetQuorum()), 1)}
				if s.GetAll() {
					// The directory no longer routes the stage: everyone recorded approves.
					n.quorum = len(a.GetApprovers())
				}
				needs = append(needs, n)
			}
		}
	}
	for _, n := range needs {
		if n.every != nil {
			for _, m := range n.every {
				covered := approved[m] && slices.Contains(a.GetApprovers(), m)
				stand := n.standIn(m)
				if !covered && !slices.Contains(a.GetApprovers(), m) && len(stand) == 0 {
					covered = true // joined after the stage opened: never asked
				}
				for _, x := range stand {
					covered = covered || approved[x]
				}
				if !covered {
					return false
				}
			}
			continue
		}
		count := 0
		for _, m := range n.members {
			if approved[m] && slices.Contains(a.GetApprovers(), m) {
				count++
			}
		}
		if count < n.quorum {
			return false
		}
	}
	return len(needs) > 0
}

// manages reports whether boss is report's manager, or higher up the chain.
func manages(snap *directory.Snapshot, boss, report string) bool {
	seen := map[string]bool{}
	for m := Normalize(managerOf(snap, report)); m != "" && !seen[m]; m = Normalize(managerOf(snap, m)) {
		if m == boss {
			return true
		}
		seen[m] = true
	}
	return false
}

// CanDecide reports whether who may decide a now: pending, listed for the current stage,
// not a party to the request, and not yet voted in this stage.
func CanDecide(a *igav1.Approval, who string) bool {
	who = Normalize(who)
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING || PartiesOfApproval(a).excludes(who) ||
		!slices.Contains(a.GetApprovers(), who) {
		return false
	}
	for _, v := range a.GetVotes() {
		if v.GetStage() == a.GetCurrentStage() && Normalize(v.GetApproverEmail()) == who {
			return false
		}
	}
	return true
}

// StatusWord is "pending", "approved", "denied" or "expired".
func StatusWord(s igav1.ApprovalStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "APPROVAL_STATUS_"))
}

func verb(approved bool) string {
	if approved {
		return "approved"
	}
	return "denied"
}

func names(snap *directory.Snapshot, emails []string) []string {
	out := make([]string, len(emails))
	for i, e := range emails {
		out[i] = NameOf(snap, e)
	}
	return out
}

// StageOpenedAt is when the current stage started waiting: the approval's creation for the
// first stage, the last vote of the stage before for later ones.
func StageOpenedAt(a *igav1.Approval) time.Time {
	at := a.GetCreatedAt().AsTime()
	for _, v := range a.GetVotes() {
		if v.GetStage() < a.GetCurrentStage() && v.GetDecidedAt().AsTime().After(at) {
			at = v.GetDecidedAt().AsTime()
		}
	}
	return at
}

// Escalated reports whether approvers differ from what the directory routes for the
// current stage (an escalation or a delegation changed them).
func Escalated(snap *directory.Snapshot, a *igav1.Approval) bool {
	st, err := RouteStage(snap, PartiesOfApproval(a), a.GetSteps(), a.GetCurrentStage())
	if err != nil {
		return true
	}
	routed := st.Approvers()
	if len(routed) != len(a.GetApprovers()) {
		return true
	}
	for _, m := range a.GetApprovers() {
		if !slices.Contains(routed, m) {
			return true
		}
	}
	return false
}

// EscalationOf is who a stage escalates to from approvers: their eligible managers who
// are not approvers already, sorted.
func EscalationOf(snap *directory.Snapshot, a *igav1.Approval, approvers []string) []string {
	p := PartiesOfApproval(a)
	var out []string
	for _, who := range approvers {
		mgr := Normalize(managerOf(snap, who))
		if mgr == "" || ineligible(snap, p, mgr) != "" || slices.Contains(out, mgr) || slices.Contains(approvers, mgr) {
			continue
		}
		out = append(out, mgr)
	}
	slices.Sort(out)
	return out
}

// Escalate adds the managers of from (the approvers a timeout was set for) to the pending
// approval's approvers and returns who was added. Applying it twice adds nobody the
// second time.
func Escalate(snap *directory.Snapshot, a *igav1.Approval, from []string) []string {
	var added []string
	for _, m := range EscalationOf(snap, a, from) {
		if !slices.Contains(a.GetApprovers(), m) {
			a.Approvers = append(a.Approvers, m)
			added = append(added, m)
		}
	}
	slices.Sort(a.Approvers)
	return added
}

// Delegate hands approver's part of the current stage to delegate. Only a current approver
// who has not decided yet may delegate, and only to an active person in the directory who
// is not a party to the request nor an approver already.
func Delegate(snap *directory.Snapshot, a *igav1.Approval, approver, delegate string) error {
	who, to := Normalize(approver), Normalize(delegate)
	if who == "" {
		return fmt.Errorf("%w: say who delegates (an approver email)", ErrNoIdentity)
	}
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING {
		return fmt.Errorf("%w: approval %s is already %s", ErrAlreadyDecided, a.GetId(), StatusWord(a.GetStatus()))
	}
	if !slices.Contains(a.GetApprovers(), who) {
		return fmt.Errorf("%w: %s is not an approver of stage %d of approval %s", ErrNotApprover, who, a.GetCurrentStage(), a.GetId())
	}
	for _, v := range a.GetVotes() {
		if v.GetStage() == a.GetCurrentStage() && Normalize(v.GetApproverEmail()) == who {
			return fmt.Errorf("%w: %s already %s stage %d", ErrAlreadyVoted, who, verb(v.GetApproved()), a.GetCurrentStage())
		}
	}
	if to == "" {
		return fmt.Errorf("%w: say who to delegate to", ErrBadDelegate)
	}
	if why := ineligible(snap, PartiesOfApproval(a), to); why != "" {
		return fmt.Errorf("%w: %s %s", ErrBadDelegate, NameOf(snap, to), why)
	}
	if slices.Contains(a.GetApprovers(), to) {
		return fmt.Errorf("%w: %s is already an approver of this stage", ErrBadDelegate, NameOf(snap, to))
	}
	a.Approvers = slices.DeleteFunc(a.Approvers, func(m string) bool { return m == who })
	a.Approvers = append(a.Approvers, to)
	slices.Sort(a.Approvers)
	return nil
}
