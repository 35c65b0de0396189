// Package policypeers measures one access decision made by iga's policy engine (YAML +
// CEL), by OPA (Rego, prepared query) and by cedar-go, with the same rules. It is its own
// module so that OPA and Cedar never enter a service's dependencies.
//
// The rules (ten, plus filler rules about other apps for the larger sizes):
//
//	deny-inactive         person not active                                → deny
//	deny-contractor-prod  contractor, production tag, write/admin          → deny
//	analytics-limit       snowflake, duration > 90d or no customer-data tag → deny
//	self-service          read, Data department, low/medium risk           → allow
//	read-manager          read, low/medium risk, not self-service          → manager
//	write-manager         write, low/medium risk                           → manager
//	high                  high risk                                        → manager, then owner
//	critical              critical risk                                    → owner, then security
//	pii                   pii tag                                          → owner
//	weekend               production write on Saturday/Sunday              → security
//	other-<i>             app app-<i>, department Dept-<i>, group group-<i> → manager
//
// OPA indexes the filler rules (they compare input.entitlement.app with a constant);
// cedar-go evaluates every policy. Deny overrides; any approval step means require_approval; otherwise allow if a rule
// allows; no rule → deny. Each engine gets its input prepared once in its own form, so
// the benchmark measures evaluation.
package policypeers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/agentic-iga/iga/services/policy/engine"
)

// Case is one request in engine-neutral form.
type Case struct {
	Email, Department, EmploymentType, Status string
	Groups                                    []string
	App, Entitlement, Level, Risk             string
	Tags                                      []string
	Duration                                  time.Duration
	Weekday                                   string
}

// Decision is what the benchmarks compare: the effect and the approver kinds.
type Decision struct {
	Effect    string
	Approvers []string
}

func (d Decision) String() string { return d.Effect + " " + strings.Join(d.Approvers, ",") }

// Decider decides a prepared case.
type Decider interface {
	Name() string
	// Prepare turns a case into the engine's own input form, once.
	Prepare(c Case) (any, error)
	Decide(prepared any) (Decision, error)
}

// Sam asks for snowflake:analyst for two weeks: read, medium risk, not his department's
// tool, so his manager approves.
var Sam = Case{Email: "sam.patel@acme.example", Department: "Engineering", EmploymentType: "employee", Status: "active",
	Groups: []string{"engineering", "backend", "all-staff"}, App: "snowflake", Entitlement: "snowflake:analyst",
	Level: "read", Risk: "medium", Tags: []string{"analytics", "customer-data"}, Duration: 14 * 24 * time.Hour, Weekday: "Monday"}

// ---------------------------------------------------------------------------- iga

const igaRules = `rules:
  - id: deny-inactive
    when: person.status != "active"
    effect: deny
    reason: Only active staff.
  - id: deny-contractor-prod
    match: {tags: [production], levels: [write, admin]}
    when: person.employment_type == "contractor"
    effect: deny
    reason: No contractors in production.
  - id: analytics-limit
    match: {apps: [snowflake]}
    when: request.duration > duration("2160h") || !("customer-data" in entitlement.tags)
    effect: deny
    reason: Analytics grants are limited.
  - id: self-service
    match: {levels: [read]}
    when: person.department == "Data" && entitlement.risk in ["low", "medium"]
    effect: allow
    reason: Data reads its tools.
  - id: read-manager
    match: {levels: [read], risks: [low, medium]}
    when: '!(person.department == "Data" && entitlement.risk in ["low", "medium"])'
    effect: require_approval
    approvals: [{kind: manager}]
    reason: Reads need the manager.
  - id: write-manager
    match: {levels: [write], risks: [low, medium]}
    effect: require_approval
    approvals: [{kind: manager}]
    reason: Writes need the manager.
  - id: high
    match: {risks: [high]}
    effect: require_approval
    approvals: [{kind: manager}, {kind: entitlement_owner, stage: 2}]
    reason: High risk needs the owner.
  - id: critical
    match: {risks: [critical]}
    effect: require_approval
    approvals: [{kind: entitlement_owner}, {kind: security, stage: 2}]
    reason: Critical needs security.
  - id: pii
    match: {tags: [pii]}
    effect: require_approval
    approvals: [{kind: entitlement_owner, stage: 2}]
    reason: PII needs its owner.
  - id: weekend
    match: {tags: [production], levels: [write]}
    when: context.weekday in ["Saturday", "Sunday"]
    effect: require_approval
    approvals: [{kind: security}]
    reason: Weekend changes need security.
`

// IGA is iga's engine.
type IGA struct{ p *engine.Policy }

// NewIGA compiles the rules, with n-10 filler rules.
func NewIGA(n int) (*IGA, error) {
	var b strings.Builder
	b.WriteString(igaRules)
	for i := 10; i < n; i++ {
		fmt.Fprintf(&b, "  - id: other-%d\n    match: {apps: [app-%d]}\n    when: person.department == \"Dept-%d\" && \"group-%d\" in person.groups\n    effect: require_approval\n    approvals: [{kind: manager}]\n    reason: Other app.\n", i, i, i, i)
	}
	p, err := engine.Parse("peers.yaml", []byte(b.String()))
	if err != nil {
		return nil, err
	}
	return &IGA{p: p}, nil
}

func (*IGA) Name() string { return "iga (CEL)" }

func (*IGA) Prepare(c Case) (any, error) {
	in := &engine.Input{
		Person: engine.Person{Email: c.Email, Department: c.Department, EmploymentType: c.EmploymentType,
			Status: c.Status, Groups: c.Groups, Manager: "priya.nair@acme.example"},
		Entitlement: engine.Entitlement{ID: c.Entitlement, App: c.App, Level: c.Level, Risk: c.Risk, Tags: c.Tags},
		Request:     engine.Request{Duration: c.Duration, Requester: c.Email},
	}
	in.Context.Weekday = c.Weekday
	return in, nil
}

func (e *IGA) Decide(prepared any) (Decision, error) {
	d := e.p.Evaluate(prepared.(*engine.Input))
	var kinds []string
	for _, s := range d.Steps {
		kinds = append(kinds, s.String())
	}
	return Decision{Effect: d.Effect.String(), Approvers: normalise(kinds)}, nil
}

func normalise(kinds []string) []string {
	slices.Sort(kinds)
	return slices.Compact(kinds)
}

// ---------------------------------------------------------------------------- OPA

const regoRules = `package iga

import rego.v1

p := input.person
e := input.entitlement

denies contains "deny-inactive" if p.status != "active"

denies contains "deny-contractor-prod" if {
	"production" in e.tags
	e.level in {"write", "admin"}
	p.employment_type == "contractor"
}

denies contains "analytics-limit" if {
	e.app == "snowflake"
	input.request.duration_hours > 2160
}

denies contains "analytics-limit" if {
	e.app == "snowflake"
	not "customer-data" in e.tags
}

self_service if {
	e.level == "read"
	p.department == "Data"
	e.risk in {"low", "medium"}
}

allows contains "self-service" if self_service

steps contains "manager" if {
	e.level == "read"
	e.risk in {"low", "medium"}
	not self_service
}

steps contains "manager" if {
	e.level == "write"
	e.risk in {"low", "medium"}
}

steps contains s if {
	e.risk == "high"
	some s in ["manager", "entitlement_owner"]
}

steps contains s if {
	e.risk == "critical"
	some s in ["entitlement_owner", "security"]
}

steps contains "entitlement_owner" if "pii" in e.tags

steps contains "security" if {
	"production" in e.tags
	e.level == "write"
	input.context.weekday in {"Saturday", "Sunday"}
}

decision := {"effect": "deny", "approvers": []} if {
	count(denies) > 0
} else := {"effect": "require_approval", "approvers": sort(steps)} if {
	count(steps) > 0
} else := {"effect": "allow", "approvers": []} if {
	count(allows) > 0
} else := {"effect": "deny", "approvers": []}
`

// OPA is Open Policy Agent with a prepared query.
type OPA struct{ q rego.PreparedEvalQuery }

// NewOPA compiles the Rego module, with n-10 filler rules.
func NewOPA(n int) (*OPA, error) {
	var b strings.Builder
	b.WriteString(regoRules)
	for i := 10; i < n; i++ {
		fmt.Fprintf(&b, "\nsteps contains \"manager\" if {\n\tinput.entitlement.app == \"app-%d\"\n\tinput.person.department == \"Dept-%d\"\n\t\"group-%d\" in input.person.groups\n}\n", i, i, i)
	}
	q, err := rego.New(rego.Query("data.iga.decision"), rego.Module("iga.rego", b.String())).PrepareForEval(context.Background())
	if err != nil {
		return nil, err
	}
	return &OPA{q: q}, nil
}

func (*OPA) Name() string { return "OPA (Rego, prepared)" }

func (*OPA) Prepare(c Case) (any, error) {
	return ast.InterfaceToValue(map[string]any{
		"person": map[string]any{"email": c.Email, "department": c.Department, "employment_type": c.EmploymentType,
			"status": c.Status, "groups": toAny(c.Groups)},
		"entitlement": map[string]any{"id": c.Entitlement, "app": c.App, "level": c.Level, "risk": c.Risk, "tags": toAny(c.Tags)},
		"request":     map[string]any{"duration_hours": int64(c.Duration / time.Hour)},
		"context":     map[string]any{"weekday": c.Weekday},
	})
}

func toAny(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func (o *OPA) Decide(prepared any) (Decision, error) {
	rs, err := o.q.Eval(context.Background(), rego.EvalParsedInput(prepared.(ast.Value)))
	if err != nil {
		return Decision{}, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Decision{}, fmt.Errorf("opa: unexpected result %v", rs)
	}
	m, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("opa: unexpected value %v", rs[0].Expressions[0].Value)
	}
	d := Decision{Effect: m["effect"].(string)}
	for _, a := range m["approvers"].([]any) {
		d.Approvers = append(d.Approvers, a.(string))
	}
	d.Approvers = normalise(d.Approvers)
	return d, nil
}

// ---------------------------------------------------------------------------- Cedar

// Cedar only says allow or deny, so approval requirements ride on annotations of the
// permit policies that determined the decision.
const cedarRules = `
@id("deny-inactive")
forbid (principal, action, resource) when { principal.status != "active" };

@id("deny-contractor-prod")
forbid (principal, action, resource) when {
  resource.tags.contains("production") && ["write", "admin"].contains(resource.level) &&
  principal.employment_type == "contractor"
};

@id("analytics-limit")
forbid (principal, action, resource) when {
  resource.app == "snowflake" && (context.duration_hours > 2160 || !resource.tags.contains("customer-data"))
};

@id("self-service") @steps("")
permit (principal, action, resource) when {
  resource.level == "read" && principal.department == "Data" && ["low", "medium"].contains(resource.risk)
};

@id("read-manager") @steps("manager")
permit (principal, action, resource) when {
  resource.level == "read" && ["low", "medium"].contains(resource.risk) &&
  !(principal.department == "Data" && ["low", "medium"].contains(resource.risk))
};

@id("write-manager") @steps("manager")
permit (principal, action, resource) when {
  resource.level == "write" && ["low", "medium"].contains(resource.risk)
};

@id("high") @steps("manager,entitlement_owner")
permit (principal, action, resource) when { resource.risk == "high" };

@id("critical") @steps("entitlement_owner,security")
permit (principal, action, resource) when { resource.risk == "critical" };

@id("pii") @steps("entitlement_owner")
permit (principal, action, resource) when { resource.tags.contains("pii") };

@id("weekend") @steps("security")
permit (principal, action, resource) when {
  resource.tags.contains("production") && resource.level == "write" && ["Saturday", "Sunday"].contains(context.weekday)
};
`

// Cedar is cedar-go.
type Cedar struct{ ps *cedar.PolicySet }

// NewCedar parses the policies, with n-10 filler policies.
func NewCedar(n int) (*Cedar, error) {
	var b strings.Builder
	b.WriteString(cedarRules)
	for i := 10; i < n; i++ {
		fmt.Fprintf(&b, "\n@id(\"other-%d\") @steps(\"manager\")\npermit (principal, action, resource) when {\n  resource.app == \"app-%d\" && principal.department == \"Dept-%d\" && principal.groups.contains(\"group-%d\")\n};\n", i, i, i, i)
	}
	ps, err := cedar.NewPolicySetFromBytes("peers.cedar", []byte(b.String()))
	if err != nil {
		return nil, err
	}
	return &Cedar{ps: ps}, nil
}

func (*Cedar) Name() string { return "cedar-go" }

type cedarInput struct {
	entities cedar.EntityMap
	req      cedar.Request
}

func stringSet(xs []string) cedar.Set {
	vals := make([]cedar.Value, len(xs))
	for i, x := range xs {
		vals[i] = cedar.String(x)
	}
	return cedar.NewSet(vals...)
}

func (*Cedar) Prepare(c Case) (any, error) {
	user := cedar.NewEntityUID("User", cedar.String(c.Email))
	ent := cedar.NewEntityUID("Entitlement", cedar.String(c.Entitlement))
	entities := cedar.EntityMap{
		user: cedar.Entity{UID: user, Attributes: cedar.NewRecord(cedar.RecordMap{
			"department": cedar.String(c.Department), "employment_type": cedar.String(c.EmploymentType),
			"status": cedar.String(c.Status), "groups": stringSet(c.Groups),
		})},
		ent: cedar.Entity{UID: ent, Attributes: cedar.NewRecord(cedar.RecordMap{
			"app": cedar.String(c.App), "level": cedar.String(c.Level), "risk": cedar.String(c.Risk), "tags": stringSet(c.Tags),
		})},
	}
	req := cedar.Request{Principal: user, Action: cedar.NewEntityUID("Action", "request"), Resource: ent,
		Context: cedar.NewRecord(cedar.RecordMap{
			"duration_hours": cedar.Long(int64(c.Duration / time.Hour)), "weekday": cedar.String(c.Weekday)})}
	return &cedarInput{entities: entities, req: req}, nil
}

func (c *Cedar) Decide(prepared any) (Decision, error) {
	in := prepared.(*cedarInput)
	ok, diag := cedar.Authorize(c.ps, in.entities, in.req)
	if len(diag.Errors) > 0 {
		return Decision{}, fmt.Errorf("cedar: %v", diag.Errors)
	}
	if ok != cedar.Allow {
		return Decision{Effect: "deny"}, nil
	}
	var kinds []string
	for _, r := range diag.Reasons {
		if steps := string(c.ps.Get(r.PolicyID).Annotations()["steps"]); steps != "" {
			kinds = append(kinds, strings.Split(steps, ",")...)
		}
	}
	if len(kinds) > 0 {
		return Decision{Effect: "require_approval", Approvers: normalise(kinds)}, nil
	}
	return Decision{Effect: "allow"}, nil
}

// New builds the three deciders for n rules.
func New(n int) ([]Decider, error) {
	i, err := NewIGA(n)
	if err != nil {
		return nil, fmt.Errorf("iga: %w", err)
	}
	o, err := NewOPA(n)
	if err != nil {
		return nil, fmt.Errorf("opa: %w", err)
	}
	c, err := NewCedar(n)
	if err != nil {
		return nil, fmt.Errorf("cedar: %w", err)
	}
	return []Decider{i, o, c}, nil
}
