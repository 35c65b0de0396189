package engine

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func loadTestPolicy(t testing.TB) *Policy {
	t.Helper()
	p, err := Load("testdata/policy.yaml")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return p
}

var (
	dana = Person{Email: "dana.reyes@acme.example", Department: "Finance", Title: "Financial Analyst",
		Manager: "marco.bianchi@acme.example", Groups: []string{"finance", "all-staff"},
		EmploymentType: "employee", Status: "active"}
	sam = Person{Email: "sam.patel@acme.example", Department: "Engineering", Manager: "priya.nair@acme.example",
		Groups: []string{"engineering", "oncall"}, EmploymentType: "employee", Status: "active"}
	jo = Person{Email: "jo.silva@acme.example", Department: "Engineering", Manager: "priya.nair@acme.example",
		EmploymentType: "contractor", Status: "active"}
	ents = map[string]Entitlement{
		"grafana:payments-viewer": {ID: "grafana:payments-viewer", App: "grafana", Level: "read", Risk: "low", MaxDuration: 90 * 24 * time.Hour},
		"snowflake:analyst":       {ID: "snowflake:analyst", App: "snowflake", Level: "read", Risk: "medium"},
		"aws-prod:poweruser":      {ID: "aws-prod:poweruser", App: "aws-prod", Level: "write", Risk: "high", Tags: []string{"prod"}},
		"aws-prod:admin":          {ID: "aws-prod:admin", App: "aws-prod", Level: "admin", Risk: "critical", Tags: []string{"prod"}, MaxDuration: 12 * time.Hour},
		"github:write":            {ID: "github:write", App: "github", Level: "write", Risk: "medium", DefaultDuration: 14 * 24 * time.Hour},
		"netsuite:ap-clerk":       {ID: "netsuite:ap-clerk", App: "netsuite", Level: "write", Risk: "medium"},
		"netsuite:ap-approver":    {ID: "netsuite:ap-approver", App: "netsuite", Level: "write", Risk: "medium"},
		"stripe:refunds":          {ID: "stripe:refunds", App: "stripe", Level: "write", Risk: "medium"},
		"hr:admin":                {ID: "hr:admin", App: "hr", Level: "admin", Risk: "medium"},
	}
	monday = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	sunday = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
)

func input(p Person, ent string, req Request) *Input {
	in := &Input{Person: p, Entitlement: ents[ent], Request: req}
	in.Context.SetClock(monday, "")
	return in
}

func TestEvaluate(t *testing.T) {
	pol := loadTestPolicy(t)
	h := time.Hour
	terminated := dana
	terminated.Status = "terminated"
	noManager := sam
	noManager.Manager = ""
	tests := []struct {
		name       string
		in         *Input
		effect     Effect
		steps      string // "kind@stage,..."
		max        time.Duration
		granted    time.Duration
		rules      []string
		reasonHas  []string
		remedyHas  string
		breakGlass bool
	}{
		{name: "finance analyst views payments dashboards", in: input(dana, "grafana:payments-viewer", Request{Duration: 7 * 24 * h}),
			effect: Allow, max: 30 * 24 * h, granted: 7 * 24 * h, rules: []string{"finance-viewers"},
			reasonHas: []string{"Finance staff may view payments data"}},
		{name: "engineer asks read access: manager approves", in: input(sam, "snowflake:analyst", Request{}),
			effect: RequireApproval, steps: "manager@1", max: 90 * 24 * h, granted: 8 * h, rules: []string{"read-with-manager"},
			reasonHas: []string{"manager's approval", "No duration was asked", "8h"}},
		{name: "duration above the max is capped and said", in: input(dana, "grafana:payments-viewer", Request{Duration: 60 * 24 * h}),
			effect: Allow, max: 30 * 24 * h, granted: 30 * 24 * h, reasonHas: []string{"capped at 30d", "rule finance-viewers"}},
		{name: "catalog default used when no rule default", in: input(sam, "github:write", Request{}),
			effect: RequireApproval, steps: "manager@1", max: 30 * 24 * h, granted: 14 * 24 * h, reasonHas: []string{"catalog default"}},
		{name: "high risk: manager then owner", in: input(sam, "aws-prod:poweruser", Request{Justification: "deploy the payments fix"}),
			effect: RequireApproval, steps: "manager@1,entitlement_owner@2", max: 7 * 24 * h, granted: 8 * h},
		{name: "high risk without justification is denied with remediation", in: input(sam, "aws-prod:poweruser", Request{}),
			effect: Deny, reasonHas: []string{"needs a justification"}, remedyHas: "at least 10 characters"},
		{name: "critical: owner then security, max of rule and catalog", in: input(sam, "aws-prod:admin", Request{Duration: 24 * h, Justification: "incident", TicketRef: "INC-42"}),
			effect: RequireApproval, steps: "entitlement_owner@1,security@2", max: 8 * h, granted: 8 * h, reasonHas: []string{"capped at 8h", "rule critical-two-stage"}},
		{name: "critical default duration", in: input(sam, "aws-prod:admin", Request{Justification: "incident", TicketRef: "CHG-7"}),
			effect: RequireApproval, max: 8 * h, granted: 4 * h},
		{name: "critical without ticket is denied", in: input(sam, "aws-prod:admin", Request{Justification: "incident"}),
			effect: Deny, remedyHas: "ticket reference matching"},
		{name: "contractor denied prod write", in: input(jo, "aws-prod:poweruser", Request{Justification: "deploy the payments fix"}),
			effect: Deny, rules: []string{"deny-contractor-prod-write"}, reasonHas: []string{"Contractors cannot"}},
		{name: "terminated person denied", in: input(terminated, "grafana:payments-viewer", Request{}),
			effect: Deny, rules: []string{"deny-inactive"}, remedyHas: "active status"},
		{name: "no rule: deny by default with explanation", in: input(sam, "hr:admin", Request{}),
			effect: Deny, reasonHas: []string{"no policy rule allows hr:admin"}, remedyHas: "add a rule"},
		{name: "manager approval without a manager is denied", in: input(noManager, "snowflake:analyst", Request{}),
			effect: Deny, reasonHas: []string{"directory names none"}, remedyHas: "record sam.patel@acme.example's manager"},
		{name: "weekday rule uses the clock", in: func() *Input {
			in := input(sam, "stripe:refunds", Request{})
			in.Context.SetClock(sunday, "Europe/Berlin")
			return in
		}(), effect: Deny, rules: []string{"weekend-freeze"}, remedyHas: "weekday"},
		{name: "sod: held clerk blocks approver, naming both sides", in: func() *Input {
			in := input(dana, "netsuite:ap-approver", Request{})
			in.Context.Held = []string{"netsuite:ap-clerk"}
			return in
		}(), effect: Deny, rules: []string{"sod:ap-segregation"},
			reasonHas: []string{"netsuite:ap-approver (approve payables) conflicts with netsuite:ap-clerk (enter payables)", "holds"}},
		{name: "sod: pending counts like held", in: func() *Input {
			in := input(dana, "netsuite:ap-clerk", Request{})
			in.Context.Pending = []string{"netsuite:ap-approver"}
			return in
		}(), effect: Deny, reasonHas: []string{"is waiting for"}},
		{name: "sod: no conflict without the other side", in: input(dana, "netsuite:ap-clerk", Request{}),
			effect: RequireApproval, steps: "manager@1"},
		{name: "sod with approval effect adds security", in: func() *Input {
			in := input(dana, "stripe:refunds", Request{})
			in.Context.Held = []string{"stripe:admin"}
			return in
		}(), effect: RequireApproval, steps: "manager@1,security@1", rules: []string{"write-with-manager", "sod:stripe-money"}},
		{name: "break-glass for on-call: allowed, capped, flagged", in: input(sam, "aws-prod:admin", Request{Duration: 4 * h, Emergency: true, Justification: "sev1", TicketRef: "INC-1"}),
			effect: Allow, max: h, granted: h, breakGlass: true, rules: []string{"critical-two-stage", "break-glass"}, reasonHas: []string{"break-glass", "reviewed after the fact"}},
		{name: "break-glass needs a justification", in: input(sam, "snowflake:analyst", Request{Emergency: true}),
			effect: RequireApproval, remedyHas: "say what the emergency is"},
		{name: "break-glass does not lift a denial", in: input(jo, "aws-prod:admin", Request{Emergency: true, Justification: "sev1", TicketRef: "INC-1"}),
			effect: Deny},
		{name: "emergency from someone not on call follows normal policy", in: input(dana, "snowflake:analyst", Request{Emergency: true}),
			effect: RequireApproval, steps: "manager@1", remedyHas: "emergency path is not open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := pol.Evaluate(tc.in)
			if d.Effect != tc.effect {
				t.Fatalf("effect = %s, want %s (reason %q, remediation %q)", d.Effect, tc.effect, d.Reason, d.Remediation)
			}
			if tc.steps != "" {
				if got := stepsString(d.Steps); got != tc.steps {
					t.Errorf("steps = %s, want %s", got, tc.steps)
				}
			}
			if tc.effect == Allow && tc.steps == "" && len(d.Steps) > 0 {
				t.Errorf("allow carries steps %s", stepsString(d.Steps))
			}
			if tc.max != 0 && d.MaxDuration != tc.max {
				t.Errorf("max = %s, want %s", d.MaxDuration, tc.max)
			}
			if tc.granted != 0 && d.GrantedDuration != tc.granted {
				t.Errorf("granted = %s, want %s", d.GrantedDuration, tc.granted)
			}
			if tc.effect != Deny && d.GrantedDuration <= 0 {
				t.Errorf("granted duration not set for %s", d.Effect)
			}
			if tc.effect == Deny && d.GrantedDuration != 0 {
				t.Errorf("denial grants %s", d.GrantedDuration)
			}
			matched := map[string]bool{}
			for _, m := range d.Matched {
				matched[m.RuleID] = true
				if m.Source == "" {
					t.Errorf("match %s has no source", m.RuleID)
				}
			}
			for _, r := range tc.rules {
				if !matched[r] {
					t.Errorf("rule %s did not match; matched %v", r, d.Matched)
				}
			}
			for _, s := range tc.reasonHas {
				if !strings.Contains(d.Reason, s) {
					t.Errorf("reason %q lacks %q", d.Reason, s)
				}
			}
			if tc.remedyHas != "" && !strings.Contains(strings.Join(d.Remediation, "|"), tc.remedyHas) {
				t.Errorf("remediation %q lacks %q", d.Remediation, tc.remedyHas)
			}
			if d.BreakGlass != tc.breakGlass {
				t.Errorf("break glass = %v", d.BreakGlass)
			}
			if d.PolicyVersion != pol.Version || !strings.HasPrefix(d.PolicyVersion, "sha256:") {
				t.Errorf("policy version %q", d.PolicyVersion)
			}
		})
	}
}

func stepsString(steps []Step) string {
	var parts []string
	for _, s := range steps {
		parts = append(parts, s.String()+"@"+string(rune('0'+s.Stage)))
	}
	return strings.Join(parts, ",")
}

func TestEvaluateIsDeterministic(t *testing.T) {
	pol := loadTestPolicy(t)
	in := input(sam, "aws-prod:admin", Request{Justification: "incident", TicketRef: "INC-9"})
	first := pol.Evaluate(in)
	for range 50 {
		d := pol.Evaluate(in)
		if d.Reason != first.Reason || stepsString(d.Steps) != stepsString(first.Steps) || len(d.Matched) != len(first.Matched) {
			t.Fatalf("decision changed: %+v vs %+v", d, first)
		}
	}
}

func TestSourcesPointAtRules(t *testing.T) {
	pol := loadTestPolicy(t)
	data, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	d := pol.Evaluate(input(dana, "grafana:payments-viewer", Request{}))
	for _, m := range d.Matched {
		var n int
		if _, err := fmtSscanf(m.Source, &n); err != nil {
			t.Fatalf("source %q: %v", m.Source, err)
		}
		if !strings.Contains(lines[n-1], "id: "+m.RuleID) {
			t.Errorf("source %s of %s points at %q", m.Source, m.RuleID, lines[n-1])
		}
	}
}

func TestMergeSteps(t *testing.T) {
	got := mergeSteps([]Step{
		{Kind: ApproverSecurity, Stage: 3, Quorum: 1},
		{Kind: ApproverManager, Stage: 1, Quorum: 1},
		{Kind: ApproverGroup, Group: "dba", Stage: 3, Quorum: 2},
		{Kind: ApproverManager, Stage: 2, Quorum: 1},
		{Kind: ApproverGroup, Group: "dba", Stage: 5, Quorum: 3},
	})
	if s := stepsString(got); s != "manager@1,group:dba@2,security@2" {
		t.Fatalf("merged %s", s)
	}
	if got[1].Quorum != 3 {
		t.Fatalf("quorum %d, want the largest", got[1].Quorum)
	}
}

func TestLoadRejects(t *testing.T) {
	const head = "rules:\n  - id: r1\n    reason: because\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"malformed yaml", "rules: [ {id: r1", "policy.yaml:1: did not find expected"},
		{"malformed yaml on a later line", "rules:\n  - id: r1\n    when: 'x\n", "policy.yaml:3: found unexpected end of stream"},
		{"unknown field", head + "    effect: allow\n    colour: blue\n", `policy.yaml:5: unknown field "colour" in a rule (it may have: id, description, match`},
		{"unknown top-level field", "rulez: []\n", `policy.yaml:1: unknown field "rulez" in a policy document`},
		{"unknown attribute", head + "    effect: allow\n    when: person.shoe_size > 3\n", "policy.yaml:5: rule r1: when:"},
		{"misspelt variable", head + "    effect: allow\n    when: persn.department == 'x'\n", "undeclared reference to 'persn'"},
		{"when not a bool", head + "    effect: allow\n    when: person.department\n", "when must be a bool condition"},
		{"type error", head + "    effect: allow\n    when: request.duration > 3\n", "policy.yaml:5: rule r1: when:"},
		{"bad effect", head + "    effect: maybe\n", "policy.yaml:4: rule r1: effect \"maybe\""},
		{"unknown approver kind", head + "    effect: require_approval\n    approvals: [{kind: ceo}]\n", "approver kind \"ceo\""},
		{"approval effect without steps", head + "    effect: require_approval\n", "needs at least one approval step"},
		{"negative duration", head + "    effect: allow\n    max_duration: -1h\n", "policy.yaml:5: rule r1: max_duration: duration \"-1h\""},
		{"forever", head + "    effect: allow\n    max_duration: forever\n", "duration \"forever\""},
		{"default above max", head + "    effect: allow\n    max_duration: 1h\n    default_duration: 2h\n", "exceeds max_duration"},
		{"duplicate id", head + "    effect: allow\n  - id: r1\n    effect: allow\n    reason: again\n", "already used at line 2"},
		{"missing reason", "rules:\n  - id: r1\n    effect: allow\n", "give a reason"},
		{"empty match list", head + "    effect: allow\n    match: {apps: []}\n", "policy.yaml:5: rule r1: match apps is empty"},
		{"bad level", head + "    effect: allow\n    match: {levels: [superuser]}\n", "match level \"superuser\""},
		{"bad ticket pattern", head + "    effect: allow\n    justification: {ticket_pattern: '('}\n", "ticket_pattern"},
		{"sod with one set", "sod:\n  - id: s\n    effect: deny\n    sets: [{name: a, entitlements: [x:y]}]\n", "at least two"},
		{"sod allow", "sod:\n  - id: s\n    effect: allow\n    sets: [{name: a, entitlements: [x:a]}, {name: b, entitlements: [x:b]}]\n", "must be deny or require_approval"},
		{"break glass without max", "break_glass:\n  when: 'true'\n", "needs a max_duration"},
		{"empty file", "", "no policy document"},
		{"version", "version: 7\n", "version 7"},
		{"runaway condition", head + "    effect: allow\n    when: person.groups.all(a, person.groups.all(b, person.groups.all(c, a + b + c != '')))\n", "avoid loops nested in loops"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("policy.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("loaded %d rules, want error containing %q", p.Rules(), tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error is not ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestConditionFailingAtRunTimeFailsClosed(t *testing.T) {
	p, err := Parse("r.yaml", []byte(`rules:
  - id: fragile-allow
    when: person.groups[5] == "x"
    effect: allow
    reason: Allows when the sixth group is x.
  - id: fragile-deny
    match: {apps: [hr]}
    when: person.groups[5] == "y"
    effect: deny
    reason: Denies when the sixth group is y.
`))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Evaluate(input(sam, "snowflake:analyst", Request{}))
	if d.Effect != Deny || len(d.Matched) != 0 {
		t.Fatalf("an allow rule whose condition fails applied: %s %v", d.Effect, d.Matched)
	}
	d = p.Evaluate(input(sam, "hr:admin", Request{}))
	if d.Effect != Deny || len(d.Matched) != 1 || !strings.Contains(d.Matched[0].Reason, "could not be evaluated") {
		t.Fatalf("a deny rule whose condition fails did not apply: %s %v", d.Effect, d.Matched)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Parse("p.yaml", []byte("rules:\n  - id: a\n    effect: allow\n    reason: x\n    max_duration: forever\n  - id: b\n    effect: nope\n    reason: y\n"))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:5:") || !strings.Contains(err.Error(), "p.yaml:7:") {
		t.Fatalf("want both problems with lines, got %v", err)
	}
}

func TestMultipleDocuments(t *testing.T) {
	p, err := Parse("p.yaml", []byte("rules:\n  - id: a\n    effect: allow\n    reason: x\n---\nrules:\n  - id: b\n    effect: deny\n    reason: y\n    match: {apps: [hr]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Evaluate(input(sam, "hr:admin", Request{}))
	if d.Effect != Deny || d.Matched[len(d.Matched)-1].Source != "p.yaml:7" {
		t.Fatalf("second document: %+v", d)
	}
}

func FuzzLoad(f *testing.F) {
	seed, _ := os.ReadFile("testdata/policy.yaml")
	f.Add(seed)
	if demo, err := os.ReadFile("../../../deploy/demo/policy.yaml"); err == nil {
		f.Add(demo)
	}
	f.Add([]byte("rules:\n  - id: a\n    effect: allow\n    reason: x\n    when: person.department == 'x'\n"))
	f.Add([]byte("sod: [{id: s, effect: deny, sets: [{name: a, entitlements: [x:*]}, {name: b, entitlements: [y:b]}]}]"))
	f.Add([]byte("rules:\n  - id: a\n    effect: require_approval\n    reason: x\n    approvals: [{any_of: [manager, app_owner]}, {kind: 'group:cab', quorum: all, stage: 2}]\n"))
	f.Add([]byte("rules:\n  -\n  - id: a\n    effect: allow\n    reason: x\n    approvals: {kind: manager, stage: two}\n"))
	f.Add([]byte("break_glass: {when: 'true', max_duration: 1h}\nrules: [{id: a, effect: require_approval, reason: x, approvals: [{kind: security}]}]\n"))
	f.Add([]byte("---\n---\n"))
	held := input(sam, "stripe:refunds", Request{Emergency: true, Justification: "sev1 INC-1", TicketRef: "INC-1"})
	held.Context.Held, held.Context.Pending = []string{"stripe:admin", "netsuite:ap-clerk"}, []string{"netsuite:ap-approver"}
	inputs := []*Input{
		input(jo, "hr:admin", Request{Emergency: true}),
		input(sam, "aws-prod:admin", Request{Emergency: true, Justification: "sev1", TicketRef: "INC-1", Duration: 48 * time.Hour}),
		input(dana, "grafana:payments-viewer", Request{OnBehalf: true, Requester: "marco.bianchi@acme.example"}),
		input(dana, "netsuite:ap-approver", Request{Duration: 365 * 24 * time.Hour}),
		held,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			// Every problem names the file, so a person can find it.
			for _, line := range strings.Split(strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml") {
					t.Fatalf("problem %q does not say where (in %v)", line, err)
				}
			}
			return
		}
		// Loading is deterministic: the same file gives the same policy and decisions.
		again, err := Parse("fuzz.yaml", data)
		if err != nil || again.Version != p.Version || again.Rules() != p.Rules() {
			t.Fatalf("second load differs: %v", err)
		}
		for _, in := range inputs {
			d := p.Evaluate(in)
			if d2 := again.Evaluate(in); d.Effect != d2.Effect || d.Reason != d2.Reason ||
				stepsString(d.Steps) != stepsString(d2.Steps) || strings.Join(d.Remediation, "|") != strings.Join(d2.Remediation, "|") {
				t.Fatalf("decisions differ between loads:\n%+v\n%+v", d, d2)
			}
			checkDecision(t, in, d)
		}
	})
}

// checkDecision asserts what holds for every decision whatever the policy: nothing is
// allowed that no rule allows, a denial grants nothing, approval steps are well formed.
func checkDecision(t *testing.T, in *Input, d Decision) {
	t.Helper()
	ruled, approving, denying := false, false, false
	for _, m := range d.Matched {
		if strings.HasPrefix(m.RuleID, "sod:") || m.RuleID == "break-glass" {
			continue
		}
		switch m.Effect {
		case Allow:
			ruled = true
		case RequireApproval:
			ruled, approving = true, true
		case Deny:
			denying = true
		}
	}
	switch d.Effect {
	case Deny:
		if d.GrantedDuration != 0 || len(d.Steps) > 0 || d.BreakGlass {
			t.Fatalf("a denial grants %s with steps %v (break-glass %v)", d.GrantedDuration, d.Steps, d.BreakGlass)
		}
		if d.Reason == "" || !strings.HasPrefix(d.Reason, "Denied: ") {
			t.Fatalf("denial without a reason: %q", d.Reason)
		}
	case Allow, RequireApproval:
		if !ruled || denying {
			t.Fatalf("%s for %s with matched %v: no rule allows it, or a deny rule matched", d.Effect, in.Entitlement.ID, d.Matched)
		}
		if d.GrantedDuration <= 0 || (d.MaxDuration > 0 && d.GrantedDuration > d.MaxDuration) {
			t.Fatalf("%s grants %s (max %s)", d.Effect, d.GrantedDuration, d.MaxDuration)
		}
	default:
		t.Fatalf("effect %s", d.Effect)
	}
	switch {
	case d.Effect == Allow && d.BreakGlass:
		if !in.Request.Emergency || !approving || d.MaxDuration > MaxBreakGlassDuration || len(d.ReviewSteps) == 0 {
			t.Fatalf("break-glass for a non-emergency, a request no rule sent to approval, beyond %s or unreviewed: %+v", MaxBreakGlassDuration, d)
		}
	case d.Effect == Allow && (approving || len(d.Steps) > 0):
		t.Fatalf("allowed although a rule requires approval (steps %v)", d.Steps)
	case d.Effect == RequireApproval:
		if len(d.Steps) == 0 {
			t.Fatal("approval without steps")
		}
		stage := 1
		for _, s := range d.Steps {
			if s.Stage != stage && s.Stage != stage+1 || s.Quorum < 1 || (s.Kind == ApproverAnyOf) != (len(s.AnyOf) >= 2) {
				t.Fatalf("malformed steps %+v", d.Steps)
			}
			stage = s.Stage
		}
	}
}

func fmtSscanf(source string, n *int) (int, error) {
	_, after, _ := strings.Cut(source, ":")
	return fmt.Sscanf(after, "%d", n)
}

func TestConditions(t *testing.T) {
	src := `conditions:
  finance: person.department == "Finance"
  finance_read: '@finance && entitlement.level == "read"'
rules:
  - id: auto
    when: '@finance_read'
    effect: allow
    reason: Finance reads freely.
  - id: others
    when: '!@finance_read'
    effect: require_approval
    approvals: [{kind: manager}]
    reason: Everyone else asks their manager.
`
	p, err := Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Evaluate(input(dana, "grafana:payments-viewer", Request{})); d.Effect != Allow {
		t.Fatalf("finance read: %s %s", d.Effect, d.Reason)
	}
	if d := p.Evaluate(input(sam, "grafana:payments-viewer", Request{})); d.Effect != RequireApproval {
		t.Fatalf("engineer read: %s %s", d.Effect, d.Reason)
	}
	for _, bad := range []struct{ src, want string }{
		{"rules:\n  - id: r\n    when: '@nope'\n    effect: allow\n    reason: x\n", "c.yaml:3: rule r: when: @nope is not a defined condition"},
		{"conditions:\n  a: '@b'\n  b: '@a'\nrules: []\n", "loop"},
		{"conditions:\n  a: person.department\n", "c.yaml:2: condition a: when must be a bool"},
	} {
		if _, err := Parse("c.yaml", []byte(bad.src)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err %v, want %q", bad.src, err, bad.want)
		}
	}
}

func TestRemediationFromCounterfactuals(t *testing.T) {
	p, err := Parse("c.yaml", []byte(`rules:
  - id: read
    match: {levels: [read]}
    effect: require_approval
    approvals: [{kind: manager}]
    default_duration: 7d
    reason: Reads need the manager.
  - id: not-too-long
    when: request.duration > duration("720h")
    effect: deny
    reason: Nothing is granted for more than 30 days at once.
  - id: no-proxies-for-analysts
    match: {entitlements: [snowflake:analyst]}
    when: request.on_behalf
    effect: deny
    reason: Analyst access is asked for by the analyst.
`))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Evaluate(input(sam, "snowflake:analyst", Request{Duration: 60 * 24 * time.Hour, Requester: sam.Email}))
	if d.Effect != Deny || !strings.Contains(strings.Join(d.Remediation, "|"), "ask for 1w instead of 60d: that would go to approval") {
		t.Fatalf("long request: %s %q", d.Effect, d.Remediation)
	}
	d = p.Evaluate(input(sam, "snowflake:analyst", Request{OnBehalf: true, Requester: "priya.nair@acme.example"}))
	if d.Effect != Deny || !strings.Contains(strings.Join(d.Remediation, "|"), "have sam.patel@acme.example ask for it themselves") {
		t.Fatalf("on behalf: %s %q", d.Effect, d.Remediation)
	}
}

func TestUnknownCatalogReferences(t *testing.T) {
	p, err := Parse("u.yaml", []byte(`rules:
  - id: r
    match: {apps: [grafana, grafnaa], entitlements: [grafana:payments-viewer]}
    effect: allow
    reason: x
sod:
  - id: s
    effect: deny
    sets: [{name: a, entitlements: [netsuite:ap-clerk]}, {name: b, entitlements: [netsuite:ap-aprover, stripe:*]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	known := func(id string) bool { _, ok := ents[id]; return ok }
	knownApp := func(id string) bool { return id == "grafana" || id == "netsuite" }
	got := strings.Join(p.Unknown(Catalog{Entitlement: known, App: knownApp}), "\n")
	for _, want := range []string{"u.yaml:2 rule r: app grafnaa is not in the catalog", "u.yaml:7 sod s: entitlement netsuite:ap-aprover is not in the catalog"} {
		if !strings.Contains(got, want) {
			t.Errorf("unknown references %q lack %q", got, want)
		}
	}
	if strings.Count(got, "\n") != 1 {
		t.Errorf("want exactly two findings, got %q", got)
	}
}

// A condition whose cost the load-time estimate bounds for inputs of the usual sizes runs
// over its limit on a far larger input: it fails, and fails closed, instead of stalling
// the decision; the same policy decides the usual input as written.
func TestOversizedInputIsCostLimited(t *testing.T) {
	p, err := Parse("cost.yaml", []byte(`rules:
  - id: distinct-groups
    effect: allow
    reason: Anyone not in the banned group may read.
    when: '!person.groups.exists(g, g == "banned")'
`))
	if err != nil {
		t.Fatalf("the condition should pass the load-time estimate: %v", err)
	}
	usual := sam
	usual.Groups = []string{"engineering", "backend", "all-staff"}
	if d := p.Evaluate(input(usual, "grafana:payments-viewer", Request{})); d.Effect != Allow {
		t.Fatalf("usual input: %+v", d)
	}
	huge := sam
	// Enough groups that even one pass over them costs more than the limit.
	huge.Groups = make([]string, costLimit/2)
	for i := range huge.Groups {
		huge.Groups[i] = "g"
	}
	if d := p.Evaluate(input(huge, "grafana:payments-viewer", Request{})); d.Effect != Deny {
		t.Fatalf("an input beyond the estimate was not cost-limited: %+v", d)
	}
}
