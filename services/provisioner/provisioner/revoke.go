package provisioner

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/provisioner/connector"
)

// handleRevoke executes a revoke command: stale generations and grants no longer active
// are acknowledged and ignored; otherwise the connector removes the access, the target is
// read back, the ledger records REVOKED, grant.revoked is published and the requester told.
func (s *Service) handleRevoke(ctx context.Context, m bus.Meta, cmd *igav1.ProvisionRevoke) error {
	id := strings.TrimSpace(cmd.GetGrantId())
	if id == "" {
		return bus.Permanent(errors.New("revoke command names no grant"))
	}
	reason := strings.TrimSpace(cmd.GetReason())
	if reason == "" {
		reason = "revoked"
	}
	g, _, err := s.grants.Get(ctx, id)
	if errors.Is(err, bus.ErrNotFound) {
		return bus.Permanent(fmt.Errorf("revoke %s: no such grant in the ledger", id))
	}
	if err != nil {
		return err
	}
	log := s.log.With("grant_id", id, "request_id", g.GetRequestId(), "reason", reason)
	if cmd.GetGeneration() > 0 && cmd.GetGeneration() != g.GetGeneration() {
		log.Info("ignoring stale revoke", "command_generation", cmd.GetGeneration(), "ledger_generation", g.GetGeneration())
		return nil
	}
	switch g.GetStatus() {
	case igav1.GrantStatus_GRANT_STATUS_REVOKED:
		// Done before; make sure the access is gone and the event went out (same id: the
		// server drops a duplicate), and the notice when an earlier attempt of this
		// command may have stopped before it.
		if m.Deliveries > 1 {
			if err := s.ensureRevokedAtTarget(ctx, g); err != nil {
				return fmt.Errorf("revoke %s: %w", id, err)
			}
		}
		return s.announceRevoked(ctx, m, g, m.Deliveries > 1)
	case igav1.GrantStatus_GRANT_STATUS_ACTIVE, igav1.GrantStatus_GRANT_STATUS_PENDING:
		// PENDING: a grant interrupted mid-way may have reached the target; remove it too.
	default:
		log.Info("grant is not active; nothing to revoke", "status", g.GetStatus())
		return nil
	}

	person, ent := s.person(g.GetPersonEmail()), s.entitlement(g.GetEntitlementId())
	ent.Method = methodOfGrant(g, ent.Method)
	note := ""
	if other, ok := s.otherActiveGrant(g); ok {
		// Another grant still gives the same access: the target keeps it, only this
		// grant ends.
		note = " (access continues under grant " + other.GetId() + ")"
		log.Info("another grant covers the same access; leaving the target as it is", "other_grant_id", other.GetId())
		return s.markRevoked(ctx, m, id, reason+note)
	}
	conn, err := s.connectorFor(ent.Method)
	if err != nil {
		return bus.Permanent(fmt.Errorf("revoke %s: %w", id, err))
	}
	switch err := conn.Revoke(ctx, person, ent); {
	case errors.Is(err, connector.ErrPending):
		// A person removes it; the ledger records the revocation decision now so the
		// grant stops counting as access, and the task is the follow-up.
		note = " (manual removal task raised)"
	case err != nil:
		log.Warn("connector revoke failed", "err", err, "delivery", m.Deliveries)
		if connector.IsPermanent(err) {
			return bus.Permanent(fmt.Errorf("revoke %s: %w", id, err))
		}
		return fmt.Errorf("revoke %s: %w", id, err)
	default:
		if err := verifyPresent(ctx, conn, person, ent, false); err != nil {
			log.Warn("revoke not confirmed by the target", "err", err, "delivery", m.Deliveries)
			return fmt.Errorf("revoke %s: %w", id, err)
		}
	}
	log.Info("access removed at the target")
	if g, err = s.recordRevoked(ctx, id, reason+note); err != nil {
		return err
	}
	// A reconciliation restoring this grant's access may have put it back between the
	// removal and the record (see restore): read the target once more.
	if err := s.ensureRemoved(ctx, g, conn, person, ent); err != nil {
		return fmt.Errorf("revoke %s: %w", id, err)
	}
	return s.announceRevoked(ctx, m, g, true)
}

// ensureRevokedAtTarget is ensureRemoved for a grant's own connector.
func (s *Service) ensureRevokedAtTarget(ctx context.Context, g *igav1.Grant) error {
	person, ent := s.person(g.GetPersonEmail()), s.entitlement(g.GetEntitlementId())
	ent.Method = methodOfGrant(g, ent.Method)
	conn, err := s.connectorFor(ent.Method)
	if err != nil {
		return nil // nothing here can read it back
	}
	return s.ensureRemoved(ctx, g, conn, person, ent)
}

// markRevoked records the grant REVOKED and announces it.
func (s *Service) markRevoked(ctx context.Context, m bus.Meta, id, reason string) error {
	g, err := s.recordRevoked(ctx, id, reason)
	if err != nil {
		return err
	}
	return s.announceRevoked(ctx, m, g, true)
}

// recordRevoked records the grant REVOKED in the ledger.
func (s *Service) recordRevoked(ctx context.Context, id, reason string) (*igav1.Grant, error) {
	g, err := s.grants.Update(ctx, id, false, func(cur *igav1.Grant) (*igav1.Grant, error) {
		if cur.GetStatus() == igav1.GrantStatus_GRANT_STATUS_REVOKED {
			return cur, bus.ErrNoChange
		}
		cur.Status = igav1.GrantStatus_GRANT_STATUS_REVOKED
		cur.RevokedAt = timestamppb.New(s.now().UTC())
		cur.RevokeReason = reason
		return cur, nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", id, err)
	}
	s.log.Info("grant revoked", "grant_id", id, "reason", g.GetRevokeReason())
	return g, nil
}

// otherActiveGrant finds another current grant of the same access to the same person.
func (s *Service) otherActiveGrant(g *igav1.Grant) (*igav1.Grant, bool) {
	now := s.now()
	others := s.ledger.list(g.GetPersonEmail(), func(o *igav1.Grant) bool {
		return o.GetId() != g.GetId() && o.GetEntitlementId() == g.GetEntitlementId() && isActive(o, now)
	})
	if len(others) == 0 {
		return nil, false
	}
	return others[0], true
}

// methodOfGrant is the connector that granted the access; it also removes it.
func methodOfGrant(g *igav1.Grant, fallback connector.Method) connector.Method {
	if g.GetConnector() == igav1.ProvisioningMethod_PROVISIONING_METHOD_UNSPECIFIED {
		return fallback
	}
	return methodOf(g.GetConnector())
}

// announceRevoked publishes grant.revoked and, when tell is set, tells the requester.
func (s *Service) announceRevoked(ctx context.Context, m bus.Meta, g *igav1.Grant, tell bool) error {
	if _, err := s.bus.Publish(ctx, SubjectGrantRevoked, &igav1.GrantChanged{Grant: g},
		bus.WithID("grant-revoked-"+g.GetId()), bus.WithRequestID(g.GetRequestId()), bus.CausedBy(m)); err != nil {
		return err
	}
	if !tell || g.GetRequestId() == "" { // imported access has no request, so no conversation
		return nil
	}
	req, _, err := s.requests.Get(ctx, g.GetRequestId())
	if errors.Is(err, bus.ErrNotFound) {
		return nil // no conversation to tell
	}
	if err != nil {
		return err
	}
	text := fmt.Sprintf("Your access to %s was removed: %s.", s.accessName(g.GetEntitlementId()), g.GetRevokeReason())
	if !strings.EqualFold(g.GetPersonEmail(), req.GetRequesterEmail()) {
		text = fmt.Sprintf("%s's access to %s was removed: %s.", g.GetPersonEmail(), s.accessName(g.GetEntitlementId()), g.GetRevokeReason())
	}
	return s.notify(ctx, m, req, "reply-grant-revoked-"+g.GetId(), text)
}
