package approval_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/approval/approval"
)

// waitApproval polls the approval until cond holds.
func (h *harness) waitApproval(t *testing.T, id, what string, cond func(*igav1.Approval) bool) *igav1.Approval {
	t.Helper()
	var a *igav1.Approval
	eventually(t, what, func() bool {
		got, _, err := h.apprStore.Get(ctxT(t), id)
		a = got
		return err == nil && cond(got)
	})
	return a
}

func TestUndecidedStageIsRemindedEscalatedThenExpired(t *testing.T) {
	h := newHarness(t, approval.Config{PolicyTimeout: 5 * time.Second, StageTimeout: 3 * time.Second, ReminderAfter: time.Second, Escalations: 1})
	h.submit(t, newRequest("r-slow", dana, dana, "snowflake:analyst"), "submitted-r-slow")

	var reminded igav1.ApprovalRequested
	m := h.last(t, bus.StreamEvents, approval.SubjectApprovalReminded, &reminded)
	if m.ID != "approval-reminded-r-slow-1-0" || !slices.Equal(reminded.GetApproval().GetApprovers(), []string{marco}) {
		t.Errorf("reminder = %v (%s)", reminded.GetApproval(), m.ID)
	}

	a := h.waitApproval(t, "r-slow", "escalation to Marco's manager", func(a *igav1.Approval) bool { return len(a.GetApprovers()) == 2 })
	if !slices.Equal(a.GetApprovers(), []string{marco, olivia}) || a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING {
		t.Fatalf("escalated approval = %v", a)
	}
	eventually(t, "the escalation event", func() bool { return h.count(t, bus.StreamEvents, approval.SubjectApprovalRequested) == 2 })
	var requested igav1.ApprovalRequested
	m = h.last(t, bus.StreamEvents, approval.SubjectApprovalRequested, &requested)
	if m.ID != "approval-requested-r-slow-1-e1" {
		t.Errorf("escalation event id = %q", m.ID)
	}

	a = h.waitApproval(t, "r-slow", "expiry", func(a *igav1.Approval) bool {
		return a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING
	})
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED || !strings.Contains(a.GetReason(), "nobody decided stage 1 within 3s") {
		t.Fatalf("expired approval = %v", a)
	}
	// The record is durable before its events are published: wait for them.
	eventually(t, "the denial event", func() bool { return h.count(t, bus.StreamEvents, approval.SubjectRequestDenied) == 1 })
	var denied igav1.RequestDenied
	h.last(t, bus.StreamEvents, approval.SubjectRequestDenied, &denied)
	if denied.GetRequestId() != "r-slow" || denied.GetBy() != "approval" {
		t.Errorf("denied = %v", &denied)
	}
	eventually(t, "the expiry reply", func() bool { return h.count(t, bus.StreamReplies, replySubject("r-slow")) >= 3 })
	var reply igav1.Reply
	h.last(t, bus.StreamReplies, replySubject("r-slow"), &reply)
	if !strings.HasPrefix(reply.GetText(), "Your request for Snowflake analyst was not approved. Expired:") {
		t.Errorf("final reply = %q", reply.GetText())
	}
	if n := h.count(t, bus.StreamReplies, replySubject("r-slow")); n != 3 {
		t.Errorf("%d replies, want waiting, escalated, expired", n)
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 0 {
		t.Errorf("%d grant commands for an expired approval", n)
	}
	if _, err := h.decide(t, "r-slow", marco, true); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("approving an expired approval: %v", err)
	}
}

func TestEscalatedManagerMayApprove(t *testing.T) {
	h := newHarness(t, approval.Config{PolicyTimeout: 5 * time.Second, StageTimeout: 2 * time.Second, ReminderAfter: -1, Escalations: 1})
	h.submit(t, newRequest("r-esc", dana, dana, "snowflake:analyst"), "submitted-r-esc")
	h.waitApproval(t, "r-esc", "escalation", func(a *igav1.Approval) bool { return slices.Contains(a.GetApprovers(), olivia) })
	eventually(t, "the escalation reply", func() bool { return h.count(t, bus.StreamReplies, replySubject("r-esc")) == 2 })
	var reply igav1.Reply
	h.last(t, bus.StreamReplies, replySubject("r-esc"), &reply)
	if reply.GetText() != "No decision from Marco Bianchi within 2s, so your request is escalated to Olivia Chen." {
		t.Errorf("reply = %q", reply.GetText())
	}
	// The escalated level has its own timer.
	eventually(t, "the escalated timer", func() bool {
		var timer igav1.ApprovalTimer
		h.last(t, bus.StreamSchedules, approval.ScheduleSubject("r-esc"), &timer)
		return timer.GetEscalation() == 1 && slices.Equal(timer.GetApprovers(), []string{marco, olivia})
	})
	a, err := h.decide(t, "r-esc", olivia, true)
	if err != nil || a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED {
		t.Fatalf("olivia approves: %v, %v", a, err)
	}
	var cmd igav1.ProvisionGrant
	h.last(t, bus.StreamCommands, approval.SubjectProvisionGrant, &cmd)
	if cmd.GetRequestId() != "r-esc" {
		t.Errorf("grant command = %v", &cmd)
	}
	if n := h.count(t, bus.StreamSchedules, approval.ScheduleSubject("r-esc")); n != 0 {
		t.Errorf("%d timers still pending after the decision", n)
	}
}

func TestDecisionCancelsTheTimer(t *testing.T) {
	h := newHarness(t)
	h.submit(t, newRequest("r-fast", dana, dana, "snowflake:analyst"), "submitted-r-fast")
	h.approval(t, "r-fast")
	h.idle(t)
	var timer igav1.ApprovalTimer
	h.last(t, bus.StreamSchedules, approval.ScheduleSubject("r-fast"), &timer)
	if timer.GetKind() != igav1.ApprovalTimerKind_APPROVAL_TIMER_KIND_REMINDER || timer.GetStage() != 1 ||
		!slices.Equal(timer.GetApprovers(), []string{marco}) {
		t.Errorf("timer = %v", &timer)
	}
	if d := timer.GetDeadline().AsTime().Sub(time.Now()); d < 71*time.Hour || d > 72*time.Hour {
		t.Errorf("deadline in %s, want the 72h default", d)
	}
	if _, err := h.decide(t, "r-fast", marco, false); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, bus.StreamSchedules, approval.ScheduleSubject("r-fast")); n != 0 {
		t.Errorf("%d timers pending after the decision", n)
	}
}

func TestDelegation(t *testing.T) {
	h := newHarness(t)
	ctx := ctxT(t)
	h.submit(t, newRequest("r-del", dana, dana, "snowflake:analyst"), "submitted-r-del")
	h.approval(t, "r-del")
	h.idle(t)

	for _, tc := range []struct {
		from, to string
		code     codes.Code
	}{
		{lee, olivia, codes.PermissionDenied}, // not an approver
		{marco, dana, codes.InvalidArgument},  // the requester
		{marco, "ghost@acme.example", codes.InvalidArgument},
		{marco, marco, codes.InvalidArgument}, // already an approver
	} {
		_, err := h.delegation.Delegate(ctx, &igav1.DelegateRequest{ApprovalId: "r-del", ApproverEmail: tc.from, DelegateEmail: tc.to})
		if status.Code(err) != tc.code {
			t.Errorf("%s -> %s: %v, want %v", tc.from, tc.to, err, tc.code)
		}
	}
	resp, err := h.delegation.Delegate(ctx, &igav1.DelegateRequest{ApprovalId: "r-del", ApproverEmail: marco, DelegateEmail: olivia, Reason: "on holiday"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.GetApproval().GetApprovers(), []string{olivia}) {
		t.Fatalf("approvers = %v", resp.GetApproval().GetApprovers())
	}
	var reply igav1.Reply
	h.last(t, bus.StreamReplies, replySubject("r-del"), &reply)
	if reply.GetText() != "Marco Bianchi handed the approval of your request to Olivia Chen." {
		t.Errorf("reply = %q", reply.GetText())
	}
	var timer igav1.ApprovalTimer
	h.last(t, bus.StreamSchedules, approval.ScheduleSubject("r-del"), &timer)
	if !slices.Equal(timer.GetApprovers(), []string{olivia}) {
		t.Errorf("timer approvers = %v, want the delegate", timer.GetApprovers())
	}
	if _, err := h.decide(t, "r-del", marco, true); status.Code(err) != codes.PermissionDenied {
		t.Errorf("the delegator decides: %v", err)
	}
	a, err := h.decide(t, "r-del", olivia, true)
	if err != nil || a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED {
		t.Fatalf("delegate approves: %v, %v", a, err)
	}
	var cmd igav1.ProvisionGrant
	h.last(t, bus.StreamCommands, approval.SubjectProvisionGrant, &cmd)
}
