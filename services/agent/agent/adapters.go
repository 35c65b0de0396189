package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// rpcTimeout bounds each call to another service, so a slow service makes a turn say
// "couldn't check" instead of hanging past the turn's ack deadline.
const rpcTimeout = 5 * time.Second

// policyClient previews decisions through PolicyService.Evaluate with record=false.
type policyClient struct{ c igav1.PolicyServiceClient }

func (p policyClient) Preview(ctx context.Context, req *igav1.AccessRequest) (*igav1.PolicyDecision, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	res, err := p.c.Evaluate(ctx, &igav1.EvaluateRequest{Request: req, Record: false})
	if err != nil {
		return nil, fmt.Errorf("policy preview: %w", err)
	}
	return res.GetDecision(), nil
}

// approvalsClient asks ApprovalService.Requirements who would approve.
type approvalsClient struct{ c igav1.ApprovalServiceClient }

func (a approvalsClient) Requirements(ctx context.Context, req *igav1.AccessRequest) (*igav1.RequirementsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	res, err := a.c.Requirements(ctx, &igav1.RequirementsRequest{Request: req})
	if err != nil {
		return nil, fmt.Errorf("approval requirements: %w", err)
	}
	return res, nil
}

// grantsClient reads the ledger through EntitlementsService.
type grantsClient struct {
	c igav1.EntitlementsServiceClient
}

func (g grantsClient) CheckAccess(ctx context.Context, person, entitlementID string) (*igav1.Grant, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	res, err := g.c.CheckAccess(ctx, &igav1.CheckAccessRequest{PersonEmail: person, EntitlementId: entitlementID})
	if err != nil {
		return nil, false, fmt.Errorf("check access: %w", err)
	}
	return res.GetGrant(), res.GetHasAccess(), nil
}

func (g grantsClient) ListGrants(ctx context.Context, person string) ([]*igav1.Grant, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	res, err := g.c.ListGrants(ctx, &igav1.ListGrantsRequest{PersonEmail: person})
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return res.GetGrants(), nil
}

// Subjects the agent publishes on.
const (
	SubjectRequestSubmitted = "iga.evt.request.submitted"
	SubjectProvisionRevoke  = "iga.cmd.provision.revoke"
)

// busActions submits requests and relinquishes grants on the bus.
type busActions struct {
	b        *bus.Bus
	requests *bus.Store[*igav1.AccessRequest]
}

// Submit stores the request once (key = id) and announces it with a dedup id derived from
// the request id, so a retried submit stores and announces nothing new.
func (a busActions) Submit(ctx context.Context, req *igav1.AccessRequest) error {
	if _, err := a.requests.Create(ctx, req.GetId(), req); err != nil && !errors.Is(err, bus.ErrExists) {
		return fmt.Errorf("store request %s: %w", req.GetId(), err)
	}
	_, err := a.b.Publish(ctx, SubjectRequestSubmitted, &igav1.RequestSubmitted{Request: req},
		bus.WithRequestID(req.GetId()), bus.WithID("request-submitted-"+req.GetId()))
	return err
}

// Revoke asks the provisioner to remove a grant the person gives up.
func (a busActions) Revoke(ctx context.Context, grantID, reason string) error {
	_, err := a.b.Publish(ctx, SubjectProvisionRevoke, &igav1.ProvisionRevoke{GrantId: grantID, Reason: reason},
		bus.WithID("relinquish-"+grantID))
	return err
}

// decisionsClient relays approvers' decisions to ApprovalService. The service's refusals
// (not your stage, already decided, unknown id) carry messages written for people, so they
// are passed on; anything else stays internal.
type decisionsClient struct{ c igav1.ApprovalServiceClient }

func (d decisionsClient) Decide(ctx context.Context, id, approver string, approve bool, reason string) (*igav1.Approval, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	res, err := d.c.Decide(ctx, &igav1.DecideRequest{ApprovalId: id, ApproverEmail: approver, Approve: approve, Reason: reason})
	if err != nil {
		return nil, refusal("decide "+id, err)
	}
	return res.GetApproval(), nil
}

func (d decisionsClient) Pending(ctx context.Context, approver string) ([]*igav1.Approval, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	res, err := d.c.ListApprovals(ctx, &igav1.ListApprovalsRequest{ApproverEmail: approver,
		Statuses: []igav1.ApprovalStatus{igav1.ApprovalStatus_APPROVAL_STATUS_PENDING}})
	if err != nil {
		return nil, refusal("list approvals", err)
	}
	return res.GetApprovals(), nil
}

func refusal(what string, err error) error {
	switch st := status.Convert(err); st.Code() {
	case codes.PermissionDenied, codes.FailedPrecondition, codes.NotFound, codes.InvalidArgument:
		return fmt.Errorf("%w: %s", tools.ErrDecisionRefused, st.Message())
	}
	return fmt.Errorf("%s: %w", what, err)
}

// requestsClient reads requests through RequestsService.
type requestsClient struct{ c igav1.RequestsServiceClient }

func (r requestsClient) ListRequests(ctx context.Context, person string) ([]*igav1.RequestView, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	res, err := r.c.ListRequests(ctx, &igav1.ListRequestsRequest{PersonEmail: person})
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return res.GetRequests(), nil
}

func (r requestsClient) WithdrawRequest(ctx context.Context, id, requester, reason string) (*igav1.RequestView, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	res, err := r.c.WithdrawRequest(ctx, &igav1.WithdrawRequestRequest{RequestId: id, RequesterEmail: requester, Reason: reason})
	if err != nil {
		switch st := status.Convert(err); st.Code() {
		case codes.PermissionDenied, codes.FailedPrecondition, codes.NotFound, codes.InvalidArgument:
			return nil, fmt.Errorf("%w: %s", tools.ErrWithdrawRefused, st.Message())
		}
		return nil, fmt.Errorf("withdraw request %s: %w", id, err)
	}
	return res.GetRequest(), nil
}
