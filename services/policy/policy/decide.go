package policy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/policy/engine"
)

// Errors a caller can fix by asking differently; the edge maps them to InvalidArgument.
var (
	ErrBadRequest         = errors.New("bad request")
	ErrUnknownPerson      = errors.New("unknown person")
	ErrUnknownEntitlement = errors.New("unknown entitlement")
)

// Decide evaluates an access request against pol with people and entitlements from snap.
// held and pending are the entitlement ids the beneficiary holds and waits for; now is
// the decision time (context.now). An unknown person or entitlement is an error, never a
// decision.
func Decide(pol *engine.Policy, snap *directory.Snapshot, ar *igav1.AccessRequest, held, pending []string, now time.Time) (*igav1.PolicyDecision, error) {
	in, err := Input(snap, ar, held, pending, now)
	if err != nil {
		return nil, err
	}
	d := pol.Evaluate(in)
	if d.Effect == engine.Deny {
		d.Remediation = append(d.Remediation, lesserAlternatives(pol, snap, in)...)
	}
	return DecisionProto(ar, in, d, now), nil
}

// lesserAlternatives suggests, for a denial, entitlements of the same app at a lower
// level that policy would grant or send to approval for the same request.
func lesserAlternatives(pol *engine.Policy, snap *directory.Snapshot, in *engine.Input) []string {
	rank := directory.LevelRank(in.Entitlement.Level)
	var lesser []*igav1.Entitlement
	for _, e := range snap.EntitlementList() {
		if e.GetAppId() == in.Entitlement.App && directory.LevelRank(e.GetLevel()) < rank {
			lesser = append(lesser, e)
		}
	}
	// Closest level first, then least risk: the least privilege that still helps.
	sort.SliceStable(lesser, func(i, j int) bool {
		li, lj := directory.LevelRank(lesser[i].GetLevel()), directory.LevelRank(lesser[j].GetLevel())
		if li != lj {
			return li > lj
		}
		return riskRank[lesser[i].GetRisk()] < riskRank[lesser[j].GetRisk()]
	})
	var out []string
	for _, e := range lesser {
		alt := *in
		alt.Entitlement = engine.Entitlement{ID: e.GetId(), App: e.GetAppId(), Name: e.GetName(), Level: e.GetLevel(),
			Risk: e.GetRisk(), Tags: appendAppTags(snap, e), Owner: snap.EntitlementOwner(e),
			MaxDuration: e.GetMaxDuration().AsDuration(), DefaultDuration: e.GetDefaultDuration().AsDuration()}
		switch pol.Evaluate(&alt).Effect {
		case engine.Allow:
			out = append(out, fmt.Sprintf("ask for %s (%s) instead: that would be allowed", e.GetId(), e.GetLevel()))
		case engine.RequireApproval:
			out = append(out, fmt.Sprintf("ask for %s (%s) instead: that would go to approval", e.GetId(), e.GetLevel()))
		}
		if len(out) == 3 {
			break
		}
	}
	return out
}

var riskRank = map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}

// appendAppTags is the entitlement's tags followed by its app's (what `entitlement.tags`
// holds in a condition).
func appendAppTags(snap *directory.Snapshot, e *igav1.Entitlement) []string {
	tags := append([]string(nil), e.GetTags()...)
	if app, ok := snap.App(e.GetAppId()); ok {
		for _, t := range app.GetTags() {
			if !contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	return tags
}

// Input translates a request into what the engine reads.
func Input(snap *directory.Snapshot, ar *igav1.AccessRequest, held, pending []string, now time.Time) (*engine.Input, error) {
	if ar == nil {
		return nil, fmt.Errorf("%w: the request is missing", ErrBadRequest)
	}
	beneficiary := strings.TrimSpace(ar.GetBeneficiaryEmail())
	requester := strings.TrimSpace(ar.GetRequesterEmail())
	if beneficiary == "" {
		beneficiary = requester
	}
	if requester == "" {
		requester = beneficiary
	}
	if beneficiary == "" {
		return nil, fmt.Errorf("%w: the request names neither requester nor beneficiary", ErrBadRequest)
	}
	if ar.GetEntitlementId() == "" {
		return nil, fmt.Errorf("%w: the request names no entitlement", ErrBadRequest)
	}
	if ar.GetDuration() != nil && (ar.GetDuration().CheckValid() != nil || ar.GetDuration().AsDuration() < 0) {
		return nil, fmt.Errorf("%w: duration %s is not a positive duration", ErrBadRequest, ar.GetDuration().AsDuration())
	}
	p, ok := snap.Person(beneficiary)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not in the directory", ErrUnknownPerson, beneficiary)
	}
	req, ok := snap.Person(requester)
	if !ok {
		return nil, fmt.Errorf("%w: requester %s is not in the directory", ErrUnknownPerson, requester)
	}
	e, ok := snap.Entitlement(ar.GetEntitlementId())
	if !ok {
		return nil, fmt.Errorf("%w: %q is not in the catalog", ErrUnknownEntitlement, ar.GetEntitlementId())
	}
	tags := appendAppTags(snap, e)
	in := &engine.Input{
		Person: engine.Person{
			Email: p.GetEmail(), Department: p.GetDepartment(), Title: p.GetTitle(),
			Manager: p.GetManagerEmail(), Groups: p.GetGroups(), EmploymentType: p.GetEmploymentType(),
			Location: p.GetLocation(), Status: p.GetStatus(), TimeZone: p.GetTimeZone(),
		},
		Entitlement: engine.Entitlement{
			ID: e.GetId(), App: e.GetAppId(), Name: e.GetName(), Level: e.GetLevel(), Risk: e.GetRisk(),
			Tags: tags, Owner: snap.EntitlementOwner(e),
			MaxDuration: e.GetMaxDuration().AsDuration(), DefaultDuration: e.GetDefaultDuration().AsDuration(),
		},
		Request: engine.Request{
			Duration: ar.GetDuration().AsDuration(), Justification: ar.GetJustification(),
			TicketRef: ar.GetTicketRef(), OnBehalf: !strings.EqualFold(req.GetEmail(), p.GetEmail()),
			Requester: req.GetEmail(), Emergency: ar.GetEmergency(),
		},
		Context: engine.Context{Held: held, Pending: pending},
	}
	in.Context.SetClock(now, p.GetTimeZone())
	return in, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// DecisionProto writes an engine decision as the decision of record.
func DecisionProto(ar *igav1.AccessRequest, in *engine.Input, d engine.Decision, now time.Time) *igav1.PolicyDecision {
	out := &igav1.PolicyDecision{
		RequestId: ar.GetId(), Effect: effectProto(d.Effect), Reason: d.Reason,
		Remediation: d.Remediation, PolicyVersion: d.PolicyVersion, DecidedAt: timestamppb.New(now),
		BeneficiaryEmail: in.Person.Email, EntitlementId: in.Entitlement.ID,
	}
	if d.MaxDuration > 0 {
		out.MaxDuration = durationpb.New(d.MaxDuration)
	}
	if d.GrantedDuration > 0 {
		out.GrantedDuration = durationpb.New(d.GrantedDuration)
	}
	out.ApprovalSteps = stepsProto(d.Steps)
	out.ReviewSteps = stepsProto(d.ReviewSteps)
	for _, m := range d.Matched {
		out.MatchedRules = append(out.MatchedRules, &igav1.RuleMatch{
			RuleId: m.RuleID, Effect: effectProto(m.Effect), Reason: m.Reason, Source: m.Source})
	}
	return out
}

// UnknownReferences lists what the policy names that the directory in snap lacks: catalog
// ids and tags, and approver groups nobody active belongs to (or too few for a quorum).
func UnknownReferences(pol *engine.Policy, snap *directory.Snapshot) []string {
	if snap == nil {
		return nil
	}
	tags := map[string]bool{}
	for _, a := range snap.Apps {
		for _, t := range a.GetTags() {
			tags[t] = true
		}
	}
	for _, e := range snap.Entitlements {
		for _, t := range e.GetTags() {
			tags[t] = true
		}
	}
	return pol.Unknown(engine.Catalog{
		Entitlement:  func(id string) bool { _, ok := snap.Entitlement(id); return ok },
		App:          func(id string) bool { _, ok := snap.App(id); return ok },
		Tag:          func(t string) bool { return tags[t] },
		GroupMembers: func(g string) int { return len(snap.GroupMembers(g)) },
	})
}

// BreakGlassRule is the matched-rule id of a decision the emergency path allowed.
const BreakGlassRule = "break-glass"

// IsBreakGlass reports whether a recorded decision was allowed by the emergency path.
func IsBreakGlass(d *igav1.PolicyDecision) bool {
	for _, m := range d.GetMatchedRules() {
		if m.GetRuleId() == BreakGlassRule {
			return true
		}
	}
	return false
}

func stepsProto(steps []engine.Step) []*igav1.ApprovalStep {
	var out []*igav1.ApprovalStep
	for _, s := range steps {
		st := &igav1.ApprovalStep{Kind: approverProto(s.Kind), Group: s.Group, Stage: int32(s.Stage), Quorum: int32(s.Quorum), All: s.All}
		for _, a := range s.AnyOf {
			st.AnyOf = append(st.AnyOf, &igav1.Approver{Kind: approverProto(a.Kind), Group: a.Group})
		}
		out = append(out, st)
	}
	return out
}

func effectProto(e engine.Effect) igav1.Effect {
	switch e {
	case engine.Allow:
		return igav1.Effect_EFFECT_ALLOW
	case engine.RequireApproval:
		return igav1.Effect_EFFECT_REQUIRE_APPROVAL
	case engine.Deny:
		return igav1.Effect_EFFECT_DENY
	}
	return igav1.Effect_EFFECT_UNSPECIFIED
}

func approverProto(k engine.ApproverKind) igav1.ApproverKind {
	switch k {
	case engine.ApproverManager:
		return igav1.ApproverKind_APPROVER_KIND_MANAGER
	case engine.ApproverEntitlementOwner:
		return igav1.ApproverKind_APPROVER_KIND_ENTITLEMENT_OWNER
	case engine.ApproverAppOwner:
		return igav1.ApproverKind_APPROVER_KIND_APP_OWNER
	case engine.ApproverGroup:
		return igav1.ApproverKind_APPROVER_KIND_GROUP
	case engine.ApproverSecurity:
		return igav1.ApproverKind_APPROVER_KIND_SECURITY
	case engine.ApproverAnyOf:
		return igav1.ApproverKind_APPROVER_KIND_ANY_OF
	}
	return igav1.ApproverKind_APPROVER_KIND_UNSPECIFIED
}
