package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/approval/workflow"
)

// errInvalid marks a malformed call.
var errInvalid = errors.New("invalid argument")

// approvalServer is the gRPC face of ApprovalService; it only translates.
type approvalServer struct {
	igav1.UnimplementedApprovalServiceServer
	s *Service
}

func (g *approvalServer) Requirements(ctx context.Context, in *igav1.RequirementsRequest) (*igav1.RequirementsResponse, error) {
	resp, err := g.s.Requirements(ctx, in.GetRequest())
	if err != nil {
		return nil, toStatus(g.s.log, err)
	}
	return resp, nil
}

func (g *approvalServer) ListApprovals(ctx context.Context, in *igav1.ListApprovalsRequest) (*igav1.ListApprovalsResponse, error) {
	list, err := g.s.ListApprovals(ctx, in.GetApproverEmail(), in.GetStatuses())
	if err != nil {
		return nil, toStatus(g.s.log, err)
	}
	return &igav1.ListApprovalsResponse{Approvals: list}, nil
}

func (g *approvalServer) Decide(ctx context.Context, in *igav1.DecideRequest) (*igav1.DecideResponse, error) {
	// Dev-mode identity: the approver is whoever the message names (the CLI's --as). In
	// production the caller is authenticated from mTLS/OIDC metadata by an interceptor that
	// rejects a call whose authenticated identity differs from approver_email.
	a, err := g.s.Decide(ctx, in.GetApprovalId(), workflow.Vote{
		Approver: in.GetApproverEmail(), Approve: in.GetApprove(), Reason: in.GetReason(),
	})
	if err != nil {
		return nil, toStatus(g.s.log, err)
	}
	return &igav1.DecideResponse{Approval: a}, nil
}

// Requirements says what a request would need: policy's decision (not recorded) and, when
// it demands approval, who would approve each stage. Steps nobody may approve turn the
// answer into the denial the request would get.
func (s *Service) Requirements(ctx context.Context, req *igav1.AccessRequest) (*igav1.RequirementsResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("%w: a request is required", errInvalid)
	}
	dec, err := s.evaluate(ctx, req, false)
	if err != nil {
		return nil, err
	}
	return RequirementsOf(s.dir.Snapshot(), req, dec), nil
}

// RequirementsOf routes policy's decision of a request to the people who would approve
// each stage; steps nobody may approve turn it into the denial the request would get.
// It is what Requirements answers, for callers that decide with the policy engine
// themselves (iga eval).
func RequirementsOf(snap *directory.Snapshot, req *igav1.AccessRequest, dec *igav1.PolicyDecision) *igav1.RequirementsResponse {
	resp := &igav1.RequirementsResponse{Decision: dec}
	// Who approves before the grant, or, for a break-glass allow, who reviews it after.
	steps, into, nobody, fix := dec.GetApprovalSteps(), &resp.Stages, "no one may approve it",
		"ask the directory team to fill in the missing approver (manager or owner)"
	switch {
	case IsBreakGlass(dec):
		// When nobody may review it, the approval service denies the emergency (see
		// submitted), so say so now.
		steps, into, nobody, fix = reviewSteps(dec), &resp.ReviewStages, "no one may review it after the fact", ""
	case dec.GetEffect() != igav1.Effect_EFFECT_REQUIRE_APPROVAL:
		return resp
	}
	stages, err := workflow.Route(snap, workflow.PartiesOf(req), steps)
	if err != nil {
		denied := proto.Clone(dec).(*igav1.PolicyDecision)
		denied.Effect = igav1.Effect_EFFECT_DENY
		denied.Reason = trimDot(dec.GetReason()) + "; but " + nobody + ": " + err.Error()
		if fix != "" {
			denied.Remediation = append(denied.Remediation, fix)
		}
		resp.Decision = denied
		return resp
	}
	for _, st := range stages {
		*into = append(*into, &igav1.StageApprovers{Stage: st.Number, Approvers: st.Approvers(), Description: st.Description()})
	}
	return resp
}

// ListApprovals lists approvals, newest first: all of them, or those approver may decide
// now; optionally only some statuses.
func (s *Service) ListApprovals(ctx context.Context, approver string, statuses []igav1.ApprovalStatus) ([]*igav1.Approval, error) {
	all, err := s.approvals.List(ctx)
	if err != nil {
		return nil, err
	}
	want := map[igav1.ApprovalStatus]bool{}
	for _, st := range statuses {
		want[st] = true
	}
	var out []*igav1.Approval
	for _, a := range all {
		if len(want) > 0 && !want[a.GetStatus()] {
			continue
		}
		if approver != "" && !workflow.CanDecide(a, approver) {
			continue
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool {
		ti, tj := out[i].GetCreatedAt().AsTime(), out[j].GetCreatedAt().AsTime()
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return out[i].GetId() > out[j].GetId()
	})
	return out, nil
}

// Decide records an approver's vote on an approval (by approval or request id: they are
// the same) with compare-and-set, then announces the outcome. A retried call changes
// nothing and announces the same state with the same ids, so it cannot double-publish.
func (s *Service) Decide(ctx context.Context, id string, v workflow.Vote) (*igav1.Approval, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: say which approval (approval or request id)", errInvalid)
	}
	v.At = s.now()
	snap := s.dir.Snapshot()
	outcome := workflow.Unchanged
	a, err := s.approvals.Update(ctx, id, false, func(cur *igav1.Approval) (*igav1.Approval, error) {
		next := proto.Clone(cur).(*igav1.Approval)
		o, err := workflow.Decide(snap, next, v)
		if err != nil {
			return nil, err
		}
		if outcome = o; o == workflow.Unchanged {
			return nil, bus.ErrNoChange
		}
		return next, nil
	})
	if errors.Is(err, bus.ErrNotFound) {
		return nil, fmt.Errorf("%w: no approval %q", workflow.ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("approval vote", "request_id", a.GetRequestId(), "approver", workflow.Normalize(v.Approver),
		"approve", v.Approve, "outcome", outcome.String(), "status", a.GetStatus().String(), "stage", a.GetCurrentStage())
	if outcome == workflow.Recorded {
		return a, nil // the stage still waits; nothing new to announce
	}
	req, err := s.request(ctx, a.GetRequestId())
	if err != nil {
		return nil, err
	}
	if err := s.announce(ctx, a, req, nil); err != nil {
		return nil, fmt.Errorf("vote recorded but announcing it failed (retry the same decision): %w", err)
	}
	return a, nil
}

// toStatus maps the service's errors to gRPC status, once. Messages of expected errors are
// meant for the caller; unexpected ones are logged and hidden.
func toStatus(log *slog.Logger, err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, workflow.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, workflow.ErrSelfApproval), errors.Is(err, workflow.ErrNotApprover), errors.Is(err, errNotRequester):
		code = codes.PermissionDenied
	case errors.Is(err, workflow.ErrAlreadyDecided), errors.Is(err, workflow.ErrAlreadyVoted), errors.Is(err, errTooLate), errors.Is(err, errNotYet):
		code = codes.FailedPrecondition
	case errors.Is(err, jetstream.ErrInvalidKey):
		return status.Error(codes.InvalidArgument, "not a valid approval or request id")
	case errors.Is(err, workflow.ErrNoIdentity), errors.Is(err, workflow.ErrBadDelegate), errors.Is(err, errInvalid), errors.Is(err, errRejected):
		code = codes.InvalidArgument
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	default:
		// A status from the policy call passes through with its code.
		if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable {
			return status.Error(codes.Unavailable, "policy service unavailable; try again shortly")
		} else if ok && st.Code() != codes.Unknown {
			return status.Error(st.Code(), "policy: "+st.Message())
		}
		log.Error("approval call failed", "err", err)
		return status.Error(codes.Internal, "internal error in the approval service; see its log")
	}
	return status.Error(code, err.Error())
}

// delegationServer is the gRPC face of ApprovalDelegationService.
type delegationServer struct {
	igav1.UnimplementedApprovalDelegationServiceServer
	s *Service
}

func (g *delegationServer) Delegate(ctx context.Context, in *igav1.DelegateRequest) (*igav1.DelegateResponse, error) {
	// Dev-mode identity, as in Decide: production authenticates the caller from mTLS/OIDC
	// metadata and requires it to be approver_email.
	a, err := g.s.Delegate(ctx, in.GetApprovalId(), in.GetApproverEmail(), in.GetDelegateEmail(), in.GetReason())
	if err != nil {
		return nil, toStatus(g.s.log, err)
	}
	return &igav1.DelegateResponse{Approval: a}, nil
}

// Delegate hands an approver's part of the current stage to someone else, asks the
// delegate, tells the requester, and moves the stage's timer to the new approvers.
func (s *Service) Delegate(ctx context.Context, id, approver, delegate, reason string) (*igav1.Approval, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: say which approval (approval or request id)", errInvalid)
	}
	snap := s.dir.Snapshot()
	to := workflow.Normalize(delegate)
	a, err := s.approvals.Update(ctx, id, false, func(cur *igav1.Approval) (*igav1.Approval, error) {
		next := proto.Clone(cur).(*igav1.Approval)
		if err := workflow.Delegate(snap, next, approver, delegate); err != nil {
			return nil, err
		}
		return next, nil
	})
	if errors.Is(err, bus.ErrNotFound) {
		return nil, fmt.Errorf("%w: no approval %q", workflow.ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("approval delegated", "request_id", a.GetRequestId(), "from", workflow.Normalize(approver), "to", to, "reason", reason)
	req, err := s.request(ctx, a.GetRequestId())
	if err != nil {
		return nil, err
	}
	if IsReview(a) {
		err = s.askReviewers(ctx, SubjectReviewRequested, fmt.Sprintf("review-requested-%s-%d-d-%s", a.GetId(), a.GetCurrentStage(), bus.Key(to)), a, req, nil, nil)
	} else {
		err = s.publish(ctx, SubjectApprovalRequested, &igav1.ApprovalRequested{Approval: a},
			fmt.Sprintf("approval-requested-%s-%d-d-%s", a.GetId(), a.GetCurrentStage(), bus.Key(to)), a.GetRequestId(), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("delegation recorded, but asking the delegate failed: %w", err)
	}
	text := fmt.Sprintf("%s handed the approval of your request to %s.", workflow.NameOf(snap, approver), workflow.NameOf(snap, to))
	if IsReview(a) {
		text = fmt.Sprintf("%s handed the review of your emergency access to %s.", workflow.NameOf(snap, approver), workflow.NameOf(snap, to))
	}
	if err := s.notify(ctx, req, fmt.Sprintf("reply-approval-delegated-%s-%d-%s", a.GetId(), a.GetCurrentStage(), bus.Key(to)), text, nil); err != nil {
		return nil, err
	}
	if err := s.rearm(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}
