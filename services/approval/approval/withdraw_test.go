package approval_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/approval/approval"
)

func (h *harness) withdraw(t *testing.T, id, who string) (*igav1.RequestView, error) {
	t.Helper()
	resp, err := h.requests.WithdrawRequest(ctxT(t), &igav1.WithdrawRequestRequest{RequestId: id, RequesterEmail: who, Reason: "found another way"})
	return resp.GetRequest(), err
}

// A request waiting for approval is withdrawn by its requester: approvers are no longer
// asked, nobody can approve it afterwards, and it is announced; doing it again changes
// nothing. Anyone else is refused.
func TestRequesterWithdrawsAPendingRequest(t *testing.T) {
	h := newHarness(t)
	ctx := ctxT(t)
	h.submit(t, newRequest("r-wd", dana, dana, "snowflake:analyst"), "submitted-r-wd")
	h.approval(t, "r-wd")

	if _, err := h.withdraw(t, "r-wd", marco); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "only the person who asked") {
		t.Fatalf("the approver withdrawing it: %v", err)
	}
	v, err := h.withdraw(t, "r-wd", "Dana.Reyes@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	if v.GetStatus() != igav1.RequestStatus_REQUEST_STATUS_WITHDRAWN || v.GetApproval().GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_WITHDRAWN {
		t.Fatalf("view after withdrawing = %v", v)
	}
	var ev igav1.RequestWithdrawn
	m := h.last(t, bus.StreamEvents, approval.SubjectRequestWithdrawn, &ev)
	if ev.GetRequestId() != "r-wd" || ev.GetBy() != dana || ev.GetReason() != "found another way" || m.ID != "request-withdrawn-r-wd" {
		t.Fatalf("withdrawn event = %v (id %s)", &ev, m.ID)
	}
	var reply igav1.Reply
	h.last(t, bus.StreamReplies, replySubject("r-wd"), &reply)
	if !strings.HasPrefix(reply.GetText(), "Withdrawn: your request for") {
		t.Fatalf("notice = %q", reply.GetText())
	}
	// The approver can no longer approve it, and it leaves their list.
	if _, err := h.decide(t, "r-wd", marco, true); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("approving a withdrawn request: %v", err)
	}
	list, err := h.approvals.ListApprovals(ctx, &igav1.ListApprovalsRequest{ApproverEmail: marco})
	if err != nil || len(list.GetApprovals()) != 0 {
		t.Fatalf("marco still may decide %v, %v", list, err)
	}
	// Again: the same answer, no second event.
	if v, err := h.withdraw(t, "r-wd", dana); err != nil || v.GetStatus() != igav1.RequestStatus_REQUEST_STATUS_WITHDRAWN {
		t.Fatalf("withdrawing again: %v %v", v, err)
	}
	if n := h.count(t, bus.StreamEvents, approval.SubjectRequestWithdrawn); n != 1 {
		t.Fatalf("%d withdrawn events, want 1", n)
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 0 {
		t.Fatalf("a withdrawn request was commanded: %d grant commands", n)
	}
}

// What can no longer be withdrawn says what to do instead; bad calls get clear answers.
func TestWithdrawRefusals(t *testing.T) {
	h := newHarness(t)
	h.submit(t, newRequest("r-wd-ok", dana, dana, "snowflake:analyst"), "submitted-r-wd-ok")
	h.approval(t, "r-wd-ok")
	if _, err := h.decide(t, "r-wd-ok", marco, true); err != nil {
		t.Fatal(err)
	}
	h.submit(t, newRequest("r-wd-auto", dana, dana, "grafana:payments-viewer"), "submitted-r-wd-auto")
	h.last(t, bus.StreamCommands, approval.SubjectProvisionGrant, &igav1.ProvisionGrant{})
	h.idle(t)
	for _, tc := range []struct {
		id, who string
		code    codes.Code
		says    string
	}{
		{"r-wd-ok", dana, codes.FailedPrecondition, "already approved; if you hold the access, give it up instead"},
		{"r-wd-auto", dana, codes.FailedPrecondition, "allowed it without approval"},
		{"r-nope", dana, codes.NotFound, "no such request"},
		{"", dana, codes.InvalidArgument, "say which request"},
		{"r-wd-ok", "", codes.InvalidArgument, "say who"},
	} {
		_, err := h.withdraw(t, tc.id, tc.who)
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("withdraw %q as %q: %v, want %s mentioning %q", tc.id, tc.who, err, tc.code, tc.says)
		}
	}
}
