package approval

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/approval/workflow"
)

// errRejected marks a request policy refused to evaluate (malformed, unknown entitlement):
// the requester is told, the request is denied, and redelivery would not help.
var errRejected = errors.New("policy rejected the request")

// handleSubmitted turns a submitted request into a grant command, a denial or an approval.
// Every effect has an id derived from the request, so a redelivery publishes nothing new.
func (s *Service) handleSubmitted(ctx context.Context, m bus.Meta, ev *igav1.RequestSubmitted) error {
	id := ev.GetRequest().GetId()
	if id == "" {
		return bus.Permanent(errors.New("request.submitted carries no request id"))
	}
	// The stored request is the record; the event is only the news that it exists.
	req, _, err := s.requests.Get(ctx, id)
	if errors.Is(err, bus.ErrNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return bus.Permanent(fmt.Errorf("request %q is not in %s; the agent stores a request before submitting it: %w", id, bus.BucketRequests, err))
	}
	if err != nil {
		return fmt.Errorf("load request %s: %w", id, err)
	}
	if !proto.Equal(req, ev.GetRequest()) {
		s.log.Warn("submitted event differs from the stored request; using the stored one", "request_id", id)
	}
	cause := []bus.PublishOption{bus.CausedBy(m)}

	dec, err := s.evaluate(ctx, req, true)
	if errors.Is(err, errRejected) {
		return s.deny(ctx, id, req, err.Error(), nil, "policy", cause)
	}
	if err != nil {
		return err // policy unreachable: redeliver with backoff
	}
	log := s.log.With("request_id", id, "effect", dec.GetEffect().String())
	switch dec.GetEffect() {
	case igav1.Effect_EFFECT_ALLOW:
		if IsBreakGlass(dec) {
			return s.openReview(ctx, req, dec, cause)
		}
		log.Info("allowed by policy; commanding the grant")
		if err := s.commandGrant(ctx, id, cause); err != nil {
			return err
		}
		return s.notify(ctx, req, "reply-policy-allowed-"+id,
			fmt.Sprintf("Approved automatically by policy: %s. Provisioning now.", trimDot(dec.GetReason())), cause)
	case igav1.Effect_EFFECT_DENY:
		log.Info("denied by policy")
		return s.deny(ctx, id, req, dec.GetReason(), dec.GetRemediation(), "policy", cause)
	case igav1.Effect_EFFECT_REQUIRE_APPROVAL:
		return s.open(ctx, req, dec, cause)
	default:
		log.Error("policy returned a decision without an effect; denying")
		return s.deny(ctx, id, req, "policy returned no decision for this request", nil, "policy", cause)
	}
}

// open stores the request's approval (once) and announces it. Steps nobody may approve
// deny the request: approval is never skipped.
func (s *Service) open(ctx context.Context, req *igav1.AccessRequest, dec *igav1.PolicyDecision, cause []bus.PublishOption) error {
	snap := s.dir.Snapshot()
	a, err := s.approvals.Update(ctx, req.GetId(), true, func(cur *igav1.Approval) (*igav1.Approval, error) {
		if cur != nil {
			return nil, bus.ErrNoChange
		}
		var a *igav1.Approval
		if stages, err := workflow.Route(snap, workflow.PartiesOf(req), dec.GetApprovalSteps()); err != nil {
			a = workflow.Refuse(req, dec, "Denied because no one may approve it: "+err.Error(), s.now())
		} else {
			a = workflow.Open(req, dec, stages[0], s.now())
		}
		a.Kind = igav1.ApprovalKind_APPROVAL_KIND_ACCESS
		return a, nil
	})
	if err != nil {
		return fmt.Errorf("store approval %s: %w", req.GetId(), err)
	}
	s.log.Info("approval stored", "request_id", a.GetId(), "status", a.GetStatus().String(),
		"stage", a.GetCurrentStage(), "approvers", a.GetApprovers())
	return s.announce(ctx, a, req, cause)
}

// evaluate asks policy for a decision. A refusal to evaluate wraps errRejected; anything
// else (unreachable, overloaded, timed out) is worth retrying.
func (s *Service) evaluate(ctx context.Context, req *igav1.AccessRequest, record bool) (*igav1.PolicyDecision, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PolicyTimeout)
	defer cancel()
	resp, err := s.policy.Evaluate(ctx, &igav1.EvaluateRequest{Request: req, Record: record})
	if err != nil {
		st := status.Convert(err)
		switch st.Code() {
		case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.OutOfRange:
			return nil, fmt.Errorf("%w: %s", errRejected, st.Message())
		}
		return nil, fmt.Errorf("policy evaluate %s: %w", req.GetId(), err)
	}
	if resp.GetDecision() == nil {
		return nil, fmt.Errorf("policy evaluate %s: empty response", req.GetId())
	}
	return resp.GetDecision(), nil
}
