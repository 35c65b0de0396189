package provisioner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/provisioner/connector"
)

// ErrNotAuthorized is why a grant command is refused: the records do not allow it.
var ErrNotAuthorized = errors.New("not authorized by the recorded decision")

// authorized is what the records say about a request the provisioner may execute.
type authorized struct {
	request  *igav1.AccessRequest
	decision *igav1.PolicyDecision
	approval *igav1.Approval // nil when policy allowed without approval
	person   *igav1.Person
	ent      *igav1.Entitlement
	app      *igav1.App
	duration time.Duration
}

// decidedAt is when the request was finally allowed: the approval's decision when one
// was needed, else policy's.
func (a *authorized) decidedAt() time.Time {
	var t time.Time
	switch {
	case a.decision.GetDecidedAt() != nil:
		t = a.decision.GetDecidedAt().AsTime()
	case a.request.GetCreatedAt() != nil:
		t = a.request.GetCreatedAt().AsTime()
	default:
		t = time.Now()
	}
	if a.approval != nil && a.approval.GetDecidedAt() != nil && a.approval.GetDecidedAt().AsTime().After(t) {
		t = a.approval.GetDecidedAt().AsTime()
	}
	return t
}

func refuse(format string, args ...any) error {
	return bus.Permanent(fmt.Errorf("%w: %s", ErrNotAuthorized, fmt.Sprintf(format, args...)))
}

// authorize re-reads the request, the decision and the approval from their buckets and
// allows execution only on an ALLOW decision, or REQUIRE_APPROVAL with the approval
// APPROVED, all about the same person and entitlement. It never trusts the command.
// Refusals are permanent; a store that does not answer is a retryable error.
func (s *Service) authorize(ctx context.Context, requestID string) (*authorized, error) {
	if strings.TrimSpace(requestID) == "" {
		return nil, refuse("the command names no request")
	}
	req, _, err := s.requests.Get(ctx, requestID)
	if errors.Is(err, bus.ErrNotFound) {
		return nil, refuse("request %s is not recorded", requestID)
	}
	if err != nil {
		return nil, err
	}
	dec, _, err := s.decisions.Get(ctx, requestID)
	if errors.Is(err, bus.ErrNotFound) {
		return nil, refuse("request %s has no recorded policy decision", requestID)
	}
	if err != nil {
		return nil, err
	}
	if dec.GetRequestId() != "" && dec.GetRequestId() != requestID {
		return nil, refuse("the decision recorded for %s is about request %s", requestID, dec.GetRequestId())
	}
	if dec.GetEntitlementId() != req.GetEntitlementId() {
		return nil, refuse("the decision is about %q but request %s asks for %q", dec.GetEntitlementId(), requestID, req.GetEntitlementId())
	}
	if !strings.EqualFold(dec.GetBeneficiaryEmail(), req.GetBeneficiaryEmail()) {
		return nil, refuse("the decision is about %q but request %s is for %q", dec.GetBeneficiaryEmail(), requestID, req.GetBeneficiaryEmail())
	}
	a := &authorized{request: req, decision: dec}
	switch dec.GetEffect() {
	case igav1.Effect_EFFECT_ALLOW:
	case igav1.Effect_EFFECT_REQUIRE_APPROVAL:
		ap, _, err := s.approvals.Get(ctx, requestID)
		if errors.Is(err, bus.ErrNotFound) {
			return nil, refuse("request %s needs approval and none is recorded", requestID)
		}
		if err != nil {
			return nil, err
		}
		if ap.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED {
			return nil, refuse("request %s needs approval and its approval is %s", requestID,
				strings.ToLower(strings.TrimPrefix(ap.GetStatus().String(), "APPROVAL_STATUS_")))
		}
		if (ap.GetRequestId() != "" && ap.GetRequestId() != requestID) ||
			(ap.GetEntitlementId() != "" && ap.GetEntitlementId() != req.GetEntitlementId()) ||
			(ap.GetBeneficiaryEmail() != "" && !strings.EqualFold(ap.GetBeneficiaryEmail(), req.GetBeneficiaryEmail())) {
			return nil, refuse("the approval recorded for %s is about other access", requestID)
		}
		a.approval = ap
	default:
		return nil, refuse("policy decided %s for request %s", strings.TrimPrefix(dec.GetEffect().String(), "EFFECT_"), requestID)
	}

	snap := s.dir.Snapshot()
	var ok bool
	if a.ent, ok = snap.Entitlement(req.GetEntitlementId()); !ok {
		return nil, refuse("entitlement %q is not in the catalog", req.GetEntitlementId())
	}
	a.app, _ = snap.App(a.ent.GetAppId())
	if a.person, ok = snap.Person(req.GetBeneficiaryEmail()); !ok {
		return nil, refuse("beneficiary %q is not in the directory", req.GetBeneficiaryEmail())
	}
	if st := a.person.GetStatus(); st != "" && st != "active" {
		return nil, refuse("beneficiary %s is %s", a.person.GetEmail(), st)
	}
	a.duration = dec.GetGrantedDuration().AsDuration()
	if a.duration <= 0 {
		a.duration = req.GetDuration().AsDuration()
	}
	if limit := dec.GetMaxDuration().AsDuration(); limit > 0 && a.duration > limit {
		a.duration = limit
	}
	if a.duration <= 0 {
		return nil, refuse("request %s has no duration; every grant carries its expiry", requestID)
	}
	return a, nil
}

// target translates directory records into the connector's terms.
func (s *Service) target(a *authorized) (connector.Person, connector.Entitlement) {
	return connector.Person{Email: a.person.GetEmail(), Name: a.person.GetName()}, s.entitlement(a.ent.GetId())
}

// entitlement describes an entitlement for a connector, from the catalog when it is
// there, else from its id (so access granted before a catalog change can still be
// removed).
func (s *Service) entitlement(id string) connector.Entitlement {
	snap := s.dir.Snapshot()
	e, ok := snap.Entitlement(id)
	if !ok {
		app, name, _ := strings.Cut(id, ":")
		return connector.Entitlement{ID: id, AppID: app, AppName: app, Name: name, SCIMGroup: app + "-" + name}
	}
	out := connector.Entitlement{ID: e.GetId(), AppID: e.GetAppId(), AppName: e.GetAppId(), Name: e.GetName(),
		SCIMGroup: e.GetScimGroup(), OwnerEmail: snap.EntitlementOwner(e), Method: methodOf(e.GetProvisioning())}
	if app, ok := snap.App(e.GetAppId()); ok && app.GetName() != "" {
		out.AppName = app.GetName()
	}
	if out.SCIMGroup == "" {
		out.SCIMGroup = e.GetAppId() + "-" + e.GetName()
	}
	return out
}

func (s *Service) person(email string) connector.Person {
	if p, ok := s.dir.Snapshot().Person(email); ok {
		return connector.Person{Email: p.GetEmail(), Name: p.GetName()}
	}
	return connector.Person{Email: strings.ToLower(email)}
}

func methodOf(m igav1.ProvisioningMethod) connector.Method {
	switch m {
	case igav1.ProvisioningMethod_PROVISIONING_METHOD_MANUAL:
		return connector.MethodManual
	case igav1.ProvisioningMethod_PROVISIONING_METHOD_WEBHOOK:
		return connector.MethodWebhook
	}
	return connector.MethodSCIM
}

func protoMethod(m connector.Method) igav1.ProvisioningMethod {
	switch m {
	case connector.MethodManual:
		return igav1.ProvisioningMethod_PROVISIONING_METHOD_MANUAL
	case connector.MethodWebhook:
		return igav1.ProvisioningMethod_PROVISIONING_METHOD_WEBHOOK
	}
	return igav1.ProvisioningMethod_PROVISIONING_METHOD_SCIM
}

// connectorFor returns the connector of a method, or a permanent error naming the flag
// that configures it.
func (s *Service) connectorFor(m connector.Method) (connector.Connector, error) {
	if c, ok := s.connectors[m]; ok {
		return c, nil
	}
	switch m {
	case connector.MethodSCIM:
		return nil, connector.Permanent(errors.New("no SCIM target is configured (set --scim-url)"))
	case connector.MethodWebhook:
		return nil, connector.Permanent(errors.New("no webhook is configured (set --webhook-url and --webhook-secret)"))
	}
	return nil, connector.Permanent(fmt.Errorf("no connector for %s", m))
}
