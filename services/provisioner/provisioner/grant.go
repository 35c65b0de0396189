package provisioner

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/provisioner/connector"
)

// GrantID is the ledger id of the grant a request produces.
func GrantID(requestID string) string { return "g-" + requestID }

// handleGrant executes a grant command: records re-checked, ledger PENDING, connector,
// read-back, ledger ACTIVE, grant.active, a notice to the requester.
func (s *Service) handleGrant(ctx context.Context, m bus.Meta, cmd *igav1.ProvisionGrant) error {
	a, err := s.authorize(ctx, cmd.GetRequestId())
	if err != nil {
		if errors.Is(err, ErrNotAuthorized) {
			s.log.Warn("refusing grant command", "request_id", cmd.GetRequestId(), "reason", err)
		}
		return err
	}
	if ext := a.request.GetExtendsGrantId(); ext != "" {
		done, err := s.extend(ctx, m, a, ext)
		if done || err != nil {
			return err
		}
		// The grant to extend has ended: this request becomes a grant of its own.
	}

	id := GrantID(a.request.GetId())
	person, ent := s.target(a)
	g, err := s.grants.Update(ctx, id, true, func(cur *igav1.Grant) (*igav1.Grant, error) {
		if cur == nil {
			return &igav1.Grant{Id: id, RequestId: a.request.GetId(), PersonEmail: person.Email,
				EntitlementId: ent.ID, AppId: ent.AppID, Status: igav1.GrantStatus_GRANT_STATUS_PENDING,
				Connector: protoMethod(ent.Method)}, nil
		}
		switch cur.GetStatus() {
		case igav1.GrantStatus_GRANT_STATUS_ACTIVE, igav1.GrantStatus_GRANT_STATUS_REVOKED:
			return cur, bus.ErrNoChange
		case igav1.GrantStatus_GRANT_STATUS_PENDING:
			return cur, bus.ErrNoChange
		}
		// FAILED before: a new command for the request is a new attempt.
		cur.Status, cur.Failure = igav1.GrantStatus_GRANT_STATUS_PENDING, ""
		return cur, nil
	})
	if err != nil {
		return fmt.Errorf("ledger %s: %w", id, err)
	}
	log := s.log.With("grant_id", id, "request_id", a.request.GetId(), "person", person.Email, "entitlement", ent.ID)
	switch g.GetStatus() {
	case igav1.GrantStatus_GRANT_STATUS_ACTIVE:
		// Already done (a redelivered or repeated command): republish, change nothing.
		log.Info("grant already active; republishing grant.active")
		return s.announceActive(ctx, m, g, a.request, m.Deliveries > 1)
	case igav1.GrantStatus_GRANT_STATUS_REVOKED:
		log.Info("grant was already revoked; a repeated command does not grant again")
		return nil
	}

	ent.Method = methodOfGrant(g, ent.Method) // the connector the ledger recorded
	conn, err := s.connectorFor(ent.Method)
	if err != nil {
		return s.failOrRetry(ctx, m, g, a.request, err)
	}
	ref, err := conn.Grant(ctx, person, ent)
	if errors.Is(err, connector.ErrPending) {
		return s.grantPending(ctx, m, g, a, ref)
	}
	if err != nil {
		log.Warn("connector grant failed", "connector", ent.Method, "err", err, "delivery", m.Deliveries)
		return s.failOrRetry(ctx, m, g, a.request, err)
	}
	if err := verifyPresent(ctx, conn, person, ent, true); err != nil {
		log.Warn("grant not confirmed by the target", "err", err, "delivery", m.Deliveries)
		return s.failOrRetry(ctx, m, g, a.request, err)
	}
	g, err = s.activate(ctx, id, a, ref)
	if err != nil {
		return err
	}
	log.Info("grant active", "expires_at", g.GetExpiresAt().AsTime(), "generation", g.GetGeneration(), "external_ref", ref)
	return s.announceActive(ctx, m, g, a.request, true)
}

// verifyPresent reads the target back and checks the access is (or is not) there.
func verifyPresent(ctx context.Context, conn connector.Connector, p connector.Person, e connector.Entitlement, want bool) error {
	present, err := conn.Verify(ctx, p, e)
	if errors.Is(err, connector.ErrNotVerifiable) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read back %s for %s: %w", e.ID, p.Email, err)
	}
	if present != want {
		if want {
			return fmt.Errorf("the target does not show %s holding %s after the grant", p.Email, e.ID)
		}
		return fmt.Errorf("the target still shows %s holding %s after the revoke", p.Email, e.ID)
	}
	return nil
}

// activate records the grant ACTIVE: granted now, expiring after the granted duration,
// generation 1. A grant already active is returned unchanged.
func (s *Service) activate(ctx context.Context, id string, a *authorized, ref string) (*igav1.Grant, error) {
	g, err := s.grants.Update(ctx, id, false, func(cur *igav1.Grant) (*igav1.Grant, error) {
		if cur.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE {
			return cur, bus.ErrNoChange
		}
		if cur.GetStatus() == igav1.GrantStatus_GRANT_STATUS_REVOKED {
			return nil, bus.Permanent(fmt.Errorf("grant %s was revoked while it was being granted", id))
		}
		now := s.now().UTC()
		cur.Status = igav1.GrantStatus_GRANT_STATUS_ACTIVE
		cur.GrantedAt = timestamppb.New(now)
		cur.ExpiresAt = timestamppb.New(now.Add(a.duration))
		cur.Generation = max(cur.GetGeneration()+1, 1)
		cur.Failure = ""
		if ref != "" {
			cur.ExternalRef = ref
		}
		return cur, nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", id, err)
	}
	return g, nil
}

// grantPending records a change a person completes later (a manual task).
func (s *Service) grantPending(ctx context.Context, m bus.Meta, g *igav1.Grant, a *authorized, ref string) error {
	g, err := s.grants.Update(ctx, g.GetId(), false, func(cur *igav1.Grant) (*igav1.Grant, error) {
		if cur.GetExternalRef() == ref {
			return cur, bus.ErrNoChange
		}
		cur.ExternalRef = ref
		return cur, nil
	})
	if err != nil {
		return fmt.Errorf("ledger %s: %w", g.GetId(), err)
	}
	_, ent := s.target(a)
	s.log.Info("grant awaits a manual task", "grant_id", g.GetId(), "task_id", ref, "assignee", ent.OwnerEmail)
	text := fmt.Sprintf("%s is provisioned by hand: I asked %s to grant %s (task %s). I'll tell you when it's done.",
		ent.AppName, ent.OwnerEmail, s.accessName(g.GetEntitlementId()), ref)
	return s.notify(ctx, m, a.request, "reply-grant-pending-"+g.GetId(), text)
}

// extend moves an active grant's expiry for an extension request and bumps its
// generation. The new expiry is counted from when the extension was decided, so a
// redelivered command computes the same expiry and changes nothing. It reports false when
// the grant has ended and the request should be granted afresh.
func (s *Service) extend(ctx context.Context, m bus.Meta, a *authorized, grantID string) (bool, error) {
	old, _, err := s.grants.Get(ctx, grantID)
	if errors.Is(err, bus.ErrNotFound) {
		return true, refuse("request %s extends grant %s, which is not in the ledger", a.request.GetId(), grantID)
	}
	if err != nil {
		return true, err
	}
	if !strings.EqualFold(old.GetPersonEmail(), a.person.GetEmail()) || old.GetEntitlementId() != a.ent.GetId() {
		return true, refuse("request %s extends grant %s, which is other access", a.request.GetId(), grantID)
	}
	if old.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE {
		return false, nil
	}
	until := timestamppb.New(a.decidedAt().Add(a.duration))
	g, err := s.grants.Update(ctx, grantID, false, func(cur *igav1.Grant) (*igav1.Grant, error) {
		if cur.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE || !until.AsTime().After(cur.GetExpiresAt().AsTime()) {
			return cur, bus.ErrNoChange
		}
		cur.ExpiresAt = until
		cur.Generation++
		return cur, nil
	})
	if err != nil {
		return true, fmt.Errorf("ledger %s: %w", grantID, err)
	}
	if g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE {
		return false, nil
	}
	changed := g.GetGeneration() != old.GetGeneration()
	s.log.Info("grant extension", "grant_id", grantID, "request_id", a.request.GetId(), "changed", changed,
		"expires_at", g.GetExpiresAt().AsTime(), "generation", g.GetGeneration())
	return true, s.announceActive(ctx, m, g, a.request, changed || m.Deliveries > 1)
}

// failOrRetry retries a failed execution by redelivery; on the last attempt, or when
// retrying cannot help, it records the grant FAILED, publishes grant.failed and tells the
// requester, then dead-letters the command.
func (s *Service) failOrRetry(ctx context.Context, m bus.Meta, g *igav1.Grant, req *igav1.AccessRequest, cause error) error {
	if !connector.IsPermanent(cause) && m.Deliveries < uint64(s.cfg.MaxAttempts) {
		return cause
	}
	g, err := s.grants.Update(ctx, g.GetId(), false, func(cur *igav1.Grant) (*igav1.Grant, error) {
		if cur.GetStatus() != igav1.GrantStatus_GRANT_STATUS_PENDING {
			return cur, bus.ErrNoChange
		}
		cur.Status = igav1.GrantStatus_GRANT_STATUS_FAILED
		cur.Failure = cause.Error()
		return cur, nil
	})
	if err != nil {
		return fmt.Errorf("ledger %s: %w (after: %w)", g.GetId(), err, cause)
	}
	if g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_FAILED {
		// Completed by a concurrent attempt meanwhile: nothing failed after all.
		return bus.Permanent(fmt.Errorf("grant %s is %s; dropping this attempt: %w", g.GetId(), g.GetStatus(), cause))
	}
	s.log.Error("grant failed", "grant_id", g.GetId(), "request_id", req.GetId(), "err", cause, "deliveries", m.Deliveries)
	if _, err := s.bus.Publish(ctx, SubjectGrantFailed, &igav1.GrantChanged{Grant: g},
		bus.WithID("grant-failed-"+g.GetId()), bus.WithRequestID(req.GetId()), bus.CausedBy(m)); err != nil {
		return err
	}
	text := fmt.Sprintf("I couldn't grant %s: the target system did not accept the change. IT has been alerted (grant %s); nothing was granted.",
		s.accessName(g.GetEntitlementId()), g.GetId())
	if err := s.notify(ctx, m, req, "reply-grant-failed-"+g.GetId(), text); err != nil {
		return err
	}
	return bus.Permanent(fmt.Errorf("grant %s failed: %w", g.GetId(), cause))
}

// announceActive publishes grant.active for the grant's generation and, when tell is set,
// tells the requester. Consumers of the event are idempotent and the server drops a
// duplicate id, so the event is always republished; the notice only when this change is
// new or the command is being redelivered (an earlier attempt may have stopped before
// it), so a command repeated long after does not notify twice.
func (s *Service) announceActive(ctx context.Context, m bus.Meta, g *igav1.Grant, req *igav1.AccessRequest, tell bool) error {
	gen := g.GetGeneration()
	if _, err := s.bus.Publish(ctx, SubjectGrantActive, &igav1.GrantChanged{Grant: proto.Clone(g).(*igav1.Grant)},
		bus.WithID(fmt.Sprintf("grant-active-%s-%d", g.GetId(), gen)), bus.WithRequestID(req.GetId()), bus.CausedBy(m)); err != nil {
		return err
	}
	if !tell {
		return nil
	}
	verb := "Granted"
	if gen > 1 {
		verb = "Extended"
	}
	who := ""
	if !strings.EqualFold(g.GetPersonEmail(), req.GetRequesterEmail()) {
		who = " to " + g.GetPersonEmail()
	}
	text := fmt.Sprintf("%s %s%s until %s. It will be removed automatically then; ask me if you need it longer or want to give it up early.",
		verb, s.accessName(g.GetEntitlementId()), who, s.when(g.GetExpiresAt().AsTime(), g.GetPersonEmail()))
	return s.notify(ctx, m, req, fmt.Sprintf("reply-grant-active-%s-%d", g.GetId(), gen), text)
}
