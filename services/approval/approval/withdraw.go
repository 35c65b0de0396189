package approval

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/approval/workflow"
)

// SubjectRequestWithdrawn announces a request its requester took back.
const SubjectRequestWithdrawn = "iga.evt.request.withdrawn"

// Reasons a withdrawal is refused, mapped to FailedPrecondition / PermissionDenied.
var (
	errNotRequester = errors.New("only the person who asked can withdraw a request")
	errTooLate      = errors.New("the request can no longer be withdrawn")
	errNotYet       = errors.New("the request cannot be withdrawn yet")
)

// Withdraw takes back a request still waiting for approval: its approval is closed as
// withdrawn (so no approver can approve it and the provisioner, which grants only what an
// approved record allows, never grants it), its timers stop, and the withdrawal is
// announced. Only the requester may withdraw; a request already decided, granted or
// allowed without approval is refused with what to do instead. Withdrawing twice is the
// same as once.
func (s *Service) Withdraw(ctx context.Context, id, who, reason string) (*igav1.RequestView, error) {
	who = workflow.Normalize(who)
	if id == "" {
		return nil, fmt.Errorf("%w: say which request", errInvalid)
	}
	if who == "" {
		return nil, fmt.Errorf("%w: say who is withdrawing it", workflow.ErrNoIdentity)
	}
	req, _, err := s.requests.Get(ctx, id)
	if errors.Is(err, bus.ErrNotFound) {
		return nil, fmt.Errorf("%w %q", errNoRequest, id)
	}
	if err != nil {
		return nil, err
	}
	if workflow.Normalize(req.GetRequesterEmail()) != who {
		return nil, fmt.Errorf("%w (%s asked for %s)", errNotRequester, req.GetRequesterEmail(), req.GetEntitlementId())
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > 500 {
		reason = reason[:500]
	}
	text := "withdrawn by " + who
	if reason != "" {
		text += ": " + reason
	}
	withdrawn := false
	a, err := s.approvals.Update(ctx, id, false, func(cur *igav1.Approval) (*igav1.Approval, error) {
		switch {
		case cur.GetStatus() == igav1.ApprovalStatus_APPROVAL_STATUS_WITHDRAWN:
			return nil, bus.ErrNoChange
		case IsReview(cur):
			return nil, fmt.Errorf("%w: %s was granted as an emergency; give it up instead (\"I'm done with %s\")", errTooLate, req.GetEntitlementId(), req.GetEntitlementId())
		case cur.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING:
			return nil, fmt.Errorf("%w: it is already %s; if you hold the access, give it up instead", errTooLate, workflow.StatusWord(cur.GetStatus()))
		}
		next := proto.Clone(cur).(*igav1.Approval)
		next.Status, next.Reason, next.DecidedAt = igav1.ApprovalStatus_APPROVAL_STATUS_WITHDRAWN, text, timestamppb.New(s.now())
		withdrawn = true
		return next, nil
	})
	if errors.Is(err, bus.ErrNotFound) {
		// No approval record: policy allowed or denied it outright, or is still deciding.
		v, verr := s.GetRequest(ctx, id)
		if verr != nil {
			return nil, verr
		}
		switch v.GetStatus() {
		case igav1.RequestStatus_REQUEST_STATUS_SUBMITTED:
			return nil, fmt.Errorf("%w: policy is still deciding it; try again in a moment", errNotYet)
		case igav1.RequestStatus_REQUEST_STATUS_DENIED:
			return nil, fmt.Errorf("%w: it was denied, so there is nothing to withdraw", errTooLate)
		}
		return nil, fmt.Errorf("%w: policy allowed it without approval and it is being granted; give it up instead (\"I'm done with %s\")", errTooLate, req.GetEntitlementId())
	}
	if err != nil {
		return nil, err
	}
	if withdrawn {
		s.log.Info("request withdrawn", "request_id", id, "by", who)
	}
	if err := s.announce(ctx, a, req, nil); err != nil {
		return nil, fmt.Errorf("withdrawn but announcing it failed (withdraw again): %w", err)
	}
	return s.GetRequest(ctx, id)
}

// announceWithdrawn stops an approval's timers and announces its withdrawal: the event,
// the decided approval (so approvers' lists drop it), and a notice to the requester.
func (s *Service) announceWithdrawn(ctx context.Context, a *igav1.Approval, req *igav1.AccessRequest, cause []bus.PublishOption) error {
	s.disarm(ctx, a.GetId())
	by, reason, _ := strings.Cut(strings.TrimPrefix(a.GetReason(), "withdrawn by "), ": ")
	if err := s.publish(ctx, SubjectRequestWithdrawn, &igav1.RequestWithdrawn{RequestId: a.GetRequestId(), By: by, Reason: reason,
		WithdrawnAt: a.GetDecidedAt()}, "request-withdrawn-"+a.GetId(), a.GetRequestId(), cause); err != nil {
		return err
	}
	if err := s.publish(ctx, SubjectApprovalDecided, &igav1.ApprovalDecided{Approval: a},
		"approval-decided-"+a.GetId(), a.GetRequestId(), cause); err != nil {
		return err
	}
	return s.notify(ctx, req, "reply-withdrawn-"+a.GetId(), fmt.Sprintf("Withdrawn: your request for %s (%s). Nothing was granted, and its approvers are no longer asked.",
		s.entitlementName(req.GetEntitlementId()), a.GetRequestId()), cause)
}
