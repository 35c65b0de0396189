package approval

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/approval/workflow"
)

// requestsServer is the gRPC face of RequestsService: the requests read model, joined from
// the records of agent (requests), policy (decisions), approval and provisioner (grants).
type requestsServer struct {
	igav1.UnimplementedRequestsServiceServer
	s *Service
}

func (g *requestsServer) ListRequests(ctx context.Context, in *igav1.ListRequestsRequest) (*igav1.ListRequestsResponse, error) {
	views, err := g.s.ListRequests(ctx, in.GetPersonEmail())
	if err != nil {
		return nil, toStatus(g.s.log, err)
	}
	return &igav1.ListRequestsResponse{Requests: views}, nil
}

func (g *requestsServer) WithdrawRequest(ctx context.Context, in *igav1.WithdrawRequestRequest) (*igav1.WithdrawRequestResponse, error) {
	v, err := g.s.Withdraw(ctx, in.GetRequestId(), in.GetRequesterEmail(), in.GetReason())
	if err != nil {
		return nil, toStatus(g.s.log, err)
	}
	return &igav1.WithdrawRequestResponse{Request: v}, nil
}

func (g *requestsServer) GetRequest(ctx context.Context, in *igav1.GetRequestRequest) (*igav1.GetRequestResponse, error) {
	v, err := g.s.GetRequest(ctx, in.GetRequestId())
	if err != nil {
		return nil, toStatus(g.s.log, err)
	}
	return &igav1.GetRequestResponse{Request: v}, nil
}

// errNoRequest is a request id the requests bucket does not hold.
var errNoRequest = fmt.Errorf("%w: no such request", workflow.ErrNotFound)

// GrantID is the ledger key of a request's grant.
func GrantID(requestID string) string { return "g-" + requestID }

// ListRequests returns every request (or those where person is requester or beneficiary)
// with its story, newest first.
func (s *Service) ListRequests(ctx context.Context, person string) ([]*igav1.RequestView, error) {
	reqs, err := s.requests.List(ctx)
	if err != nil {
		return nil, err
	}
	person = workflow.Normalize(person)
	var mine []*igav1.AccessRequest
	for _, r := range reqs {
		if person == "" || workflow.Normalize(r.GetRequesterEmail()) == person || workflow.Normalize(r.GetBeneficiaryEmail()) == person {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		return nil, nil
	}
	decisions, err := s.decisions.List(ctx)
	if err != nil {
		return nil, err
	}
	approvals, err := s.approvals.List(ctx)
	if err != nil {
		return nil, err
	}
	grants, err := s.grants.List(ctx)
	if err != nil {
		return nil, err
	}
	decBy := map[string]*igav1.PolicyDecision{}
	for _, d := range decisions {
		decBy[d.GetRequestId()] = d
	}
	apprBy := map[string]*igav1.Approval{}
	for _, a := range approvals {
		apprBy[a.GetRequestId()] = a
	}
	grantBy := map[string]*igav1.Grant{}
	for _, g := range grants {
		if g.GetId() == GrantID(g.GetRequestId()) {
			grantBy[g.GetRequestId()] = g
		}
	}
	out := make([]*igav1.RequestView, 0, len(mine))
	for _, r := range mine {
		out = append(out, View(r, decBy[r.GetId()], apprBy[r.GetId()], grantBy[r.GetId()]))
	}
	sort.SliceStable(out, func(i, j int) bool {
		ti, tj := out[i].GetRequest().GetCreatedAt().AsTime(), out[j].GetRequest().GetCreatedAt().AsTime()
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return out[i].GetRequest().GetId() > out[j].GetRequest().GetId()
	})
	return out, nil
}

// GetRequest returns one request with its story.
func (s *Service) GetRequest(ctx context.Context, id string) (*igav1.RequestView, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: say which request", errInvalid)
	}
	r, _, err := s.requests.Get(ctx, id)
	if errors.Is(err, bus.ErrNotFound) {
		return nil, fmt.Errorf("%w %q", errNoRequest, id)
	}
	if err != nil {
		return nil, err
	}
	d, err := optional(s.decisions.Get(ctx, id))
	if err != nil {
		return nil, err
	}
	a, err := optional(s.approvals.Get(ctx, id))
	if err != nil {
		return nil, err
	}
	g, err := optional(s.grants.Get(ctx, GrantID(id)))
	if err != nil {
		return nil, err
	}
	return View(r, d, a, g), nil
}

func optional[T any](v T, _ uint64, err error) (T, error) {
	if errors.Is(err, bus.ErrNotFound) {
		var zero T
		return zero, nil
	}
	return v, err
}

// View joins a request's records and derives its status: the furthest record decides.
func View(r *igav1.AccessRequest, d *igav1.PolicyDecision, a *igav1.Approval, g *igav1.Grant) *igav1.RequestView {
	return &igav1.RequestView{Request: r, Decision: d, Approval: a, Grant: g, Status: Status(d, a, g)}
}

// Status derives a request's lifecycle from its decision, approval and grant.
func Status(d *igav1.PolicyDecision, a *igav1.Approval, g *igav1.Grant) igav1.RequestStatus {
	switch g.GetStatus() {
	case igav1.GrantStatus_GRANT_STATUS_ACTIVE:
		return igav1.RequestStatus_REQUEST_STATUS_ACTIVE
	case igav1.GrantStatus_GRANT_STATUS_REVOKED:
		return igav1.RequestStatus_REQUEST_STATUS_REVOKED
	case igav1.GrantStatus_GRANT_STATUS_FAILED:
		return igav1.RequestStatus_REQUEST_STATUS_FAILED
	case igav1.GrantStatus_GRANT_STATUS_PENDING:
		return igav1.RequestStatus_REQUEST_STATUS_APPROVED
	}
	if IsReview(a) {
		// A review comes after the grant: until the ledger has the grant, the request is
		// approved, unless its review refused or rejected it first.
		switch a.GetStatus() {
		case igav1.ApprovalStatus_APPROVAL_STATUS_DENIED, igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED:
			return igav1.RequestStatus_REQUEST_STATUS_DENIED
		}
		return igav1.RequestStatus_REQUEST_STATUS_APPROVED
	}
	switch a.GetStatus() {
	case igav1.ApprovalStatus_APPROVAL_STATUS_WITHDRAWN:
		return igav1.RequestStatus_REQUEST_STATUS_WITHDRAWN
	case igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED:
		return igav1.RequestStatus_REQUEST_STATUS_APPROVED
	case igav1.ApprovalStatus_APPROVAL_STATUS_DENIED, igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED:
		return igav1.RequestStatus_REQUEST_STATUS_DENIED
	case igav1.ApprovalStatus_APPROVAL_STATUS_PENDING:
		return igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL
	}
	switch d.GetEffect() {
	case igav1.Effect_EFFECT_ALLOW:
		return igav1.RequestStatus_REQUEST_STATUS_APPROVED
	case igav1.Effect_EFFECT_DENY:
		return igav1.RequestStatus_REQUEST_STATUS_DENIED
	case igav1.Effect_EFFECT_REQUIRE_APPROVAL:
		return igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL
	}
	return igav1.RequestStatus_REQUEST_STATUS_SUBMITTED
}
