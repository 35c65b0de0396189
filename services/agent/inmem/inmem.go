// Package inmem has in-memory stand-ins for the services the agent's tools reach —
// a small risk-based policy, approval routing, a grants ledger and a recorder of
// submissions — so the planner can be tested and evaluated offline.
package inmem

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// Policy decides by risk: low is allowed, medium needs the manager, high the manager
// then the owner, critical also security; contractors never get critical access. The
// maximum duration is the entitlement's.
type Policy struct {
	Dir func() *directory.Snapshot
	// Justify, when set, requires a justification of at least the given length (runes)
	// for entitlements of each risk ("high": 15). A request without one is denied the way
	// the policy engine denies it: reason "Denied: rule <id> needs a justification (at
	// least N characters).", remediation "give a justification (at least N characters)"
	// and "ask for <lesser entitlement> (<level>) instead: …".
	Justify map[string]int
}

// Decide returns the decision for a request.
func (p Policy) Decide(req *igav1.AccessRequest) *igav1.PolicyDecision {
	snap := p.Dir()
	d := &igav1.PolicyDecision{RequestId: req.GetId(), BeneficiaryEmail: req.GetBeneficiaryEmail(),
		EntitlementId: req.GetEntitlementId(), PolicyVersion: "inmem"}
	e, ok := snap.Entitlement(req.GetEntitlementId())
	ben, okp := snap.Person(req.GetBeneficiaryEmail())
	if !ok || !okp {
		d.Effect, d.Reason = igav1.Effect_EFFECT_DENY, "unknown entitlement or person"
		return d
	}
	dur := req.GetDuration().AsDuration()
	if m := e.GetMaxDuration().AsDuration(); m > 0 {
		d.MaxDuration = durationpb.New(m)
		dur = min(dur, m)
	}
	d.GrantedDuration = durationpb.New(dur)
	step := func(k igav1.ApproverKind, stage int32) *igav1.ApprovalStep {
		return &igav1.ApprovalStep{Kind: k, Stage: stage}
	}
	if n, ok := p.Justify[e.GetRisk()]; ok && !(ben.GetEmploymentType() == "contractor" && e.GetRisk() == "critical") {
		text := strings.TrimSpace(req.GetJustification())
		var missing string
		switch {
		case text == "":
			missing = fmt.Sprintf("a justification (at least %d characters)", n)
		case len([]rune(text)) < n:
			missing = fmt.Sprintf("a justification of at least %d characters (this one has %d)", n, len([]rune(text)))
		}
		if missing != "" {
			d.Effect, d.Reason = igav1.Effect_EFFECT_DENY, "Denied: rule justify-"+e.GetRisk()+" needs "+missing+"."
			d.Remediation = []string{"give " + missing}
			// Like the engine, offer lesser entitlements of the app as alternatives.
			for _, o := range snap.EntitlementList() {
				if o.GetAppId() == e.GetAppId() && directory.LevelRank(o.GetLevel()) < directory.LevelRank(e.GetLevel()) {
					d.Remediation = append(d.Remediation, fmt.Sprintf("ask for %s (%s) instead: that would go to approval", o.GetId(), o.GetLevel()))
				}
			}
			return d
		}
	}
	switch {
	case ben.GetEmploymentType() == "contractor" && e.GetRisk() == "critical":
		d.Effect, d.Reason = igav1.Effect_EFFECT_DENY, "contractors may not hold critical-risk access"
		d.Remediation = []string{"ask an employee of the team to do the task"}
	case e.GetRisk() == "low":
		d.Effect, d.Reason = igav1.Effect_EFFECT_ALLOW, "low-risk access is auto-approved"
	case e.GetRisk() == "medium":
		d.Effect, d.Reason = igav1.Effect_EFFECT_REQUIRE_APPROVAL, "medium-risk access needs the manager"
		d.ApprovalSteps = []*igav1.ApprovalStep{step(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1)}
	case e.GetRisk() == "high":
		d.Effect, d.Reason = igav1.Effect_EFFECT_REQUIRE_APPROVAL, "high-risk access needs the manager and the owner"
		d.ApprovalSteps = []*igav1.ApprovalStep{step(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1),
			step(igav1.ApproverKind_APPROVER_KIND_ENTITLEMENT_OWNER, 2)}
	default:
		d.Effect, d.Reason = igav1.Effect_EFFECT_REQUIRE_APPROVAL, "critical access needs the manager, the owner and security"
		d.ApprovalSteps = []*igav1.ApprovalStep{step(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1),
			step(igav1.ApproverKind_APPROVER_KIND_ENTITLEMENT_OWNER, 2), step(igav1.ApproverKind_APPROVER_KIND_SECURITY, 3)}
	}
	return d
}

// Preview implements tools.Policy.
func (p Policy) Preview(_ context.Context, req *igav1.AccessRequest) (*igav1.PolicyDecision, error) {
	return p.Decide(req), nil
}

// Requirements implements tools.Approvals by resolving the decision's steps to people.
func (p Policy) Requirements(_ context.Context, req *igav1.AccessRequest) (*igav1.RequirementsResponse, error) {
	snap := p.Dir()
	d := p.Decide(req)
	out := &igav1.RequirementsResponse{Decision: d}
	for _, s := range d.GetApprovalSteps() {
		// Described as the approval service does: "role: names", "(q of n)" for groups.
		st := &igav1.StageApprovers{Stage: s.GetStage()}
		one := func(role, email string) {
			st.Approvers, st.Description = []string{email}, role+": "+nameOf(snap, email)
		}
		switch s.GetKind() {
		case igav1.ApproverKind_APPROVER_KIND_MANAGER:
			if ben, ok := snap.Person(req.GetBeneficiaryEmail()); ok && ben.GetManagerEmail() != "" {
				one("manager", ben.GetManagerEmail())
			}
		case igav1.ApproverKind_APPROVER_KIND_ENTITLEMENT_OWNER, igav1.ApproverKind_APPROVER_KIND_APP_OWNER:
			if e, ok := snap.Entitlement(req.GetEntitlementId()); ok {
				one("entitlement owner", snap.EntitlementOwner(e))
			}
		case igav1.ApproverKind_APPROVER_KIND_SECURITY:
			var names []string
			for _, m := range snap.GroupMembers("security") {
				if strings.EqualFold(m.GetEmail(), req.GetRequesterEmail()) || strings.EqualFold(m.GetEmail(), req.GetBeneficiaryEmail()) {
					continue
				}
				st.Approvers = append(st.Approvers, m.GetEmail())
				names = append(names, nameOf(snap, m.GetEmail()))
			}
			st.Description = "security: " + strings.Join(names, ", ")
			if len(names) > 1 {
				st.Description += fmt.Sprintf(" (1 of %d)", len(names))
			}
		}
		out.Stages = append(out.Stages, st)
	}
	return out, nil
}

func nameOf(snap *directory.Snapshot, email string) string {
	if p, ok := snap.Person(email); ok && p.GetName() != "" {
		return p.GetName()
	}
	return email
}

// Ledger is an in-memory grants ledger. Safe for concurrent use.
type Ledger struct {
	mu     sync.Mutex
	grants map[string]*igav1.Grant
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{grants: map[string]*igav1.Grant{}} }

// Hold records an active grant.
func (l *Ledger) Hold(id, person, entitlementID string, expires time.Time) *igav1.Grant {
	l.mu.Lock()
	defer l.mu.Unlock()
	app, _, _ := strings.Cut(entitlementID, ":")
	g := &igav1.Grant{Id: id, PersonEmail: strings.ToLower(person), EntitlementId: entitlementID, AppId: app,
		Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE, ExpiresAt: timestamppb.New(expires), Generation: 1}
	l.grants[id] = g
	return g
}

// Grant returns a grant by id, whatever its status.
func (l *Ledger) Grant(id string) (*igav1.Grant, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g, ok := l.grants[id]
	return g, ok
}

// CheckAccess implements tools.Grants.
func (l *Ledger) CheckAccess(_ context.Context, person, entitlementID string) (*igav1.Grant, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range l.grants {
		if strings.EqualFold(g.GetPersonEmail(), person) && g.GetEntitlementId() == entitlementID &&
			g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE {
			return g, true, nil
		}
	}
	return nil, false, nil
}

// ListGrants implements tools.Grants.
func (l *Ledger) ListGrants(_ context.Context, person string) ([]*igav1.Grant, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*igav1.Grant
	for _, g := range l.grants {
		if (person == "" || strings.EqualFold(g.GetPersonEmail(), person)) && g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetId() < out[j].GetId() })
	return out, nil
}

// Actions records submissions and revokes instead of sending them. Safe for concurrent use.
type Actions struct {
	mu        sync.Mutex
	Submitted []*igav1.AccessRequest
	Revoked   []string
	ledger    *Ledger
}

// NewActions returns a recorder; revokes mark grants in ledger (if given) revoked.
func NewActions(ledger *Ledger) *Actions { return &Actions{ledger: ledger} }

// Submit implements tools.Actions; the same id twice is recorded once.
func (a *Actions) Submit(_ context.Context, req *igav1.AccessRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.Submitted {
		if r.GetId() == req.GetId() {
			return nil
		}
	}
	a.Submitted = append(a.Submitted, req)
	return nil
}

// Revoke implements tools.Actions.
func (a *Actions) Revoke(_ context.Context, grantID, reason string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if reason == "" {
		return fmt.Errorf("revoke %s: no reason", grantID)
	}
	for _, id := range a.Revoked {
		if id == grantID {
			return nil
		}
	}
	a.Revoked = append(a.Revoked, grantID)
	if a.ledger != nil {
		a.ledger.mu.Lock()
		if g, ok := a.ledger.grants[grantID]; ok {
			g.Status = igav1.GrantStatus_GRANT_STATUS_REVOKED
		}
		a.ledger.mu.Unlock()
	}
	return nil
}

// Requests returns a copy of what was submitted.
func (a *Actions) Requests() []*igav1.AccessRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*igav1.AccessRequest(nil), a.Submitted...)
}
