package approval

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/approval/workflow"
)

// A break-glass grant is given at once and reviewed after the fact. The review is an
// approval record of kind APPROVAL_KIND_BREAK_GLASS_REVIEW, stored under the request's id
// in iga_approvals like any approval and routed the same way from the decision's
// review_steps (security when it names none): stages, quorum, reminders, escalation,
// delegation, and the rule that requester and beneficiary never decide. Confirming it
// closes the review; rejecting it, or leaving it unreviewed past its last timeout, revokes
// the grant at once. Reviews have subjects of their own, so an ITSM or SIEM consumer of
// iga.evt.approval.> never mistakes a review for an approval that gates a grant.
const (
	SubjectReviewRequested = "iga.evt.approval.review.requested"
	SubjectReviewReminded  = "iga.evt.approval.review.reminded"
	SubjectReviewDecided   = "iga.evt.approval.review.decided"
	SubjectProvisionRevoke = "iga.cmd.provision.revoke"
	SubjectGrantActive     = "iga.evt.grant.active"

	// DurableGrants follows grants becoming active, to revoke one whose review was
	// rejected before the provisioner had recorded it.
	DurableGrants = "approval-grants"
)

// breakGlassRule is the matched-rule id policy gives the emergency path.
const breakGlassRule = "break-glass"

// IsBreakGlass reports whether a decision allowed its request through the emergency path,
// so the grant must be reviewed after the fact.
func IsBreakGlass(d *igav1.PolicyDecision) bool {
	if d.GetEffect() != igav1.Effect_EFFECT_ALLOW {
		return false
	}
	if len(d.GetReviewSteps()) > 0 {
		return true
	}
	for _, m := range d.GetMatchedRules() {
		if m.GetRuleId() == breakGlassRule {
			return true
		}
	}
	return false
}

// IsReview reports whether an approval is the after-the-fact review of an emergency grant.
func IsReview(a *igav1.Approval) bool {
	return a.GetKind() == igav1.ApprovalKind_APPROVAL_KIND_BREAK_GLASS_REVIEW
}

// reviewSteps are who reviews an emergency grant. A decision recorded before policy named
// reviewers still gets one: security.
func reviewSteps(d *igav1.PolicyDecision) []*igav1.ApprovalStep {
	if steps := d.GetReviewSteps(); len(steps) > 0 {
		return steps
	}
	return []*igav1.ApprovalStep{{Kind: igav1.ApproverKind_APPROVER_KIND_SECURITY, Stage: 1, Quorum: 1}}
}

// refused reports whether a review was refused when it would have opened, because nobody
// may review it; then no grant was ever commanded. A rejection always carries its vote.
func refused(a *igav1.Approval) bool {
	return a.GetStatus() == igav1.ApprovalStatus_APPROVAL_STATUS_DENIED && len(a.GetVotes()) == 0
}

// openReview handles a break-glass allow: it stores the review (once), commands the grant,
// tells the requester and asks the reviewers. An emergency nobody may review is denied
// instead: the review is never skipped. On redelivery every step repeats with the same
// ids, and a review already rejected or expired commands no grant.
func (s *Service) openReview(ctx context.Context, req *igav1.AccessRequest, dec *igav1.PolicyDecision, cause []bus.PublishOption) error {
	id := req.GetId()
	snap := s.dir.Snapshot()
	routed := proto.Clone(dec).(*igav1.PolicyDecision)
	routed.ApprovalSteps = reviewSteps(dec)
	a, err := s.approvals.Update(ctx, id, true, func(cur *igav1.Approval) (*igav1.Approval, error) {
		if cur != nil {
			return nil, bus.ErrNoChange
		}
		var a *igav1.Approval
		if stages, err := workflow.Route(snap, workflow.PartiesOf(req), routed.GetApprovalSteps()); err != nil {
			a = workflow.Refuse(req, routed, "Denied because no one may review this emergency access after the fact: "+err.Error(), s.now())
		} else {
			a = workflow.Open(req, routed, stages[0], s.now())
		}
		a.Kind = igav1.ApprovalKind_APPROVAL_KIND_BREAK_GLASS_REVIEW
		return a, nil
	})
	if err != nil {
		return fmt.Errorf("store review %s: %w", id, err)
	}
	if !IsReview(a) {
		return bus.Permanent(fmt.Errorf("request %s was allowed as an emergency but holds an approval that is not its review", id))
	}
	log := s.log.With("request_id", id, "status", a.GetStatus().String())
	switch a.GetStatus() {
	case igav1.ApprovalStatus_APPROVAL_STATUS_PENDING, igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED:
		log.Warn("break-glass access allowed; commanding the grant and opening its after-the-fact review",
			"beneficiary", req.GetBeneficiaryEmail(), "entitlement", req.GetEntitlementId(), "reviewers", a.GetApprovers())
		if err := s.commandGrant(ctx, id, cause); err != nil {
			return err
		}
		if err := s.notify(ctx, req, "reply-policy-allowed-"+id, trimDot(dec.GetReason())+". Provisioning now.", cause); err != nil {
			return err
		}
	case igav1.ApprovalStatus_APPROVAL_STATUS_DENIED:
		if refused(a) {
			log.Warn("break-glass request denied: nobody may review it", "reason", a.GetReason())
		}
	}
	return s.announceReview(ctx, a, req, dec, cause)
}

// announceReview publishes what a review's stored state means: reviewers are asked
// (pending), the review is closed (confirmed), or the grant is revoked (rejected,
// expired). Ids derive from the review and its stage, as in announce, so announcing a
// state twice publishes nothing new. dec may be nil (it is read from the store then); req
// may be nil when the request record is missing.
func (s *Service) announceReview(ctx context.Context, a *igav1.Approval, req *igav1.AccessRequest, dec *igav1.PolicyDecision, cause []bus.PublishOption) error {
	id, entitlement := a.GetId(), s.entitlementName(a.GetEntitlementId())
	switch st := a.GetStatus(); {
	case st == igav1.ApprovalStatus_APPROVAL_STATUS_PENDING:
		if err := s.askReviewers(ctx, SubjectReviewRequested, fmt.Sprintf("review-requested-%s-%d", id, a.GetCurrentStage()), a, req, dec, cause); err != nil {
			return err
		}
		if err := s.notify(ctx, req, fmt.Sprintf("reply-review-pending-%s-%d", id, a.GetCurrentStage()), s.reviewWaitingText(a), cause); err != nil {
			return err
		}
		return s.armStage(ctx, a)
	case refused(a):
		return s.deny(ctx, a.GetRequestId(), req, a.GetReason(),
			[]string{"ask the directory team to staff the security group (or the missing reviewer), then ask again"}, "approval", cause)
	case st == igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED:
		s.disarm(ctx, id)
		s.log.Info("break-glass review confirmed", "request_id", a.GetRequestId(), "by", confirmers(s.dir.Snapshot(), a))
		if err := s.publish(ctx, SubjectReviewDecided, &igav1.BreakGlassReviewDecided{Review: a, GrantId: GrantID(a.GetRequestId())},
			"review-decided-"+id, a.GetRequestId(), cause); err != nil {
			return err
		}
		return s.notify(ctx, req, "reply-review-confirmed-"+id,
			fmt.Sprintf("The review of your emergency access to %s is closed: confirmed by %s.", entitlement, confirmers(s.dir.Snapshot(), a)), cause)
	case st == igav1.ApprovalStatus_APPROVAL_STATUS_DENIED, st == igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED:
		s.disarm(ctx, id)
		reason := reviewRevokeReason(s.dir.Snapshot(), a)
		revoking, _, err := s.revokeReviewed(ctx, a, reason, "review-revoke-"+GrantID(a.GetRequestId()), cause)
		if err != nil {
			return err
		}
		s.log.Warn("break-glass review ended without confirmation; revoking the grant", "request_id", a.GetRequestId(),
			"status", st.String(), "reason", a.GetReason(), "revoke_commanded", revoking)
		if err := s.publish(ctx, SubjectReviewDecided, &igav1.BreakGlassReviewDecided{Review: a, GrantId: GrantID(a.GetRequestId()), RevokeCommanded: revoking},
			"review-decided-"+id, a.GetRequestId(), cause); err != nil {
			return err
		}
		text := fmt.Sprintf("Your emergency access to %s was rejected in its after-the-fact review. %s. ", entitlement, trimDot(a.GetReason()))
		if st == igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED {
			text = fmt.Sprintf("Nobody confirmed your emergency access to %s in its after-the-fact review (%s). ", entitlement, trimDot(a.GetReason()))
		}
		if revoking {
			text += "It is being revoked now."
		} else {
			text += "It is not active now; if it is granted after all, it is revoked at once."
		}
		return s.notify(ctx, req, "reply-review-rejected-"+id, text, cause)
	default:
		return bus.Permanent(fmt.Errorf("review %s has no status", id))
	}
}

// askReviewers publishes the review with its request and decision, so a consumer sees
// what the emergency was without reading our stores.
func (s *Service) askReviewers(ctx context.Context, subject, eventID string, a *igav1.Approval, req *igav1.AccessRequest, dec *igav1.PolicyDecision, cause []bus.PublishOption) error {
	if dec == nil {
		var err error
		if dec, err = optional(s.decisions.Get(ctx, a.GetRequestId())); err != nil {
			return fmt.Errorf("review %s: %w", a.GetId(), err)
		}
	}
	return s.publish(ctx, subject, &igav1.BreakGlassReviewRequested{Review: a, Request: req, Decision: dec}, eventID, a.GetRequestId(), cause)
}

// revokeReviewed commands the revocation of the grant a rejected or expired review is
// about, when the ledger holds it active (or half-granted), and reports whether it did.
// revoking is also set when an earlier attempt already revoked the grant for this review.
// A grant not in the ledger yet is revoked when it becomes active (handleGrantActive).
// The command carries no generation: an extension of the grant does not save it.
func (s *Service) revokeReviewed(ctx context.Context, a *igav1.Approval, reason, commandID string, cause []bus.PublishOption) (revoking, commanded bool, err error) {
	gid := GrantID(a.GetRequestId())
	g, err := optional(s.grants.Get(ctx, gid))
	if err != nil {
		return false, false, fmt.Errorf("review %s: read grant %s: %w", a.GetId(), gid, err)
	}
	switch g.GetStatus() {
	case igav1.GrantStatus_GRANT_STATUS_ACTIVE, igav1.GrantStatus_GRANT_STATUS_PENDING:
		if err := s.publish(ctx, SubjectProvisionRevoke, &igav1.ProvisionRevoke{GrantId: gid, Reason: reason}, commandID, a.GetRequestId(), cause); err != nil {
			return false, false, err
		}
		return true, true, nil
	case igav1.GrantStatus_GRANT_STATUS_REVOKED:
		return strings.HasPrefix(g.GetRevokeReason(), reason), false, nil
	}
	return false, false, nil
}

// handleGrantActive revokes a grant that became active after its review was already
// rejected or had expired: a reviewer may reject an emergency before the provisioner has
// recorded it. Anything else passes. The command id is the one a rejection uses, so the
// two paths racing each other command one revoke; a grant revoked while it was being
// granted stays revoked (the provisioner refuses to activate it), so one is enough.
func (s *Service) handleGrantActive(ctx context.Context, m bus.Meta, ev *igav1.GrantChanged) error {
	g := ev.GetGrant()
	if g.GetRequestId() == "" || g.GetId() != GrantID(g.GetRequestId()) {
		return nil // imported access, or not a request's grant
	}
	a, _, err := s.approvals.Get(ctx, g.GetRequestId())
	if errors.Is(err, bus.ErrNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil
	}
	if err != nil {
		return err
	}
	if !IsReview(a) || refused(a) || (a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_DENIED && a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED) {
		return nil
	}
	_, commanded, err := s.revokeReviewed(ctx, a, reviewRevokeReason(s.dir.Snapshot(), a), "review-revoke-"+g.GetId(), []bus.PublishOption{bus.CausedBy(m)})
	if err == nil && commanded {
		s.log.Warn("emergency grant became active after its review ended unconfirmed; revoking it", "request_id", a.GetRequestId(), "grant_id", g.GetId())
	}
	return err
}

// reviewRevokeReason is the grant's revoke reason, naming who rejected it: "break-glass
// review rejected by Lee Kim: not an incident".
func reviewRevokeReason(snap *directory.Snapshot, a *igav1.Approval) string {
	if a.GetStatus() == igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED {
		return "break-glass review expired unreviewed"
	}
	for _, v := range a.GetVotes() {
		if !v.GetApproved() {
			reason := "break-glass review rejected by " + workflow.NameOf(snap, v.GetApproverEmail())
			if r := strings.TrimSpace(v.GetReason()); r != "" {
				reason += ": " + r
			}
			return reason
		}
	}
	return "break-glass review rejected"
}

// confirmers names who confirmed a review.
func confirmers(snap *directory.Snapshot, a *igav1.Approval) string {
	var by []string
	for _, v := range a.GetVotes() {
		if v.GetApproved() {
			by = append(by, v.GetApproverEmail())
		}
	}
	return joinNames(snap, by)
}

// reviewWaitingText tells the requester who reviews their emergency access now.
func (s *Service) reviewWaitingText(a *igav1.Approval) string {
	done, who := s.waitingFor(a)
	text := fmt.Sprintf("Your emergency access will be reviewed after the fact by %s; if they reject it, it is revoked at once.", who)
	if len(done) > 0 {
		text = fmt.Sprintf("Confirmed in review by %s. ", strings.Join(done, ", ")) + text
	}
	return text
}

// repairReview finishes what a crash may have left of a review that ended: a rejected or
// expired review whose grant is still active gets its revoke command again.
func (s *Service) repairReview(ctx context.Context, a *igav1.Approval) error {
	switch a.GetStatus() {
	case igav1.ApprovalStatus_APPROVAL_STATUS_DENIED, igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED:
		if refused(a) {
			return nil
		}
		_, commanded, err := s.revokeReviewed(ctx, a, reviewRevokeReason(s.dir.Snapshot(), a), "review-revoke-"+GrantID(a.GetRequestId()), nil)
		if err == nil && commanded {
			s.log.Info("repair: revoking the grant of a rejected break-glass review", "request_id", a.GetRequestId())
		}
		return err
	}
	return nil
}
