package provisioner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/provisioner/connector"
)

// Importing existing access.
const (
	SubjectImportCmd = "iga.cmd.provision.import"
	DurableImport    = "provisioner-import"

	// DefaultImportReview is how long imported access runs when the command names no
	// review date: standing access still ends, and is reviewed (extended) to continue.
	DefaultImportReview = 90 * 24 * time.Hour
)

// ImportGrantID is the ledger id of the imported grant of an entitlement to a person: the
// same for every import of the same access, so an import is recorded once.
func ImportGrantID(personEmail, entitlementID string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(personEmail)) + "\x00" + strings.TrimSpace(entitlementID)))
	return "g-import-" + hex.EncodeToString(sum[:8])
}

// handleImport records access a person already holds as an ACTIVE grant expiring at its
// review date: the directory and catalog are checked, the access is made real at its SCIM
// target (manual and webhook apps are recorded as they are: there is nothing to call and
// no task to raise for access that exists), then the ledger records it and grant.active
// goes out, so expiry schedules its end like any grant's. A grant already in the ledger —
// active, or revoked since — is left as it is: an import never extends access nor brings
// back access someone gave up.
func (s *Service) handleImport(ctx context.Context, m bus.Meta, cmd *igav1.ImportGrant) error {
	email, entID := strings.TrimSpace(cmd.GetPersonEmail()), strings.TrimSpace(cmd.GetEntitlementId())
	if email == "" || entID == "" {
		return bus.Permanent(errors.New("import: person_email and entitlement_id are required"))
	}
	snap := s.dir.Snapshot()
	person, ok := snap.Person(email)
	if !ok {
		return bus.Permanent(fmt.Errorf("import %s for %s: the person is not in the directory", entID, email))
	}
	if st := person.GetStatus(); st != "" && st != "active" {
		return bus.Permanent(fmt.Errorf("import %s for %s: the person is %s", entID, person.GetEmail(), st))
	}
	e, ok := snap.Entitlement(entID)
	if !ok {
		return bus.Permanent(fmt.Errorf("import %s for %s: the entitlement is not in the catalog", entID, person.GetEmail()))
	}
	until := s.now().UTC().Add(DefaultImportReview)
	if cmd.GetReviewAt() != nil {
		until = cmd.GetReviewAt().AsTime().UTC()
	}
	if !until.After(s.now()) {
		return bus.Permanent(fmt.Errorf("import %s for %s: the review date %s has passed, so the access would already have ended",
			entID, person.GetEmail(), until.Format(time.RFC3339)))
	}
	source := strings.TrimSpace(cmd.GetSource())
	if source == "" {
		source = "import"
	}

	id := ImportGrantID(person.GetEmail(), e.GetId())
	ent := s.entitlement(e.GetId())
	log := s.log.With("grant_id", id, "person", person.GetEmail(), "entitlement", e.GetId(), "source", source)
	g, err := s.grants.Update(ctx, id, true, func(cur *igav1.Grant) (*igav1.Grant, error) {
		if cur == nil {
			return &igav1.Grant{Id: id, PersonEmail: person.GetEmail(), EntitlementId: e.GetId(), AppId: e.GetAppId(),
				Status: igav1.GrantStatus_GRANT_STATUS_PENDING, Connector: protoMethod(ent.Method)}, nil
		}
		if cur.GetStatus() == igav1.GrantStatus_GRANT_STATUS_FAILED {
			cur.Status, cur.Failure = igav1.GrantStatus_GRANT_STATUS_PENDING, ""
			return cur, nil
		}
		return cur, bus.ErrNoChange
	})
	if err != nil {
		return fmt.Errorf("ledger %s: %w", id, err)
	}
	switch g.GetStatus() {
	case igav1.GrantStatus_GRANT_STATUS_ACTIVE:
		log.Debug("imported access already in the ledger")
		return s.announceActive(ctx, m, g, nil, false)
	case igav1.GrantStatus_GRANT_STATUS_PENDING:
	default:
		log.Info("imported access was revoked since; not importing it again", "status", g.GetStatus())
		return nil
	}

	ent.Method = methodOfGrant(g, ent.Method)
	ref := "imported from " + source
	if ent.Method == connector.MethodSCIM {
		conn, err := s.connectorFor(ent.Method)
		if err != nil {
			return s.failOrRetry(ctx, m, g, nil, err)
		}
		p := connector.Person{Email: person.GetEmail(), Name: person.GetName()}
		user, err := conn.Grant(ctx, p, ent)
		if err != nil {
			log.Warn("connector grant of imported access failed", "err", err, "delivery", m.Deliveries)
			return s.failOrRetry(ctx, m, g, nil, err)
		}
		if err := verifyPresent(ctx, conn, p, ent, true); err != nil {
			log.Warn("imported access not confirmed by the target", "err", err, "delivery", m.Deliveries)
			return s.failOrRetry(ctx, m, g, nil, err)
		}
		if user != "" {
			ref += "; scim user " + user
		}
	}
	g, err = s.grants.Update(ctx, id, false, func(cur *igav1.Grant) (*igav1.Grant, error) {
		if cur.GetStatus() != igav1.GrantStatus_GRANT_STATUS_PENDING {
			return cur, bus.ErrNoChange
		}
		cur.Status = igav1.GrantStatus_GRANT_STATUS_ACTIVE
		cur.GrantedAt = timestamppb.New(s.now().UTC())
		cur.ExpiresAt = timestamppb.New(until)
		cur.Generation = max(cur.GetGeneration()+1, 1)
		cur.ExternalRef = ref
		return cur, nil
	})
	if err != nil {
		return fmt.Errorf("ledger %s: %w", id, err)
	}
	if g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE {
		log.Info("imported access changed while it was being recorded; leaving it", "status", g.GetStatus())
		return nil
	}
	log.Info("imported access active", "connector", ent.Method, "expires_at", g.GetExpiresAt().AsTime(), "external_ref", g.GetExternalRef())
	return s.announceActive(ctx, m, g, nil, false)
}
