package engine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Bad input is answered at load time with the file and line, never by a policy that
// loads and then decides something nobody wrote.
func TestLoadRejectsBadInput(t *testing.T) {
	const head = "rules:\n  - id: r1\n    reason: because\n"
	approval := func(steps string) string {
		return head + "    effect: require_approval\n    approvals: " + steps + "\n"
	}
	tests := []struct {
		name, yaml, want string
	}{
		// Malformed YAML and values of the wrong type.
		{"malformed yaml", "rules: [ {id: r1", "policy.yaml:1: did not find expected ',' or '}'"},
		{"stage: two", approval("[{kind: manager, stage: two}]"), `policy.yaml:5: stage is "two" (text), but it must be a whole number`},
		{"a map where a list is expected", approval("{kind: manager}"), "policy.yaml:5: approvals is a mapping (key: value), but it must be a list (of approval steps)"},
		{"a list where text is expected", head + "    effect: [allow]\n", "policy.yaml:4: effect is a list, but it must be text"},
		{"text where a list is expected", head + "    effect: allow\n    match: {apps: grafana}\n", `policy.yaml:5: apps is "grafana" (text), but it must be a list of text`},
		{"rules as a mapping", "rules: {id: r1}\n", "policy.yaml:1: rules is a mapping (key: value), but it must be a list (of rules)"},
		{"every type problem is reported", approval("[{kind: manager, stage: two}, {kind: security, stage: three}]"), `stage is "three"`},
		// Empty entries are errors, not nothing.
		{"empty rule entry", "rules:\n  -\n", "policy.yaml:2: an entry of rules is empty"},
		{"empty rule among rules", head + "    effect: allow\n  -\n", "policy.yaml:5: an entry of rules is empty"},
		{"empty approval step", approval("\n      - {kind: manager}\n      -"), "policy.yaml:7: an entry of approvals is empty"},
		{"empty sod entry", "sod:\n  - \n", "policy.yaml:2: an entry of sod is empty"},
		// Quorums that can never be met, for every kind that has one approver.
		{"manager quorum", approval("[{kind: manager, quorum: 2}]"), "policy.yaml:5: rule r1: a manager step has one approver, so quorum 2 can never be met"},
		{"entitlement owner quorum", approval("[{kind: entitlement_owner, quorum: 2}]"), "an entitlement_owner step has one approver, so quorum 2 can never be met"},
		{"app owner quorum", approval("[{kind: app_owner, quorum: 3}]"), "an app_owner step has one approver, so quorum 3 can never be met"},
		{"app owner quorum on its own line", approval("\n      - kind: app_owner\n        quorum: 2"), "policy.yaml:7: rule r1: an app_owner step has one approver"},
		{"manager quorum all", approval("[{kind: manager, quorum: all}]"), "quorum all means nothing"},
		{"quorum zero", approval("[{kind: security, quorum: 0}]"), "quorum 0 must be at least 1"},
		{"quorum too large", approval("[{kind: 'group:cab', quorum: 5000}]"), "quorum 5000 is more approvals than any step can gather"},
		{"quorum beyond int64", approval("[{kind: 'group:cab', quorum: 99999999999999999999}]"), "is more approvals than any step can gather"},
		{"quorum in words", approval("[{kind: 'group:cab', quorum: two}]"), `quorum "two" must be a number of approvers or all`},
		{"negative stage", approval("[{kind: manager, stage: -1}]"), "approval stage -1 must not be negative"},
		{"absurd stage", approval("[{kind: manager, stage: 500}]"), "approval stage 500 is more than 20 stages"},
		{"step without kind", approval("[{stage: 1}]"), "an approval step needs a kind"},
		// any_of.
		{"any_of with one", approval("[{any_of: [manager]}]"), "any_of needs at least two approvers to choose from; for one, write kind: manager"},
		{"any_of twice the same", approval("[{any_of: [manager, manager]}]"), "any_of names manager twice"},
		{"any_of unknown", approval("[{any_of: [manager, ceo]}]"), `any_of: approver kind "ceo"`},
		{"any_of and kind", approval("[{kind: security, any_of: [manager, app_owner]}]"), "either a kind or any_of, not both"},
		{"any_of quorum", approval("[{any_of: [manager, security], quorum: 2}]"), "an any_of step is complete when one of its approvers approves, so quorum 2 cannot apply"},
		// Break-glass.
		{"break glass without when", "break_glass:\n  max_duration: 1h\n", "policy.yaml:2: break_glass: needs a when condition"},
		{"break glass for two days", "break_glass:\n  when: 'true'\n  max_duration: 48h\n", "policy.yaml:3: break_glass: max_duration 48h is longer than an emergency lasts (at most 1d)"},
		{"break glass forever", "break_glass:\n  when: 'true'\n  max_duration: forever\n", `duration "forever"`},
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

// An empty entry is reported and the rest of the file is still checked, at the right lines.
func TestEmptyEntryHidesNothing(t *testing.T) {
	_, err := Parse("p.yaml", []byte("rules:\n  -\n  - id: a\n    effect: require_approval\n    reason: x\n    approvals:\n      -\n      - {kind: app_owner, quorum: 2}\n"))
	for _, want := range []string{"p.yaml:2: an entry of rules is empty", "p.yaml:7: an entry of approvals is empty", "p.yaml:8: rule a: an app_owner step has one approver"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestTypeProblemsInEveryDocumentAreReported(t *testing.T) {
	_, err := Parse("p.yaml", []byte("rules:\n  - id: a\n    effect: allow\n    reason: x\n    max_duration: [1h]\n---\nrules:\n  - id: b\n    effect: deny\n    reason: y\n    match: {levels: read}\n"))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:5: max_duration is a list") || !strings.Contains(err.Error(), `p.yaml:11: levels is "read" (text)`) {
		t.Fatalf("want both documents' problems with lines, got %v", err)
	}
}

func TestQuorumAllAndAnyOf(t *testing.T) {
	p, err := Parse("q.yaml", []byte(`rules:
  - id: team-admin
    match: {apps: [hr]}
    effect: require_approval
    approvals:
      - {any_of: [manager, app_owner]}
      - {kind: "group:cab", stage: 2, quorum: 2}
    reason: Either the manager or the app owner, then two of the CAB.
  - id: every-controller
    match: {apps: [hr]}
    when: entitlement.level == "admin"
    effect: require_approval
    approvals:
      - {kind: "group:cab", stage: 2, quorum: all}
      - {any_of: [app_owner, manager], stage: 1}
    reason: Admin needs every CAB member.
`))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Evaluate(input(sam, "hr:admin", Request{}))
	if d.Effect != RequireApproval {
		t.Fatalf("effect %s: %s", d.Effect, d.Reason)
	}
	if got := stepsString(d.Steps); got != "manager or app_owner@1,group:cab@2" {
		t.Fatalf("steps %s", got)
	}
	if s := d.Steps[1]; !s.All {
		t.Errorf("the cab step lost quorum all in the merge: %+v", s)
	}
	if s := d.Steps[0]; s.Kind != ApproverAnyOf || len(s.AnyOf) != 2 || s.Quorum != 1 {
		t.Errorf("any_of step %+v", s)
	}
	// An any_of step with another approver to fall to does not need the manager.
	noManager := sam
	noManager.Manager = ""
	if d := p.Evaluate(input(noManager, "hr:admin", Request{})); d.Effect != RequireApproval {
		t.Errorf("any_of manager or app owner without a manager: %s %s", d.Effect, d.Reason)
	}
}

func TestMergeStepsQuorums(t *testing.T) {
	anyOf := func(stage int, alts ...Approver) Step {
		return Step{Kind: ApproverAnyOf, AnyOf: alts, Stage: stage, Quorum: 1}
	}
	mgr, owner := Approver{Kind: ApproverManager}, Approver{Kind: ApproverAppOwner}
	got := mergeSteps([]Step{
		{Kind: ApproverGroup, Group: "cab", Stage: 2, Quorum: 2},
		anyOf(3, mgr, owner),
		{Kind: ApproverGroup, Group: "cab", Stage: 3, Quorum: 1, All: true},
		anyOf(1, owner, mgr), // the same alternatives in another order: one step
		{Kind: ApproverGroup, Group: "cab", Stage: 4, Quorum: 3},
	})
	if s := stepsString(got); s != "manager or app_owner@1,group:cab@2" {
		t.Fatalf("merged %s", s)
	}
	if !got[1].All || got[1].Quorum != 3 {
		t.Errorf("cab step %+v, want all (and the largest number)", got[1])
	}
}

// "The directory names no manager" also covers SoD steps and people who are their own
// manager; a manager who is the requester is the approval service's to escalate.
func TestManagerMustExist(t *testing.T) {
	p, err := Parse("m.yaml", []byte(`rules:
  - id: owner
    match: {apps: [netsuite]}
    effect: require_approval
    approvals: [{kind: entitlement_owner}]
    reason: The owner approves.
sod:
  - id: payables
    sets:
      - {name: enter, entitlements: [netsuite:ap-clerk]}
      - {name: approve, entitlements: [netsuite:ap-approver]}
    effect: require_approval
    approvals: [{kind: manager}]
    reason: both sides need the manager
`))
	if err != nil {
		t.Fatal(err)
	}
	holding := func(person Person) *Input {
		in := input(person, "netsuite:ap-approver", Request{})
		in.Context.Held = []string{"netsuite:ap-clerk"}
		return in
	}
	noManager, ownManager := dana, dana
	noManager.Manager = ""
	ownManager.Manager = dana.Email
	for _, tc := range []struct {
		name   string
		in     *Input
		effect Effect
		reason string
	}{
		{"sod step, no manager", holding(noManager), Deny, "separation of duties payables needs approval by dana.reyes@acme.example's manager, and the directory names none"},
		{"sod step, own manager", holding(ownManager), Deny, "names them as their own manager"},
		{"sod step, manager", holding(dana), RequireApproval, "separation of duties payables"},
		{"no conflict, no manager step", input(noManager, "netsuite:ap-approver", Request{}), RequireApproval, "The owner approves"},
		{"the manager asks on their report's behalf", func() *Input {
			in := holding(dana)
			in.Request.OnBehalf, in.Request.Requester = true, dana.Manager
			return in
		}(), RequireApproval, "separation of duties payables"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := p.Evaluate(tc.in)
			if d.Effect != tc.effect || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("%s %q, want %s containing %q", d.Effect, d.Reason, tc.effect, tc.reason)
			}
		})
	}
}

// An SoD constraint's approvals are never lifted by break-glass: an emergency that would
// combine conflicting duties keeps its normal approvals.
func TestBreakGlassKeepsSoDApprovals(t *testing.T) {
	pol := loadTestPolicy(t)
	in := input(sam, "stripe:refunds", Request{Emergency: true, Justification: "refund storm INC-77"})
	if d := pol.Evaluate(in); d.Effect != Allow || !d.BreakGlass {
		t.Fatalf("without the conflict the emergency path applies: %s %s", d.Effect, d.Reason)
	}
	in.Context.Held = []string{"stripe:admin"}
	d := pol.Evaluate(in)
	if d.Effect != RequireApproval || d.BreakGlass || len(d.ReviewSteps) > 0 {
		t.Fatalf("break-glass lifted an SoD approval: %s %s", d.Effect, d.Reason)
	}
	if got := stepsString(d.Steps); got != "manager@1,security@1" {
		t.Errorf("steps %s, want the SoD's security with the rule's manager", got)
	}
	if rem := strings.Join(d.Remediation, "|"); !strings.Contains(rem, "cannot lift separation of duties: sod:stripe-money keeps its approvals") {
		t.Errorf("remediation %q does not say why the emergency path is closed", rem)
	}
}

func TestReasonsAreJoinedAsOneSentence(t *testing.T) {
	pol := loadTestPolicy(t)
	for _, in := range []*Input{
		input(jo, "aws-prod:poweruser", Request{}),                                 // a deny rule and a missing justification
		input(sam, "aws-prod:poweruser", Request{Justification: "deploy the fix"}), // two rules want approval
	} {
		d := pol.Evaluate(in)
		if strings.Contains(d.Reason, ".;") || strings.Contains(d.Reason, "..") || !strings.Contains(d.Reason, "; ") {
			t.Errorf("reason %q is not one sentence of parts joined by \"; \"", d.Reason)
		}
	}
	if got := joinReasons([]string{"Contractors cannot write.", "SOX needs controllers.", "Rule x needs a justification."}); got != "Contractors cannot write; SOX needs controllers; rule x needs a justification." {
		t.Errorf("joined %q", got)
	}
}

// A denial says what would change it: the engine decides changed requests.
func TestPathToEligibility(t *testing.T) {
	p, err := Parse("e.yaml", []byte(`rules:
  - id: read
    match: {levels: [read]}
    effect: require_approval
    approvals: [{kind: manager}]
    reason: Reads need the manager.
  - id: no-proxies
    match: {entitlements: [snowflake:analyst]}
    when: request.on_behalf
    effect: deny
    reason: Analyst access is asked for by the analyst.
    remediation: have the analyst ask for it themselves
  - id: contractors-no-write
    match: {levels: [write]}
    when: person.employment_type == "contractor"
    effect: deny
    reason: Contractors cannot write.
    remediation: have an employee make the change
  - id: writes
    match: {levels: [write]}
    effect: require_approval
    approvals: [{kind: manager}]
    justification: {required: true}
    reason: Writes need the manager and a reason.
  - id: oncall-admin
    match: {entitlements: [aws-prod:admin]}
    when: '"oncall" in person.groups'
    effect: allow
    reason: On-call may administer production.
  - id: hr-in-emergencies
    match: {apps: [hr]}
    when: request.emergency
    effect: require_approval
    approvals: [{kind: security}]
    reason: HR admin is only for emergencies.
  - id: long-reads-need-security
    match: {levels: [read]}
    when: request.duration > duration("720h")
    effect: require_approval
    approvals: [{kind: security, stage: 2}]
    reason: Long reads also need Security.
`))
	if err != nil {
		t.Fatal(err)
	}
	danaOnCall := dana
	danaOnCall.Groups = append([]string{"oncall"}, dana.Groups...)
	tests := []struct {
		name   string
		in     *Input
		effect Effect
		has    []string
		hasNot []string
	}{
		{"on behalf: said once, with the person and the outcome",
			input(sam, "snowflake:analyst", Request{OnBehalf: true, Requester: "priya.nair@acme.example"}), Deny,
			[]string{"have sam.patel@acme.example ask for it themselves: that would go to approval"},
			[]string{"have the analyst ask for it themselves"}},
		{"a deny rule's attribute: an employment type other than contractor",
			input(jo, "netsuite:ap-clerk", Request{}), Deny,
			[]string{"have an employee make the change",
				`rule contractors-no-write tests person.employment_type: with an employment type other than "contractor" this would go to approval once you give a justification`},
			nil},
		{"no rule applies: a group a rule would accept",
			input(dana, "aws-prod:admin", Request{}), Deny,
			[]string{"rule oncall-admin tests person.groups: as a member of group oncall this would be allowed", "add a rule"},
			nil},
		{"no rule applies: the emergency path",
			input(dana, "hr:admin", Request{}), Deny,
			[]string{"if this is an emergency, ask through the emergency path: that would go to approval"},
			nil},
		{"a justification alone", input(sam, "netsuite:ap-clerk", Request{}), Deny,
			[]string{"give a justification"}, []string{"emergency", "member of group"}},
		{"a long request needs more approvals than a short one",
			input(sam, "snowflake:analyst", Request{Duration: 60 * 24 * time.Hour}), RequireApproval,
			[]string{"ask for 8h instead of 60d: that would need only manager"}, nil},
		{"a short one needs nothing more", input(sam, "snowflake:analyst", Request{Duration: 7 * 24 * time.Hour}), RequireApproval,
			nil, []string{"instead of"}},
		{"allowed, nothing to say", input(danaOnCall, "aws-prod:admin", Request{}), Allow, nil, []string{"member of group"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := p.Evaluate(tc.in)
			if d.Effect != tc.effect {
				t.Fatalf("effect %s (%s), want %s", d.Effect, d.Reason, tc.effect)
			}
			rem := strings.Join(d.Remediation, " | ")
			for _, s := range tc.has {
				if !strings.Contains(rem, s) {
					t.Errorf("remediation %q lacks %q", rem, s)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(rem, s) {
					t.Errorf("remediation %q says %q", rem, s)
				}
			}
			if len(d.Remediation) != len(dedupe(d.Remediation)) {
				t.Errorf("remediation repeats itself: %q", d.Remediation)
			}
		})
	}
}

func TestUnknownTagsAndGroups(t *testing.T) {
	p, err := Parse("u.yaml", []byte(`rules:
  - id: r
    match: {tags: [production, prodution]}
    effect: require_approval
    approvals:
      - {kind: "group:sox-controlers"}
      - {kind: "group:cab", quorum: 4}
      - {kind: "group:cab", stage: 2, quorum: all}
      - {any_of: [manager, "group:privacy-team"]}
    reason: x
sod:
  - id: s
    effect: require_approval
    sets: [{name: a, entitlements: [netsuite:ap-clerk]}, {name: b, entitlements: [netsuite:ap-approver]}]
    approvals: [{kind: "group:sox-controllers", quorum: 2}]
`))
	if err != nil {
		t.Fatal(err)
	}
	members := map[string]int{"cab": 3, "sox-controllers": 3}
	got := p.Unknown(Catalog{
		Tag:          func(t string) bool { return t == "production" },
		GroupMembers: func(g string) int { return members[g] },
	})
	joined := strings.Join(got, "\n")
	for _, w := range []string{
		"u.yaml:2 rule r: tag prodution is on no entitlement or app in the catalog",
		"u.yaml:6 rule r: approver group sox-controlers has no active member in the directory",
		"u.yaml:7 rule r: quorum 4 of group cab can never be met: the group has 3 active members",
		"u.yaml:9 rule r: approver group privacy-team has no active member in the directory",
	} {
		if !strings.Contains(joined, w) {
			t.Errorf("findings %q lack %q", joined, w)
		}
	}
	if len(got) != 4 {
		t.Errorf("want exactly four findings (quorum all and the SoD's quorum 2 of 3 are fine), got %q", got)
	}
}

// A rule whose justification is unmet says how to meet it in its own words, and one
// requirement is not asked twice.
func TestJustificationRemediesAreSaidOnce(t *testing.T) {
	p, err := Parse("j.yaml", []byte(`rules:
  - id: owner
    match: {levels: [write]}
    effect: require_approval
    approvals: [{kind: manager}]
    justification: {min_length: 15}
    reason: Writes need a reason.
  - id: change
    match: {apps: [aws-prod]}
    effect: require_approval
    approvals: [{kind: security}]
    justification: {ticket_pattern: '^CHG-[0-9]+$'}
    reason: Production changes need a change ticket.
    remediation: open a change and give its number as the ticket reference
`))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Evaluate(input(sam, "aws-prod:poweruser", Request{}))
	want := []string{"give a justification (at least 15 characters)", "give a ticket reference matching ^CHG-[0-9]+$", "open a change and give its number as the ticket reference"}
	if d.Effect != Deny || strings.Join(d.Remediation, "|") != strings.Join(want, "|") {
		t.Fatalf("%s, remediation %q; want %q", d.Effect, d.Remediation, want)
	}
}

func TestBreakGlassMatchReadsAsOneSentence(t *testing.T) {
	d := loadTestPolicy(t).Evaluate(input(sam, "aws-prod:admin", Request{Emergency: true, Justification: "sev1", TicketRef: "INC-1"}))
	for _, m := range d.Matched {
		if strings.Contains(m.Reason, ".;") {
			t.Errorf("match %s reads %q", m.RuleID, m.Reason)
		}
	}
}
