package policy

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// server translates PolicyService calls; the business lives in Service.
type server struct {
	igav1.UnimplementedPolicyServiceServer
	s *Service
}

func (g *server) Evaluate(ctx context.Context, req *igav1.EvaluateRequest) (*igav1.EvaluateResponse, error) {
	d, err := g.s.Evaluate(ctx, req.GetRequest(), req.GetRecord())
	if err != nil {
		return nil, g.status(err, req.GetRequest().GetId())
	}
	return &igav1.EvaluateResponse{Decision: d}, nil
}

func (g *server) GetDecision(ctx context.Context, req *igav1.GetDecisionRequest) (*igav1.GetDecisionResponse, error) {
	d, err := g.s.Decision(ctx, req.GetRequestId())
	if err != nil {
		return nil, g.status(err, req.GetRequestId())
	}
	return &igav1.GetDecisionResponse{Decision: d}, nil
}

// status maps errors to gRPC codes once; internal details are logged, not returned.
func (g *server) status(err error, requestID string) error {
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrUnknownPerson), errors.Is(err, ErrUnknownEntitlement):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, bus.ErrNotFound):
		return status.Errorf(codes.NotFound, "no decision is recorded for request %q", requestID)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	g.s.log.Error("policy call failed", "request_id", requestID, "err", err)
	return status.Error(codes.Unavailable, "policy could not record or read the decision; try again")
}

// adminServer answers operators.
type adminServer struct {
	igav1.UnimplementedPolicyAdminServiceServer
	s         *Service
	workbench Workbench
}

func (a *adminServer) TestPolicy(ctx context.Context, in *igav1.TestPolicyRequest) (*igav1.TestPolicyResponse, error) {
	if a.workbench == nil {
		return nil, status.Error(codes.Unimplemented, "this policy server does not run policy tests")
	}
	return a.workbench.TestPolicy(ctx, in)
}

func (a *adminServer) SimulatePolicy(ctx context.Context, in *igav1.SimulatePolicyRequest) (*igav1.SimulatePolicyResponse, error) {
	if a.workbench == nil {
		return nil, status.Error(codes.Unimplemented, "this policy server does not run simulations")
	}
	return a.workbench.SimulatePolicy(ctx, in)
}

func (a *adminServer) GetPolicy(context.Context, *igav1.GetPolicyRequest) (*igav1.GetPolicyResponse, error) {
	st := a.s.Status()
	resp := &igav1.GetPolicyResponse{
		File: st.File, Version: st.Policy.Version, Rules: int32(st.Policy.Rules()),
		SodConstraints: int32(st.Policy.SoDConstraints()), BreakGlass: st.Policy.HasBreakGlass(),
		LoadedAt: timestamppb.New(st.LoadedAt), Warnings: st.Warnings, RefusedError: st.RefusedError,
	}
	if !st.RefusedAt.IsZero() {
		resp.RefusedAt = timestamppb.New(st.RefusedAt)
	}
	return resp, nil
}
