package provisioner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/provisioner/connector"
)

// Drift kinds.
const (
	DriftExpiredPresent  = "expired_present"  // held past the grant's expiry: revoked
	DriftUnmanagedMember = "unmanaged_member" // never granted by iga: reported
	DriftMissingMember   = "missing_member"   // granted and current, absent at the target: restored
)

// Drift is one difference between the ledger and the SCIM target.
type Drift struct {
	Kind          string // DriftExpiredPresent or DriftUnmanagedMember
	PersonEmail   string
	EntitlementID string
	Group         string
	GrantID       string
}

func (s *Service) reconcileLoop(ctx context.Context) {
	defer close(s.done)
	if s.cfg.ReconcileInterval <= 0 {
		<-ctx.Done()
		return
	}
	// A first round at start-up: a target that lost its state while the provisioner was
	// down (or a ledger that moved on) is repaired now, not an interval later.
	if _, err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("reconciliation failed; trying again next round", "err", err)
	}
	t := time.NewTicker(s.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Reconcile(ctx); err != nil {
				s.log.Warn("reconciliation failed; trying again next round", "err", err)
			}
		}
	}
}

// Reconcile compares the ledger with the SCIM target for every SCIM entitlement in the
// catalog. Access held past its grant's expiry is repaired: a revoke command goes out
// (the normal path, so the ledger, events and notices follow). Access a current grant
// gives but the target no longer shows (removed by hand at the IdP, or a target that
// lost its state) is restored. Members the ledger never granted are reported as
// iga.evt.reconcile.drift for a person to look at — they may have been given access
// outside iga, which iga should not silently undo. Every difference is an event.
func (s *Service) Reconcile(ctx context.Context) ([]Drift, error) {
	if s.scim == nil {
		return nil, nil
	}
	s.reconcileMu.Lock()
	defer s.reconcileMu.Unlock()
	now := s.now()
	var drifts []Drift
	// Current SCIM grants by entitlement, to find those the target does not show.
	current := map[string][]*igav1.Grant{}
	for _, g := range s.ledger.list("", func(g *igav1.Grant) bool { return isActive(g, now) }) {
		if methodOfGrant(g, s.entitlement(g.GetEntitlementId()).Method) == connector.MethodSCIM {
			current[g.GetEntitlementId()] = append(current[g.GetEntitlementId()], g)
		}
	}
	for _, e := range s.dir.Snapshot().EntitlementList() {
		ent := s.entitlement(e.GetId())
		if ent.Method != connector.MethodSCIM {
			continue
		}
		members, err := s.scim.Members(ctx, ent.SCIMGroup)
		if err != nil {
			return drifts, fmt.Errorf("reconcile %s: %w", ent.SCIMGroup, err)
		}
		present := make(map[string]bool, len(members))
		for _, email := range members {
			present[strings.ToLower(email)] = true
		}
		for _, g := range current[ent.ID] {
			if !present[strings.ToLower(g.GetPersonEmail())] {
				drifts = append(drifts, Drift{Kind: DriftMissingMember, PersonEmail: strings.ToLower(g.GetPersonEmail()),
					EntitlementID: ent.ID, Group: ent.SCIMGroup, GrantID: g.GetId()})
				present[strings.ToLower(g.GetPersonEmail())] = true // one restore for several grants
			}
		}
		for _, email := range members {
			grants := s.ledger.list(email, func(g *igav1.Grant) bool { return g.GetEntitlementId() == ent.ID })
			if slices.ContainsFunc(grants, func(g *igav1.Grant) bool {
				return isActive(g, now) || g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_PENDING
			}) {
				continue
			}
			d := Drift{Kind: DriftUnmanagedMember, PersonEmail: strings.ToLower(email), EntitlementID: ent.ID, Group: ent.SCIMGroup}
			for _, g := range grants {
				if g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE { // past expiry, not yet revoked
					d.Kind, d.GrantID = DriftExpiredPresent, g.GetId()
					break
				}
			}
			drifts = append(drifts, d)
		}
	}
	sort.Slice(drifts, func(i, j int) bool {
		return drifts[i].EntitlementID+drifts[i].PersonEmail < drifts[j].EntitlementID+drifts[j].PersonEmail
	})
	seen := map[string]bool{}
	for _, d := range drifts {
		key := d.Kind + "|" + d.Group + "|" + d.PersonEmail
		seen[key] = true
		if d.Kind == DriftUnmanagedMember && s.reported[key] {
			continue // reported in an earlier round; still there
		}
		if err := s.repair(ctx, d); err != nil {
			return drifts, err
		}
	}
	s.reported = seen
	return drifts, nil
}

func (s *Service) repair(ctx context.Context, d Drift) error {
	if d.Kind == DriftMissingMember {
		return s.restore(ctx, d)
	}
	if d.Kind == DriftExpiredPresent {
		g, ok := s.ledger.get(d.GrantID)
		if !ok {
			return nil
		}
		s.log.Warn("access held past its expiry; revoking", "grant_id", d.GrantID, "person", d.PersonEmail, "entitlement", d.EntitlementID)
		if _, err := s.bus.Publish(ctx, SubjectDrift, &igav1.ReconcileDrift{Kind: igav1.DriftKind_DRIFT_KIND_EXPIRED_PRESENT,
			PersonEmail: d.PersonEmail, EntitlementId: d.EntitlementID, Group: d.Group, GrantId: d.GrantID,
			DetectedAt: timestamppb.New(s.now())}); err != nil {
			return err
		}
		_, err := s.bus.Publish(ctx, SubjectRevokeCmd,
			&igav1.ProvisionRevoke{GrantId: g.GetId(), Reason: "expired", Generation: g.GetGeneration()},
			bus.WithID(fmt.Sprintf("revoke-reconciled-%s-%d", g.GetId(), g.GetGeneration())), bus.WithRequestID(g.GetRequestId()))
		return err
	}
	s.log.Warn("member the ledger never granted", "person", d.PersonEmail, "entitlement", d.EntitlementID, "group", d.Group)
	_, err := s.bus.Publish(ctx, SubjectDrift, &igav1.ReconcileDrift{Kind: igav1.DriftKind_DRIFT_KIND_UNMANAGED_MEMBER,
		PersonEmail: d.PersonEmail, EntitlementId: d.EntitlementID, Group: d.Group, DetectedAt: timestamppb.New(s.now())})
	return err
}

// restore puts back at the target the access a current grant gives. It may race a revoke
// of the same grant (the revoke removes the access, then records REVOKED), so it reads
// the ledger itself before and after the re-add and takes the access away again when the
// grant ended meanwhile; a revoke in turn reads the target once more after recording
// REVOKED (ensureRemoved). Whichever order the two run in, access never outlives its grant.
func (s *Service) restore(ctx context.Context, d Drift) error {
	g, _, err := s.grants.Get(ctx, d.GrantID)
	if err != nil {
		return fmt.Errorf("restore %s: %w", d.GrantID, err)
	}
	if !isActive(g, s.now()) {
		return nil // ended since the round began
	}
	s.log.Warn("access a current grant gives is missing at the target; restoring", "grant_id", d.GrantID,
		"person", d.PersonEmail, "entitlement", d.EntitlementID, "group", d.Group)
	if _, err := s.bus.Publish(ctx, SubjectDrift, &igav1.ReconcileDrift{Kind: igav1.DriftKind_DRIFT_KIND_MISSING_MEMBER,
		PersonEmail: d.PersonEmail, EntitlementId: d.EntitlementID, Group: d.Group, GrantId: d.GrantID,
		DetectedAt: timestamppb.New(s.now())}); err != nil {
		return err
	}
	person, ent := s.person(g.GetPersonEmail()), s.entitlement(g.GetEntitlementId())
	if _, err := s.scim.Grant(ctx, person, ent); err != nil {
		return fmt.Errorf("restore %s: %w", d.GrantID, err)
	}
	after, _, err := s.grants.Get(ctx, d.GrantID)
	if err != nil {
		return fmt.Errorf("restore %s: %w", d.GrantID, err)
	}
	if isActive(after, s.now()) {
		return nil
	}
	s.log.Warn("grant ended while its access was being restored; removing it again", "grant_id", d.GrantID)
	return s.ensureRemoved(ctx, after, s.scim, person, ent)
}

// ensureRemoved takes the grant's access away at the target if it is there, unless another
// current grant gives the same access.
func (s *Service) ensureRemoved(ctx context.Context, g *igav1.Grant, conn connector.Connector, p connector.Person, e connector.Entitlement) error {
	if _, ok := s.otherActiveGrant(g); ok {
		return nil
	}
	present, err := conn.Verify(ctx, p, e)
	if errors.Is(err, connector.ErrNotVerifiable) || err == nil && !present {
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Warn("access came back at the target after its grant ended; removing it", "grant_id", g.GetId(), "person", p.Email, "entitlement", e.ID)
	if err := conn.Revoke(ctx, p, e); err != nil {
		return err
	}
	return verifyPresent(ctx, conn, p, e, false)
}
