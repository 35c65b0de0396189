package planner

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/inmem"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// fakeDecisions is an approval service with one approval that only priya may decide.
type fakeDecisions struct {
	decided []string
}

func (f *fakeDecisions) Decide(_ context.Context, id, approver string, approve bool, reason string) (*igav1.Approval, error) {
	if id != "r-1" {
		return nil, fmt.Errorf("%w: no approval %s", tools.ErrDecisionRefused, id)
	}
	if approver != priya {
		return nil, fmt.Errorf("%w: this approval waits for Priya Nair", tools.ErrDecisionRefused)
	}
	f.decided = append(f.decided, fmt.Sprintf("%s %v %s", id, approve, reason))
	st := igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED
	if !approve {
		st = igav1.ApprovalStatus_APPROVAL_STATUS_DENIED
	}
	return &igav1.Approval{Id: id, RequestId: id, EntitlementId: "snowflake:analyst", BeneficiaryEmail: sam, Status: st}, nil
}

func (f *fakeDecisions) Pending(_ context.Context, approver string) ([]*igav1.Approval, error) {
	if approver != priya {
		return nil, nil
	}
	return []*igav1.Approval{{Id: "r-1", RequestId: "r-1", EntitlementId: "snowflake:analyst", BeneficiaryEmail: sam, RequesterEmail: sam}}, nil
}

func TestApproversDecideInChat(t *testing.T) {
	h := newHarness(t)
	dec := &fakeDecisions{}
	snap := h.snap
	dir := func() *directory.Snapshot { return snap }
	pol := inmem.Policy{Dir: dir}
	h.p = NewBuiltin(tools.New(tools.Deps{Directory: dir, Policy: pol, Approvals: pol, Grants: h.ledger, Actions: h.actions, Decisions: dec}))

	if r := h.say(priya, "what is waiting for my approval?"); !strings.Contains(r.Text, "r-1") {
		t.Fatalf("pending: %+v", r)
	}
	if r := h.say(sam, "approve r-1"); r.Kind != conv.ReplyInfo || !strings.Contains(r.Text, "waits for Priya Nair") {
		t.Fatalf("requester approving: %+v", r)
	}
	if r := h.say(priya, "approve r-1 because the audit needs it"); !strings.Contains(r.Text, "Approved r-1") || r.RequestID != "r-1" {
		t.Fatalf("approve: %+v", r)
	}
	if len(dec.decided) != 1 || dec.decided[0] != "r-1 true the audit needs it" {
		t.Fatalf("decisions: %v", dec.decided)
	}
	if r := h.say(priya, "deny r-2"); !strings.Contains(r.Text, "no approval r-2") {
		t.Fatalf("unknown id: %+v", r)
	}
	// "approve expenses" is a request for access, not a decision.
	if u := Understand("I need to approve expenses for my team", now, nil); u.Decide != "" {
		t.Fatalf("task words read as a decision: %+v", u)
	}
	// Without an approval service the agent says where to decide.
	h2 := newHarness(t)
	if r := h2.say(priya, "approve r-1"); !strings.Contains(r.Text, "iga approve") {
		t.Fatalf("no approval service: %+v", r)
	}
}

type fakeRequests []*igav1.RequestView

func (f fakeRequests) ListRequests(context.Context, string) ([]*igav1.RequestView, error) {
	return f, nil
}

func (f fakeRequests) WithdrawRequest(_ context.Context, id, requester, _ string) (*igav1.RequestView, error) {
	for _, v := range f {
		if v.GetRequest().GetId() != id {
			continue
		}
		switch {
		case v.GetRequest().GetRequesterEmail() != requester:
			return nil, fmt.Errorf("%w: only the person who asked can withdraw a request", tools.ErrWithdrawRefused)
		case v.GetStatus() != igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL:
			return nil, fmt.Errorf("%w: the request can no longer be withdrawn: it is already approved", tools.ErrWithdrawRefused)
		}
		v.Status = igav1.RequestStatus_REQUEST_STATUS_WITHDRAWN
		return v, nil
	}
	return nil, fmt.Errorf("%w: no such request %q", tools.ErrWithdrawRefused, id)
}

func TestStatusShowsOpenRequests(t *testing.T) {
	h := newHarness(t)
	snap := h.snap
	dir := func() *directory.Snapshot { return snap }
	pol := inmem.Policy{Dir: dir}
	reqs := fakeRequests{
		{Request: &igav1.AccessRequest{Id: "r-1", EntitlementId: "snowflake:analyst", BeneficiaryEmail: sam},
			Status: igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL, Approval: &igav1.Approval{Approvers: []string{priya}}},
		{Request: &igav1.AccessRequest{Id: "r-0", EntitlementId: "github:read", BeneficiaryEmail: sam},
			Status: igav1.RequestStatus_REQUEST_STATUS_ACTIVE},
	}
	h.p = NewBuiltin(tools.New(tools.Deps{Directory: dir, Policy: pol, Approvals: pol, Grants: h.ledger, Actions: h.actions, Requests: reqs}))
	r := h.say(sam, "what's the status of my request?")
	if r.Kind != conv.ReplyInfo || !strings.Contains(r.Text, "r-1") || !strings.Contains(r.Text, "waiting for approval from Priya Nair") ||
		strings.Contains(r.Text, "r-0") {
		t.Fatalf("status: %+v", r)
	}
}
