package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchRules is the decision the benchmarks make, among n rules: ten that concern the
// request's kind of access, and n-10 about other apps (indexed by app, so never
// candidates) or, unindexed, with no match at all (every one a candidate).
func benchPolicy(tb testing.TB, n int, indexed bool) *Policy {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`rules:
  - id: deny-inactive
    when: person.status != "active"
    effect: deny
    reason: Only active staff.
  - id: deny-contractor-prod
    match: {tags: [production], levels: [write, admin]}
    when: person.employment_type == "contractor"
    effect: deny
    reason: No contractors in prod.
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
    max_duration: 90d
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
    max_duration: 8h
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
  - id: analytics-limit
    match: {apps: [snowflake]}
    when: request.duration > duration("2160h") || !("customer-data" in entitlement.tags)
    effect: deny
    reason: Analytics grants are capped.
`)
	for i := 10; i < n; i++ {
		if indexed {
			fmt.Fprintf(&b, "  - id: other-%d\n    match: {apps: [app-%d]}\n", i, i)
		} else {
			fmt.Fprintf(&b, "  - id: other-%d\n", i)
		}
		fmt.Fprintf(&b, "    when: person.department == \"Dept-%d\" && entitlement.app == \"app-%d\" && \"group-%d\" in person.groups\n", i, i, i)
		b.WriteString("    effect: require_approval\n    approvals: [{kind: manager}]\n    reason: Other app.\n")
	}
	p, err := Parse("bench.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	if p.Rules() != n {
		tb.Fatalf("%d rules, want %d", p.Rules(), n)
	}
	return p
}

// BenchInput is sam.patel asking for snowflake:analyst for two weeks: manager approval.
func benchInput() *Input {
	in := &Input{
		Person: Person{Email: "sam.patel@acme.example", Department: "Engineering", Title: "Software Engineer",
			Manager: "priya.nair@acme.example", Groups: []string{"engineering", "backend", "all-staff"},
			EmploymentType: "employee", Status: "active", TimeZone: "America/Los_Angeles"},
		Entitlement: Entitlement{ID: "snowflake:analyst", App: "snowflake", Name: "analyst", Level: "read", Risk: "medium",
			Tags: []string{"analytics", "customer-data"}, Owner: "sofia.martins@acme.example", MaxDuration: 90 * 24 * time.Hour},
		Request: Request{Duration: 14 * 24 * time.Hour, Justification: "quarterly churn analysis", Requester: "sam.patel@acme.example"},
	}
	in.Context.SetClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), in.Person.TimeZone)
	return in
}

func BenchmarkDecide(b *testing.B) {
	for _, bc := range []struct {
		n       int
		indexed bool
	}{{10, true}, {1000, true}, {1000, false}} {
		name := fmt.Sprintf("rules=%d", bc.n)
		if !bc.indexed {
			name += "/unindexed"
		}
		b.Run(name, func(b *testing.B) {
			p := benchPolicy(b, bc.n, bc.indexed)
			in := benchInput()
			if d := p.Evaluate(in); d.Effect != RequireApproval || len(d.Steps) != 1 {
				b.Fatalf("decision %s %v: %s", d.Effect, d.Steps, d.Reason)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Evaluate(in)
			}
		})
	}
}

func BenchmarkLoadDemoPolicy(b *testing.B) {
	for b.Loop() {
		if _, err := Load("../../../deploy/demo/policy.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}
