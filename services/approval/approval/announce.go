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

// announce publishes what an approval's stored state means: approvers are asked (pending),
// the grant is commanded (approved), or the request is denied (denied, expired). Ids derive
// from the approval and its stage, so announcing the same state twice publishes nothing new
// within the streams' dedup window, and consumers drop repeats by id after it.
// req may be nil when the request record is missing; then nobody is notified in chat.
func (s *Service) announce(ctx context.Context, a *igav1.Approval, req *igav1.AccessRequest, cause []bus.PublishOption) error {
	if IsReview(a) {
		return s.announceReview(ctx, a, req, nil, cause)
	}
	id := a.GetId()
	switch a.GetStatus() {
	case igav1.ApprovalStatus_APPROVAL_STATUS_PENDING:
		if err := s.publish(ctx, SubjectApprovalRequested, &igav1.ApprovalRequested{Approval: a},
			fmt.Sprintf("approval-requested-%s-%d", id, a.GetCurrentStage()), a.GetRequestId(), cause); err != nil {
			return err
		}
		if err := s.notify(ctx, req, fmt.Sprintf("reply-approval-pending-%s-%d", id, a.GetCurrentStage()), s.waitingText(a), cause); err != nil {
			return err
		}
		return s.armStage(ctx, a)
	case igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED:
		s.disarm(ctx, id)
		if err := s.publish(ctx, SubjectApprovalDecided, &igav1.ApprovalDecided{Approval: a},
			"approval-decided-"+id, a.GetRequestId(), cause); err != nil {
			return err
		}
		if err := s.commandGrant(ctx, a.GetRequestId(), cause); err != nil {
			return err
		}
		return s.notify(ctx, req, "reply-approval-approved-"+id, trimDot(a.GetReason())+". Provisioning now.", cause)
	case igav1.ApprovalStatus_APPROVAL_STATUS_DENIED, igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED:
		s.disarm(ctx, id)
		if err := s.publish(ctx, SubjectApprovalDecided, &igav1.ApprovalDecided{Approval: a},
			"approval-decided-"+id, a.GetRequestId(), cause); err != nil {
			return err
		}
		return s.deny(ctx, a.GetRequestId(), req, a.GetReason(), nil, "approval", cause)
	case igav1.ApprovalStatus_APPROVAL_STATUS_WITHDRAWN:
		return s.announceWithdrawn(ctx, a, req, cause)
	default:
		return bus.Permanent(fmt.Errorf("approval %s has no status", id))
	}
}

// deny publishes RequestDenied and tells the requester (req may be nil) why and what
// would change it.
func (s *Service) deny(ctx context.Context, id string, req *igav1.AccessRequest, reason string, remediation []string, by string, cause []bus.PublishOption) error {
	if err := s.publish(ctx, SubjectRequestDenied, &igav1.RequestDenied{RequestId: id, Reason: reason, By: by},
		"request-denied-"+id, id, cause); err != nil {
		return err
	}
	text := fmt.Sprintf("Your request for %s was denied: %s.", s.entitlementName(req.GetEntitlementId()), trimDot(reason))
	if by == "approval" {
		text = fmt.Sprintf("Your request for %s was not approved. %s.", s.entitlementName(req.GetEntitlementId()), trimDot(reason))
	}
	if len(remediation) > 0 {
		text += " To become eligible: " + trimDot(strings.Join(remediation, "; ")) + "."
	}
	return s.notify(ctx, req, "reply-denied-"+id, text, cause)
}

// commandGrant asks the provisioner to execute a request's access. The provisioner checks
// the recorded decision and approval itself; this message is only the trigger.
func (s *Service) commandGrant(ctx context.Context, requestID string, cause []bus.PublishOption) error {
	return s.publish(ctx, SubjectProvisionGrant, &igav1.ProvisionGrant{RequestId: requestID}, "grant-cmd-"+requestID, requestID, cause)
}

func (s *Service) publish(ctx context.Context, subject string, body proto.Message, id, requestID string, cause []bus.PublishOption) error {
	opts := append([]bus.PublishOption{bus.WithID(id), bus.WithRequestID(requestID)}, cause...)
	if _, err := s.bus.Publish(ctx, subject, body, opts...); err != nil {
		return fmt.Errorf("request %s: %w", requestID, err)
	}
	return nil
}

// notify sends a NOTICE to the conversation the request came from, when there is one.
func (s *Service) notify(ctx context.Context, req *igav1.AccessRequest, id, text string, cause []bus.PublishOption) error {
	if req == nil || req.GetChannel() == "" || req.GetConversationId() == "" {
		return nil
	}
	if !validTokens(req.GetChannel()) || !validTokens(req.GetConversationId()) {
		s.log.Warn("request's conversation cannot be a reply subject; not notifying", "request_id", req.GetId(),
			"channel", req.GetChannel(), "conversation_id", req.GetConversationId())
		return nil
	}
	r := &igav1.Reply{
		ReplyId: id, ConversationId: req.GetConversationId(), Channel: req.GetChannel(),
		PersonEmail: req.GetRequesterEmail(), Kind: igav1.ReplyKind_REPLY_KIND_NOTICE, Text: text,
		RequestId: req.GetId(), SentAt: timestamppb.New(s.now()),
	}
	return s.publish(ctx, "iga.reply."+req.GetChannel()+"."+req.GetConversationId(), r, id, req.GetId(), cause)
}

// waitingText tells the requester who they wait for, naming the stage's approvers by role.
func (s *Service) waitingText(a *igav1.Approval) string {
	done, who := s.waitingFor(a)
	if len(done) > 0 {
		return fmt.Sprintf("Approved by %s. Now waiting for approval from %s.", strings.Join(done, ", "), who)
	}
	return fmt.Sprintf("Waiting for approval from %s.", who)
}

// waitingFor names who approved so far and who the current stage waits for, by role.
func (s *Service) waitingFor(a *igav1.Approval) (done []string, who string) {
	snap := s.dir.Snapshot()
	if st, err := workflow.RouteStage(snap, workflow.PartiesOfApproval(a), a.GetSteps(), a.GetCurrentStage()); err == nil &&
		sameSet(st.Approvers(), a.GetApprovers()) {
		who = st.Waiting()
		for _, step := range st.Steps {
			if step.Escalation != "" {
				who += " (" + step.Escalation + ")"
			}
		}
	} else {
		names := make([]string, len(a.GetApprovers()))
		for i, e := range a.GetApprovers() {
			names[i] = workflow.NameOf(snap, e)
		}
		who = strings.Join(names, ", ")
	}
	for _, v := range a.GetVotes() {
		if v.GetApproved() {
			done = append(done, workflow.NameOf(snap, v.GetApproverEmail()))
		}
	}
	return done, who
}

// entitlementName is "Snowflake analyst" for "snowflake:analyst", or the id.
func (s *Service) entitlementName(id string) string {
	snap := s.dir.Snapshot()
	ent, ok := snap.Entitlement(id)
	if !ok {
		if id == "" {
			return "access"
		}
		return id
	}
	if app, ok := snap.App(ent.GetAppId()); ok && app.GetName() != "" {
		return app.GetName() + " " + ent.GetName()
	}
	return id
}

// request loads a request record; nil when it is missing.
func (s *Service) request(ctx context.Context, id string) (*igav1.AccessRequest, error) {
	req, _, err := s.requests.Get(ctx, id)
	if errors.Is(err, bus.ErrNotFound) {
		return nil, nil
	}
	return req, err
}

func trimDot(s string) string { return strings.TrimRight(strings.TrimSpace(s), ".") }

// validTokens reports whether s can be subject tokens: no wildcards, spaces or empty tokens.
func validTokens(s string) bool {
	if strings.ContainsAny(s, "*> \t\r\n") {
		return false
	}
	for _, t := range strings.Split(s, ".") {
		if t == "" {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}
