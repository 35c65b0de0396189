package approval_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/approval/approval"
)

// emergency is an on-call engineer's break-glass request.
func emergency(id, who, ent string) *igav1.AccessRequest {
	r := newRequest(id, who, who, ent)
	r.Emergency, r.Justification, r.TicketRef = true, "SEV1 payments outage, rotating credentials", "INC-3001"
	return r
}

// grantActive records the request's grant as the provisioner would and announces it.
func (h *harness) grantActive(t *testing.T, requestID string) *igav1.Grant {
	t.Helper()
	g := &igav1.Grant{Id: approval.GrantID(requestID), RequestId: requestID, PersonEmail: sam, EntitlementId: "vault:root",
		Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE, GrantedAt: timestamppb.Now(), Generation: 1}
	if _, err := h.grants.Put(ctxT(t), g.GetId(), g); err != nil {
		t.Fatal(err)
	}
	if _, err := h.bus.Publish(ctxT(t), approval.SubjectGrantActive, &igav1.GrantChanged{Grant: g},
		bus.WithID("grant-active-"+g.GetId()), bus.WithRequestID(requestID)); err != nil {
		t.Fatal(err)
	}
	return g
}

// replies returns the texts said in the request's conversation, oldest first.
func (h *harness) replies(t *testing.T, id string) []string {
	t.Helper()
	ctx := ctxT(t)
	s, err := h.bus.JetStream().Stream(ctx, bus.StreamReplies)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil || m.Subject != replySubject(id) {
			continue
		}
		var r igav1.Reply
		if err := bus.Decode(m.Header, m.Data, &r); err == nil {
			out = append(out, r.GetText())
		}
	}
	return out
}

func TestBreakGlassIsGrantedAtOnceAndReviewedAfter(t *testing.T) {
	h := newHarness(t)
	ctx := ctxT(t)
	h.submit(t, emergency("r-bg", sam, "vault:root"), "submitted-r-bg")

	// The grant is commanded straight away: an emergency does not wait for its review.
	var cmd igav1.ProvisionGrant
	if m := h.last(t, bus.StreamCommands, approval.SubjectProvisionGrant, &cmd); cmd.GetRequestId() != "r-bg" || m.ID != "grant-cmd-r-bg" {
		t.Fatalf("grant command %v (%s)", &cmd, m.ID)
	}
	// The review is an approval record marked as a review, routed to security.
	a := h.approval(t, "r-bg")
	if !approval.IsReview(a) || a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING ||
		!slices.Equal(a.GetApprovers(), []string{kai, lee}) || a.GetSteps()[0].GetKind() != igav1.ApproverKind_APPROVER_KIND_SECURITY {
		t.Fatalf("review = %v", a)
	}
	// Loud: its own event, with the request and the decision, and CloudEvents headers.
	var asked igav1.BreakGlassReviewRequested
	m := h.last(t, bus.StreamEvents, approval.SubjectReviewRequested, &asked)
	if m.ID != "review-requested-r-bg-1" || m.Type != "iga.approval.review.requested" || m.RequestID != "r-bg" ||
		asked.GetRequest().GetTicketRef() != "INC-3001" || !approval.IsBreakGlass(asked.GetDecision()) || !approval.IsReview(asked.GetReview()) {
		t.Errorf("review.requested = %v (%+v)", &asked, m)
	}
	if n := h.count(t, bus.StreamEvents, approval.SubjectApprovalRequested); n != 0 {
		t.Errorf("%d approval.requested events: a review must not look like an approval that gates a grant", n)
	}
	eventually(t, "two notices to the requester", func() bool { return len(h.replies(t, "r-bg")) == 2 })
	told := h.replies(t, "r-bg")
	if !strings.Contains(told[0], "Allowed as an emergency") || !strings.Contains(told[0], "Provisioning now") ||
		told[1] != "Your emergency access will be reviewed after the fact by any of Kai Tanaka, Lee Kim (security); if they reject it, it is revoked at once." {
		t.Errorf("notices = %q", told)
	}
	// Reviewers see it among what they may decide; the requester does not.
	for who, want := range map[string]bool{lee: true, kai: true, sam: false, priya: false} {
		list, err := h.approvals.ListApprovals(ctx, &igav1.ListApprovalsRequest{ApproverEmail: who,
			Statuses: []igav1.ApprovalStatus{igav1.ApprovalStatus_APPROVAL_STATUS_PENDING}})
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.ContainsFunc(list.GetApprovals(), func(a *igav1.Approval) bool { return a.GetId() == "r-bg" }); got != want {
			t.Errorf("%s sees the review: %v, want %v", who, got, want)
		}
	}
	// The request reads as approved (granting), not as waiting for approval.
	v, err := h.requests.GetRequest(ctx, &igav1.GetRequestRequest{RequestId: "r-bg"})
	if err != nil || v.GetRequest().GetStatus() != igav1.RequestStatus_REQUEST_STATUS_APPROVED {
		t.Errorf("request view %v, %v", v.GetRequest().GetStatus(), err)
	}
	// Reminders and timeouts run like any approval's.
	var timer igav1.ApprovalTimer
	h.last(t, bus.StreamSchedules, approval.ScheduleSubject("r-bg"), &timer)
	if timer.GetStage() != 1 || !slices.Equal(timer.GetApprovers(), []string{kai, lee}) {
		t.Errorf("review timer = %v", &timer)
	}
}

func TestRequesterCannotReviewTheirOwnEmergency(t *testing.T) {
	h := newHarness(t)
	// Lee is in security, and is the one who took the emergency access.
	h.submit(t, emergency("r-own", lee, "vault:root"), "submitted-r-own")
	a := h.approval(t, "r-own")
	if !slices.Equal(a.GetApprovers(), []string{kai}) {
		t.Fatalf("reviewers %v, want only Kai", a.GetApprovers())
	}
	for _, approve := range []bool{true, false} {
		if _, err := h.decide(t, "r-own", lee, approve); status.Code(err) != codes.PermissionDenied {
			t.Errorf("Lee deciding their own emergency (approve %v): %v, want PermissionDenied", approve, err)
		}
	}
	if a := h.approval(t, "r-own"); a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING || len(a.GetVotes()) != 0 {
		t.Errorf("review after self-review attempts = %v", a)
	}
}

func TestRejectedReviewRevokesTheGrant(t *testing.T) {
	h := newHarness(t)
	h.submit(t, emergency("r-rej", sam, "vault:root"), "submitted-r-rej")
	h.approval(t, "r-rej")
	h.grantActive(t, "r-rej")

	resp, err := h.approvals.Decide(ctxT(t), &igav1.DecideRequest{ApprovalId: "r-rej", ApproverEmail: lee, Reason: "no incident on record"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetApproval().GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_DENIED {
		t.Fatalf("review after rejection = %v", resp.GetApproval())
	}
	var revoke igav1.ProvisionRevoke
	m := h.last(t, bus.StreamCommands, approval.SubjectProvisionRevoke, &revoke)
	if revoke.GetGrantId() != "g-r-rej" || revoke.GetReason() != "break-glass review rejected by Lee Kim: no incident on record" ||
		revoke.GetGeneration() != 0 || m.ID != "review-revoke-g-r-rej" {
		t.Errorf("revoke = %v (%s)", &revoke, m.ID)
	}
	var decided igav1.BreakGlassReviewDecided
	m = h.last(t, bus.StreamEvents, approval.SubjectReviewDecided, &decided)
	if !decided.GetRevokeCommanded() || decided.GetGrantId() != "g-r-rej" || m.Type != "iga.approval.review.decided" ||
		decided.GetReview().GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_DENIED {
		t.Errorf("review.decided = %v", &decided)
	}
	if n := h.count(t, bus.StreamEvents, approval.SubjectRequestDenied); n != 0 {
		t.Errorf("%d request.denied events: the request was granted, then revoked", n)
	}
	eventually(t, "the rejection notice", func() bool { return len(h.replies(t, "r-rej")) == 3 })
	if got := h.replies(t, "r-rej")[2]; got != "Your emergency access to Vault root was rejected in its after-the-fact review. Denied by Lee Kim: no incident on record. It is being revoked now." {
		t.Errorf("rejection notice = %q", got)
	}
	// A retried call changes nothing and commands nothing new; the other reviewer is too late.
	if _, err := h.approvals.Decide(ctxT(t), &igav1.DecideRequest{ApprovalId: "r-rej", ApproverEmail: lee, Reason: "no incident on record"}); err != nil {
		t.Fatalf("retried rejection: %v", err)
	}
	if _, err := h.decide(t, "r-rej", kai, true); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("confirming a rejected review: %v", err)
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionRevoke); n != 1 {
		t.Errorf("%d revoke commands, want 1", n)
	}
}

func TestConfirmedReviewClosesWithoutTouchingTheGrant(t *testing.T) {
	h := newHarness(t)
	// Policy wants security and the manager to review this one.
	h.submit(t, emergency("r-ok", sam, "vault:break-glass"), "submitted-r-ok")
	a := h.approval(t, "r-ok")
	if !slices.Equal(a.GetApprovers(), []string{kai, lee, priya}) {
		t.Fatalf("reviewers %v, want security and Sam's manager", a.GetApprovers())
	}
	h.grantActive(t, "r-ok")
	if a, err := h.decide(t, "r-ok", lee, true); err != nil || a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING {
		t.Fatalf("security's confirmation: %v, %v (the manager must confirm too)", a, err)
	}
	a, err := h.decide(t, "r-ok", priya, true)
	if err != nil || a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED {
		t.Fatalf("manager's confirmation: %v, %v", a, err)
	}
	var decided igav1.BreakGlassReviewDecided
	h.last(t, bus.StreamEvents, approval.SubjectReviewDecided, &decided)
	if decided.GetRevokeCommanded() || decided.GetReview().GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED {
		t.Errorf("review.decided = %v", &decided)
	}
	eventually(t, "the confirmation notice", func() bool {
		told := h.replies(t, "r-ok")
		return len(told) > 0 && strings.HasPrefix(told[len(told)-1], "The review of your emergency access")
	})
	told := h.replies(t, "r-ok")
	if got := told[len(told)-1]; got != "The review of your emergency access to Vault break-glass is closed: confirmed by Lee Kim and Priya Nair." {
		t.Errorf("confirmation notice = %q", got)
	}
	h.idle(t)
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionRevoke); n != 0 {
		t.Errorf("%d revoke commands for a confirmed review", n)
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 1 {
		t.Errorf("%d grant commands, want the one at once", n)
	}
}

// A reviewer may reject before the provisioner has recorded the grant: the grant is
// revoked as soon as it becomes active.
func TestRejectionBeforeTheGrantIsRecordedRevokesItOnArrival(t *testing.T) {
	h := newHarness(t)
	h.submit(t, emergency("r-early", sam, "vault:root"), "submitted-r-early")
	h.approval(t, "r-early")
	if _, err := h.decide(t, "r-early", kai, false); err != nil {
		t.Fatal(err)
	}
	var decided igav1.BreakGlassReviewDecided
	h.last(t, bus.StreamEvents, approval.SubjectReviewDecided, &decided)
	if decided.GetRevokeCommanded() {
		t.Errorf("revoke commanded for a grant the ledger does not hold yet")
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionRevoke); n != 0 {
		t.Fatalf("%d revoke commands before the grant exists (the provisioner would dead-letter them)", n)
	}
	h.grantActive(t, "r-early")
	var revoke igav1.ProvisionRevoke
	h.last(t, bus.StreamCommands, approval.SubjectProvisionRevoke, &revoke)
	if revoke.GetGrantId() != "g-r-early" || !strings.HasPrefix(revoke.GetReason(), "break-glass review rejected by Kai Tanaka") {
		t.Errorf("revoke = %v", &revoke)
	}
}

func TestEmergencyNobodyMayReviewIsDenied(t *testing.T) {
	h := newHarness(t)
	h.submit(t, emergency("r-nobody", sam, "vault:unreviewable"), "submitted-r-nobody")
	var denied igav1.RequestDenied
	h.last(t, bus.StreamEvents, approval.SubjectRequestDenied, &denied)
	if denied.GetRequestId() != "r-nobody" || !strings.Contains(denied.GetReason(), "no one may review this emergency access") {
		t.Errorf("denied = %v", &denied)
	}
	h.idle(t)
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 0 {
		t.Errorf("%d grant commands for an emergency nobody may review", n)
	}
	v, err := h.requests.GetRequest(ctxT(t), &igav1.GetRequestRequest{RequestId: "r-nobody"})
	if err != nil || v.GetRequest().GetStatus() != igav1.RequestStatus_REQUEST_STATUS_DENIED {
		t.Errorf("request view %v, %v", v.GetRequest().GetStatus(), err)
	}
}

func TestRedeliveredEmergencyOpensOneReview(t *testing.T) {
	h := newHarness(t)
	req := emergency("r-twice", sam, "vault:root")
	h.submit(t, req, "first-r-twice")
	h.idle(t)
	h.submit(t, req, "second-r-twice")
	h.idle(t)
	for subject, want := range map[string]uint64{approval.SubjectReviewRequested: 1} {
		if n := h.count(t, bus.StreamEvents, subject); n != want {
			t.Errorf("%d events on %s, want %d", n, subject, want)
		}
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 1 {
		t.Errorf("%d grant commands, want 1", n)
	}
	if n := len(h.replies(t, "r-twice")); n != 2 {
		t.Errorf("%d notices, want 2", n)
	}
	// A redelivery after the review was rejected commands no grant again.
	if _, err := h.decide(t, "r-twice", lee, false); err != nil {
		t.Fatal(err)
	}
	h.submit(t, req, "third-r-twice")
	h.idle(t)
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 1 {
		t.Errorf("%d grant commands after a rejection and a redelivery, want 1", n)
	}
}

func TestUnreviewedEmergencyIsRemindedThenRevoked(t *testing.T) {
	h := newHarness(t, approval.Config{PolicyTimeout: 5 * time.Second, StageTimeout: 3 * time.Second, ReminderAfter: time.Second, Escalations: -1})
	h.submit(t, emergency("r-idle", sam, "vault:root"), "submitted-r-idle")
	h.approval(t, "r-idle")
	h.grantActive(t, "r-idle")

	var reminded igav1.BreakGlassReviewRequested
	if m := h.last(t, bus.StreamEvents, approval.SubjectReviewReminded, &reminded); m.ID != "review-reminded-r-idle-1-0" ||
		!slices.Equal(reminded.GetReview().GetApprovers(), []string{kai, lee}) {
		t.Errorf("reminder = %v (%s)", &reminded, m.ID)
	}
	if n := h.count(t, bus.StreamEvents, approval.SubjectApprovalReminded); n != 0 {
		t.Errorf("%d approval reminders for a review", n)
	}
	a := h.waitApproval(t, "r-idle", "the review to expire", func(a *igav1.Approval) bool {
		return a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING
	})
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED || !strings.Contains(a.GetReason(), "nobody reviewed stage 1 within 3s") {
		t.Fatalf("expired review = %v", a)
	}
	var revoke igav1.ProvisionRevoke
	h.last(t, bus.StreamCommands, approval.SubjectProvisionRevoke, &revoke)
	if revoke.GetGrantId() != "g-r-idle" || revoke.GetReason() != "break-glass review expired unreviewed" {
		t.Errorf("revoke = %v", &revoke)
	}
	var decided igav1.BreakGlassReviewDecided
	h.last(t, bus.StreamEvents, approval.SubjectReviewDecided, &decided)
	if !decided.GetRevokeCommanded() || decided.GetReview().GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED {
		t.Errorf("review.decided = %v", &decided)
	}
}

func TestRepairRevokesTheGrantOfARejectedReview(t *testing.T) {
	h := newHarness(t)
	ctx := ctxT(t)
	// Written before a crash: the rejection is recorded, its revoke never went out.
	rejected := &igav1.Approval{Id: "r-crash", RequestId: "r-crash", RequesterEmail: sam, BeneficiaryEmail: sam, EntitlementId: "vault:root",
		Kind: igav1.ApprovalKind_APPROVAL_KIND_BREAK_GLASS_REVIEW, Status: igav1.ApprovalStatus_APPROVAL_STATUS_DENIED, CurrentStage: 1,
		Votes: []*igav1.ApprovalVote{{ApproverEmail: lee, Reason: "not on call", Stage: 1}}, Reason: "Denied by Lee Kim: not on call"}
	// Refused when it opened: never granted, nothing to revoke.
	refused := &igav1.Approval{Id: "r-refused", RequestId: "r-refused", Kind: igav1.ApprovalKind_APPROVAL_KIND_BREAK_GLASS_REVIEW,
		Status: igav1.ApprovalStatus_APPROVAL_STATUS_DENIED}
	for _, a := range []*igav1.Approval{rejected, refused} {
		if _, err := h.apprStore.Create(ctx, a.GetId(), a); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"r-crash", "r-refused"} {
		if _, err := h.grants.Put(ctx, approval.GrantID(id), &igav1.Grant{Id: approval.GrantID(id), RequestId: id,
			Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := h.svc.Repair(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var revoke igav1.ProvisionRevoke
	h.last(t, bus.StreamCommands, approval.SubjectProvisionRevoke, &revoke)
	if revoke.GetGrantId() != "g-r-crash" || revoke.GetReason() != "break-glass review rejected by Lee Kim: not on call" {
		t.Errorf("revoke = %v", &revoke)
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionRevoke); n != 1 {
		t.Errorf("%d revoke commands, want 1", n)
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 0 {
		t.Errorf("%d grant commands from repairing reviews", n)
	}
}

func TestStatusOfAReviewedRequest(t *testing.T) {
	allow := &igav1.PolicyDecision{Effect: igav1.Effect_EFFECT_ALLOW, MatchedRules: []*igav1.RuleMatch{{RuleId: "break-glass"}}}
	review := func(s igav1.ApprovalStatus) *igav1.Approval {
		return &igav1.Approval{Kind: igav1.ApprovalKind_APPROVAL_KIND_BREAK_GLASS_REVIEW, Status: s}
	}
	tests := []struct {
		a    *igav1.Approval
		g    *igav1.Grant
		want igav1.RequestStatus
	}{
		{review(igav1.ApprovalStatus_APPROVAL_STATUS_PENDING), nil, igav1.RequestStatus_REQUEST_STATUS_APPROVED},
		{review(igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED), nil, igav1.RequestStatus_REQUEST_STATUS_APPROVED},
		{review(igav1.ApprovalStatus_APPROVAL_STATUS_DENIED), nil, igav1.RequestStatus_REQUEST_STATUS_DENIED},
		{review(igav1.ApprovalStatus_APPROVAL_STATUS_PENDING), &igav1.Grant{Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE}, igav1.RequestStatus_REQUEST_STATUS_ACTIVE},
		{review(igav1.ApprovalStatus_APPROVAL_STATUS_DENIED), &igav1.Grant{Status: igav1.GrantStatus_GRANT_STATUS_REVOKED}, igav1.RequestStatus_REQUEST_STATUS_REVOKED},
	}
	for _, tc := range tests {
		if got := approval.Status(allow, tc.a, tc.g); got != tc.want {
			t.Errorf("Status(review %v, grant %v) = %v, want %v", tc.a.GetStatus(), tc.g.GetStatus(), got, tc.want)
		}
	}
}

func TestDelegatedReviewAsksTheDelegateAsAReview(t *testing.T) {
	h := newHarness(t)
	h.submit(t, emergency("r-hand", sam, "vault:root"), "submitted-r-hand")
	h.approval(t, "r-hand")
	resp, err := h.delegation.Delegate(ctxT(t), &igav1.DelegateRequest{ApprovalId: "r-hand", ApproverEmail: lee, DelegateEmail: ivy, Reason: "on leave"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.GetApproval().GetApprovers(), []string{ivy, kai}) {
		t.Fatalf("reviewers after delegation = %v", resp.GetApproval().GetApprovers())
	}
	eventually(t, "the delegate asked", func() bool { return h.count(t, bus.StreamEvents, approval.SubjectReviewRequested) == 2 })
	var asked igav1.BreakGlassReviewRequested
	h.last(t, bus.StreamEvents, approval.SubjectReviewRequested, &asked)
	if !slices.Contains(asked.GetReview().GetApprovers(), ivy) || asked.GetRequest().GetId() != "r-hand" {
		t.Errorf("review.requested after delegation = %v", &asked)
	}
	if n := h.count(t, bus.StreamEvents, approval.SubjectApprovalRequested); n != 0 {
		t.Errorf("%d approval.requested events for a review", n)
	}
	told := h.replies(t, "r-hand")
	if got := told[len(told)-1]; got != "Lee Kim handed the review of your emergency access to Ivy Owens." {
		t.Errorf("notice = %q", got)
	}
}
