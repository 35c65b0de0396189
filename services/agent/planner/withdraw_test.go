package planner

import (
	"strings"
	"testing"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/inmem"
	"github.com/agentic-iga/iga/services/agent/tools"
)

func withdrawHarness(t *testing.T, reqs fakeRequests) *harness {
	t.Helper()
	h := newHarness(t)
	snap := h.snap
	dir := func() *directory.Snapshot { return snap }
	pol := inmem.Policy{Dir: dir}
	h.p = NewBuiltin(tools.New(tools.Deps{Directory: dir, Policy: pol, Approvals: pol, Grants: h.ledger, Actions: h.actions, Requests: reqs}))
	return h
}

func waiting(id, requester, ent string, approvers ...string) *igav1.RequestView {
	return &igav1.RequestView{Request: &igav1.AccessRequest{Id: id, RequesterEmail: requester, BeneficiaryEmail: requester, EntitlementId: ent},
		Status: igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL, Approval: &igav1.Approval{Approvers: approvers}}
}

// "withdraw my request" takes back the one waiting for approval, after a yes.
func TestWithdrawTheOnlyWaitingRequest(t *testing.T) {
	reqs := fakeRequests{waiting("r-1a2b", sam, "snowflake:analyst", priya)}
	h := withdrawHarness(t, reqs)
	r := h.say(sam, "please withdraw my request")
	if r.Kind != conv.ReplyProposal || !strings.Contains(r.Text, "Withdraw r-1a2b — Snowflake analyst") || !strings.Contains(r.Text, "waiting for Priya Nair") {
		t.Fatalf("confirmation: %+v", r)
	}
	if reqs[0].GetStatus() != igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL {
		t.Fatal("withdrawn before the yes")
	}
	r = h.pick(sam, "yes")
	if r.Kind != conv.ReplyInfo || !strings.Contains(r.Text, "Withdrawn r-1a2b") || reqs[0].GetStatus() != igav1.RequestStatus_REQUEST_STATUS_WITHDRAWN {
		t.Fatalf("after yes: %+v (status %s)", r, reqs[0].GetStatus())
	}
}

// Several waiting: the app named picks one; none named asks which; "keep it" keeps it.
func TestWithdrawChoosesAmongRequests(t *testing.T) {
	reqs := fakeRequests{waiting("r-1a2b", sam, "snowflake:analyst", priya), waiting("r-3c4d", sam, "github:write", priya)}
	h := withdrawHarness(t, reqs)
	if r := h.say(sam, "cancel my github request"); r.Kind != conv.ReplyProposal || !strings.Contains(r.Text, "r-3c4d") {
		t.Fatalf("by app: %+v", r)
	}
	if r := h.pick(sam, "no"); r.Kind != conv.ReplyInfo || reqs[1].GetStatus() != igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL {
		t.Fatalf("keep it: %+v", r)
	}
	r := h.say(sam, "withdraw my request")
	if r.Kind != conv.ReplyQuestion || len(r.Options) != 2 {
		t.Fatalf("which: %+v", r)
	}
	if r := h.pick(sam, "r-1a2b"); r.Kind != conv.ReplyProposal || !strings.Contains(r.Text, "Snowflake analyst") {
		t.Fatalf("picked: %+v", r)
	}
	h.pick(sam, "yes")
	if reqs[0].GetStatus() != igav1.RequestStatus_REQUEST_STATUS_WITHDRAWN || reqs[1].GetStatus() != igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL {
		t.Fatalf("statuses: %s %s", reqs[0].GetStatus(), reqs[1].GetStatus())
	}
	// By id.
	if r := h.say(sam, "cancel request r-3c4d"); r.Kind != conv.ReplyProposal || !strings.Contains(r.Text, "r-3c4d") {
		t.Fatalf("by id: %+v", r)
	}
}

// What can't be withdrawn says why and what to do instead; a draft being shaped is just
// dropped; someone else's request is never offered.
func TestWithdrawRefusals(t *testing.T) {
	approved := waiting("r-5e6f", sam, "github:write", priya)
	approved.Status = igav1.RequestStatus_REQUEST_STATUS_APPROVED
	reqs := fakeRequests{approved, waiting("r-7a8b", dana, "snowflake:analyst", priya)}
	h := withdrawHarness(t, reqs)
	if r := h.say(sam, "withdraw my github request"); r.Kind != conv.ReplyInfo || !strings.Contains(r.Text, "no longer waiting for approval: it's approved") ||
		!strings.Contains(r.Text, "I'm done with") {
		t.Fatalf("approved: %+v", r)
	}
	if r := h.say(sam, "withdraw r-7a8b"); r.Kind != conv.ReplyInfo || !strings.Contains(r.Text, "I don't see a request r-7a8b of yours") {
		t.Fatalf("someone else's: %+v", r)
	}
	h2 := withdrawHarness(t, fakeRequests{})
	if r := h2.say(sam, "withdraw my request"); r.Kind != conv.ReplyInfo || !strings.Contains(r.Text, "no request waiting for approval") {
		t.Fatalf("nothing waiting: %+v", r)
	}
	if r := h2.say(sam, "I need read access to snowflake for 2 days"); r.Kind != conv.ReplyProposal {
		t.Fatalf("proposal: %+v", r)
	}
	if r := h2.say(sam, "actually cancel that request"); r.Kind != conv.ReplyInfo || !strings.Contains(r.Text, "nothing was submitted") || h2.st.Draft != nil {
		t.Fatalf("cancel the draft: %+v", r)
	}
	if len(h2.actions.Requests()) > 0 {
		t.Fatal("something was submitted")
	}
}
