package provisioner

import (
	"context"
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
// (the normal path, so the ledger, events and notices follow). Members the ledger never
// granted are reported as iga.evt.reconcile.drift for a person to look at — they may
// have been given access outside iga, which iga should not silently undo.
func (s *Service) Reconcile(ctx context.Context) ([]Drift, error) {
	if s.scim == nil {
		return nil, nil
	}
	s.reconcileMu.Lock()
	defer s.reconcileMu.Unlock()
	now := s.now()
	var drifts []Drift
	for _, e := range s.dir.Snapshot().EntitlementList() {
		ent := s.entitlement(e.GetId())
		if ent.Method != connector.MethodSCIM {
			continue
		}
		members, err := s.scim.Members(ctx, ent.SCIMGroup)
		if err != nil {
			return drifts, fmt.Errorf("reconcile %s: %w", ent.SCIMGroup, err)
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
