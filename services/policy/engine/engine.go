// Package engine decides access requests from a policy file: YAML rules whose conditions
// are CEL expressions over person, entitlement, request and context.
//
// A decision is made in this order, and the same input always gives the same decision:
//
//  1. Candidate rules are picked from an index on the rule's `match` (entitlement id, app,
//     tag, level, risk; a rule without match is a candidate for everything); a candidate
//     matches when every match field it lists contains the entitlement's value and its
//     `when` condition is true. A condition that fails at run time counts as true for a
//     deny rule and false for any other rule (fail closed).
//  2. Deny overrides: any matching deny rule, or a separation-of-duties constraint with
//     effect deny, denies. A matching rule whose justification requirement is not met
//     denies too, and so does a manager approval step (of a rule or an SoD constraint) for
//     a person without a manager, or whose manager is themselves.
//  3. No matching rule denies, with an explanation (deny by default).
//  4. Otherwise the effect is require_approval if any matching rule (or SoD constraint)
//     requires approval, else allow. The approval steps are the union of all their steps,
//     deduplicated by approver (keeping the earliest stage and the largest quorum; `all`
//     beats any number) and renumbered into consecutive stages.
//  5. The shortest limit wins: max duration is the smallest of the matching rules'
//     max_duration, the entitlement's catalog max_duration and the file's defaults; the
//     default duration is the smallest of the rules' default_duration and the catalog's
//     default_duration, else the file's default, capped at the max. A request without a
//     duration gets the default; a request above the max is granted the max and the
//     reason says so.
//  6. Break-glass: an emergency request with a justification that would otherwise need
//     approval, from someone the break_glass condition admits, is allowed at once for at
//     most break_glass.max_duration and flagged for review after the fact. Denials stand,
//     and so do the approvals of a separation-of-duties constraint: a request that would
//     combine conflicting duties keeps its normal approvals even in an emergency.
//
// Evaluate then explains a denial (and an approval a shorter request would avoid) by
// deciding changed requests: a shorter duration, asking for oneself, the emergency path,
// and the person attributes the rules compare with values (a group, a department).
package engine

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/interpreter"

	"github.com/agentic-iga/iga/pkg/directory"
)

// Policy is a compiled policy file. Safe for concurrent use; replaced, never changed.
type Policy struct {
	// Name is the file's base name; Version is a hash of its contents.
	Name    string
	Version string

	rules           []*rule
	sod             []*sod
	breakGlass      *breakGlass
	defaultDuration time.Duration
	maxDuration     time.Duration
	idx             index
	// groups are the directory groups approval steps name, for Unknown.
	groups []groupRef
}

// groupRef is a directory group an approval step names, and where.
type groupRef struct {
	group  string
	quorum int
	all    bool
	where  string
}

type rule struct {
	id, description string
	match           matcher
	when            *compiledWhen
	tests           tested
	effect          Effect
	steps           []Step
	maxDuration     time.Duration
	defaultDuration time.Duration
	justification   *justification
	reason          string
	remediation     string
	source          string
	order           int
}

type justification struct {
	required   bool
	minLength  int
	ticket     *regexp.Regexp
	ticketText string
}

type sod struct {
	id          string
	sets        []sodSet
	effect      Effect
	steps       []Step
	reason      string
	remediation string
	source      string
}

type sodSet struct {
	name         string
	entitlements []string
}

type breakGlass struct {
	when        *compiledWhen
	maxDuration time.Duration
	reason      string
	source      string
	// review is who reviews an emergency grant after the fact (never empty).
	review []Step
}

// Rules returns the number of rules.
func (p *Policy) Rules() int { return len(p.rules) }

// SoDConstraints returns the number of separation-of-duties constraints.
func (p *Policy) SoDConstraints() int { return len(p.sod) }

// HasBreakGlass reports whether the policy opens an emergency path.
func (p *Policy) HasBreakGlass() bool { return p.breakGlass != nil }

// matcher is a rule's `match`: every listed field must contain the entitlement's value.
type matcher struct {
	apps, entitlements, tags, levels, risks map[string]bool
}

func (m *matcher) matches(e *Entitlement) bool {
	if m.entitlements != nil && !m.entitlements[e.ID] {
		return false
	}
	if m.apps != nil && !m.apps[e.App] {
		return false
	}
	if m.levels != nil && !m.levels[e.Level] {
		return false
	}
	if m.risks != nil && !m.risks[e.Risk] {
		return false
	}
	if m.tags != nil && !slices.ContainsFunc(e.Tags, func(t string) bool { return m.tags[t] }) {
		return false
	}
	return true
}

// index finds the rules that can match an entitlement without looking at the others:
// each rule is filed under its most selective match field.
type index struct {
	byEntitlement, byApp, byTag, byLevel, byRisk map[string][]int
	global                                       []int
}

func buildIndex(rules []*rule) index {
	idx := index{byEntitlement: map[string][]int{}, byApp: map[string][]int{}, byTag: map[string][]int{},
		byLevel: map[string][]int{}, byRisk: map[string][]int{}}
	file := func(m map[string][]int, keys map[string]bool, i int) {
		for k := range keys {
			m[k] = append(m[k], i)
		}
	}
	for i, r := range rules {
		switch m := r.match; {
		case m.entitlements != nil:
			file(idx.byEntitlement, m.entitlements, i)
		case m.apps != nil:
			file(idx.byApp, m.apps, i)
		case m.tags != nil:
			file(idx.byTag, m.tags, i)
		case m.levels != nil:
			file(idx.byLevel, m.levels, i)
		case m.risks != nil:
			file(idx.byRisk, m.risks, i)
		default:
			idx.global = append(idx.global, i)
		}
	}
	return idx
}

// candidates returns, in file order and without duplicates, the rules filed under the
// entitlement's keys.
func (x *index) candidates(e *Entitlement, buf []int) []int {
	buf = append(buf, x.byEntitlement[e.ID]...)
	buf = append(buf, x.byApp[e.App]...)
	for _, t := range e.Tags {
		buf = append(buf, x.byTag[t]...)
	}
	buf = append(buf, x.byLevel[e.Level]...)
	buf = append(buf, x.byRisk[e.Risk]...)
	buf = append(buf, x.global...)
	slices.Sort(buf)
	return slices.Compact(buf)
}

// activation hands the input to CEL without building a map per evaluation.
type activation struct{ in *Input }

func (a activation) ResolveName(name string) (any, bool) {
	switch name {
	case "person":
		return &a.in.Person, true
	case "entitlement":
		return &a.in.Entitlement, true
	case "request":
		return &a.in.Request, true
	case "context":
		return &a.in.Context, true
	}
	return nil, false
}

func (a activation) Parent() interpreter.Activation { return nil }

// compiledWhen is a compiled `when`. Its worst case is bounded at load time for inputs
// within the estimate's sizes (lists of maxListSize, strings of maxStringSize); an input
// beyond them is evaluated by the guarded program, whose cost is tracked and limited at
// run time, so no input can stall a decision. Tracking costs as much as the decision
// itself, so the usual input does without it.
type compiledWhen struct {
	fast, guarded cel.Program
}

// holds reports whether cond is true for in; a condition that fails to evaluate (or runs
// over its cost limit) reports failed.
func holds(cond *compiledWhen, in *Input) (ok, failed bool) {
	if cond == nil {
		return true, false
	}
	prg := cond.fast
	if in.beyondEstimate() {
		prg = cond.guarded
	}
	out, _, err := prg.Eval(activation{in})
	if err != nil {
		return false, true
	}
	b, isBool := out.Value().(bool)
	return b && isBool, !isBool
}

// Evaluate decides one input. A denial also says which change to the request alone
// would have changed the outcome (found by deciding the changed request), and so does an
// approval a shorter request would not need.
func (p *Policy) Evaluate(in *Input) Decision {
	var w why
	d := p.evaluate(in, &w)
	switch {
	case d.Effect == Deny:
		d.Remediation = dedupe(p.explainDenial(in, d.Remediation, &w))
	case d.Effect == RequireApproval && w.durationTested && in.Request.Duration > 0:
		// Only when a rule's condition reads the duration: a decision stays one evaluation.
		d.Remediation = dedupe(append(d.Remediation, p.shorterNeedsLess(in, d)...))
	}
	return d
}

// why is what evaluate found besides the decision, for explaining it.
type why struct {
	// hard is set when something the request alone cannot satisfy denies: a deny rule or
	// SoD constraint, a missing manager, or no rule at all.
	hard bool
	// wouldBe is what the applicable rules say when unmet justifications are set aside.
	wouldBe Effect
	// missing is what unmet justification requirements ask for ("a justification").
	missing []string
	// granted is the duration the request would get if it were not denied.
	granted time.Duration
	// denyRules are the deny rules that matched.
	denyRules []*rule
	// durationTested is set when a matching rule's condition reads request.duration.
	durationTested bool
}

// outcome says what a changed request would get: "would go to approval", "would be
// allowed once you give a justification (at least 15 characters)".
func (w *why) outcome() string {
	o := outcome(w.wouldBe)
	if len(w.missing) > 0 {
		o += " once you give " + strings.Join(w.missing, " and ")
	}
	return o
}

// decideChanged decides in with change applied.
func (p *Policy) decideChanged(in *Input, change func(*Input)) (Decision, *why) {
	alt := *in
	change(&alt)
	w := &why{}
	return p.evaluate(&alt, w), w
}

// Bounds on the changed requests explain tries for person attributes, so a denial costs
// a bounded number of evaluations whatever the policy.
const (
	maxAttributeTrials   = 24
	maxAttributeRemedies = 3
)

// explainDenial adds to remedies what would change a denial: a shorter duration, asking
// for oneself, the emergency path, or a person attribute a rule tests. A computed remedy
// replaces a deny rule's own remediation when it says the same thing more precisely
// (asking for oneself, where the rule is about requests on someone's behalf).
func (p *Policy) explainDenial(in *Input, remedies []string, w *why) []string {
	if !w.hard {
		// Only unmet justifications deny: their remedies say it all, and no other change
		// to the request would lift them.
		return remedies
	}
	var out []string
	if in.Request.Duration > 0 {
		if _, aw := p.decideChanged(in, func(a *Input) { a.Request.Duration = 0 }); !aw.hard && aw.granted > 0 && aw.granted < in.Request.Duration {
			out = append(out, fmt.Sprintf("ask for %s instead of %s: that %s", directory.FormatDuration(aw.granted),
				directory.FormatDuration(in.Request.Duration), aw.outcome()))
		}
	}
	if in.Request.OnBehalf {
		if _, aw := p.decideChanged(in, func(a *Input) { a.Request.OnBehalf, a.Request.Requester = false, a.Person.Email }); !aw.hard {
			out = append(out, fmt.Sprintf("have %s ask for it themselves: that %s", in.Person.Email, aw.outcome()))
			for _, r := range w.denyRules {
				if (r.tests.attrs["request.on_behalf"] || r.tests.attrs["request.requester"]) && !slices.Contains(aw.denyRules, r) {
					remedies = slices.DeleteFunc(remedies, func(s string) bool { return s == r.remediation })
				}
			}
		}
	}
	if !in.Request.Emergency {
		if _, aw := p.decideChanged(in, func(a *Input) { a.Request.Emergency = true }); !aw.hard {
			out = append(out, "if this is an emergency, ask through the emergency path: that "+aw.outcome())
		}
	}
	// Person attributes: those the deny rules test, or, when no rule applied at all, those
	// the rules that did not apply test.
	rules := w.denyRules
	if len(rules) == 0 && w.wouldBe == Deny {
		rules = p.notApplying(in)
	}
	tried, found := map[attrValue]bool{}, 0
	for _, r := range rules {
		for _, av := range r.tests.values {
			if tried[av] || len(tried) >= maxAttributeTrials || found >= maxAttributeRemedies {
				continue
			}
			tried[av] = true
			change, says := vary(&in.Person, av)
			if _, aw := p.decideChanged(in, change); !aw.hard {
				out = append(out, fmt.Sprintf("rule %s tests person.%s: %s this %s", r.id, av.field, says, aw.outcome()))
				found++
			}
		}
	}
	return append(remedies, out...)
}

// notApplying returns the rules other than deny rules whose match fits the entitlement
// but whose condition is false for in. Only a denial looks for them, so a decision does
// not collect them.
func (p *Policy) notApplying(in *Input) []*rule {
	var buf [32]int
	var out []*rule
	for _, i := range p.idx.candidates(&in.Entitlement, buf[:0]) {
		r := p.rules[i]
		if r.effect == Deny || !r.match.matches(&in.Entitlement) {
			continue
		}
		if ok, _ := holds(r.when, in); !ok {
			out = append(out, r)
		}
	}
	return out
}

// vary changes one person attribute to or away from a value a condition compares it with,
// and says how in words.
func vary(p *Person, av attrValue) (func(*Input), string) {
	words := strings.ReplaceAll(av.field, "_", " ")
	if av.field == "groups" {
		if slices.Contains(p.Groups, av.value) {
			return func(a *Input) {
				a.Person.Groups = slices.DeleteFunc(slices.Clone(a.Person.Groups), func(g string) bool { return g == av.value })
			}, fmt.Sprintf("outside group %s", av.value)
		}
		return func(a *Input) {
			a.Person.Groups = append(slices.Clone(a.Person.Groups), av.value)
		}, fmt.Sprintf("as a member of group %s", av.value)
	}
	set := func(v string) func(*Input) {
		return func(a *Input) {
			switch av.field {
			case "department":
				a.Person.Department = v
			case "title":
				a.Person.Title = v
			case "employment_type":
				a.Person.EmploymentType = v
			case "location":
				a.Person.Location = v
			}
		}
	}
	current := map[string]string{"department": p.Department, "title": p.Title, "employment_type": p.EmploymentType, "location": p.Location}[av.field]
	if current == av.value {
		return set(""), fmt.Sprintf("with %s %s other than %q", article(words), words, av.value)
	}
	return set(av.value), fmt.Sprintf("with %s %q", words, av.value)
}

// shorterNeedsLess says, for an approval, whether the default duration would need fewer
// approvals (a rule that gates long requests).
func (p *Policy) shorterNeedsLess(in *Input, d Decision) []string {
	short, aw := p.decideChanged(in, func(a *Input) { a.Request.Duration = 0 })
	if aw.hard || short.GrantedDuration >= in.Request.Duration {
		return nil
	}
	ask := fmt.Sprintf("ask for %s instead of %s", directory.FormatDuration(short.GrantedDuration), directory.FormatDuration(in.Request.Duration))
	switch {
	case short.Effect == Allow:
		return []string{ask + ": that would be allowed without approval"}
	case short.Effect == RequireApproval && len(short.Steps) < len(d.Steps):
		who := make([]string, len(short.Steps))
		for i, s := range short.Steps {
			who[i] = s.String()
		}
		return []string{ask + ": that would need only " + strings.Join(who, ", ")}
	}
	return nil
}

func outcome(e Effect) string {
	switch e {
	case Allow:
		return "would be allowed"
	case RequireApproval:
		return "would go to approval"
	}
	return "would still be denied"
}

// managerMissing says why a manager step cannot be routed for p, or "".
func managerMissing(p *Person) string {
	switch {
	case strings.TrimSpace(p.Manager) == "":
		return fmt.Sprintf("%s's manager, and the directory names none", p.Email)
	case strings.EqualFold(strings.TrimSpace(p.Manager), p.Email):
		return fmt.Sprintf("%s's manager, and the directory names them as their own manager", p.Email)
	}
	return ""
}

// needsManager reports whether steps can only be met by the manager: a manager step (an
// any_of step has other approvers to fall to).
func needsManager(steps []Step) bool {
	return slices.ContainsFunc(steps, func(s Step) bool { return s.Kind == ApproverManager })
}

func (p *Policy) evaluate(in *Input, w *why) Decision {
	d := Decision{PolicyVersion: p.Version}
	var (
		buf      [32]int
		hard     []string // reasons of the denials the request alone cannot lift
		soft     []string // unmet justification requirements
		remedies []string
		stepsIn  []Step
		gating   []string // reasons of the rules demanding approval
		sodGated []string // ids of SoD constraints demanding approval
		allowers []string
		limitBuf [4]limit
		defBuf   [4]limit
		limits   = limitBuf[:0]
		defaults = defBuf[:0]
		softMost Effect // the strictest effect among rules denied for their justification
	)
	e := &in.Entitlement
	noManager := managerMissing(&in.Person)
	for _, i := range p.idx.candidates(e, buf[:0]) {
		r := p.rules[i]
		if !r.match.matches(e) {
			continue
		}
		ok, failed := holds(r.when, in)
		if failed && r.effect == Deny {
			ok = true
		}
		if !ok {
			continue
		}
		if r.tests.attrs["request.duration"] {
			w.durationTested = true
		}
		reason := r.reason
		if failed {
			reason += " (its condition could not be evaluated, so it applies)"
		}
		d.Matched = append(d.Matched, Match{RuleID: r.id, Effect: r.effect, Reason: reason, Source: r.source})
		if r.effect == Deny {
			hard = append(hard, reason)
			w.denyRules = append(w.denyRules, r)
			if r.remediation != "" {
				remedies = append(remedies, r.remediation)
			}
			continue
		}
		if r.maxDuration > 0 {
			limits = append(limits, limit{r.maxDuration, "rule ", r.id})
		}
		if r.defaultDuration > 0 {
			defaults = append(defaults, limit{r.defaultDuration, "rule ", r.id})
		}
		if missing := r.justification.unmet(&in.Request); missing != nil {
			soft = append(soft, fmt.Sprintf("rule %s needs %s", r.id, strings.Join(missing, " and ")))
			for _, m := range missing {
				remedies = append(remedies, "give "+m)
			}
			w.missing = append(w.missing, missing...)
			softMost = max(softMost, r.effect)
			if r.remediation != "" {
				// The rule's own words on how to meet it ("open a change and give its number").
				remedies = append(remedies, r.remediation)
			}
			continue
		}
		if r.effect == RequireApproval {
			stepsIn = append(stepsIn, r.steps...)
			gating = append(gating, reason)
			if noManager != "" && needsManager(r.steps) {
				hard = append(hard, fmt.Sprintf("rule %s needs approval by %s", r.id, noManager))
				remedies = append(remedies, fmt.Sprintf("record %s's manager in the directory", in.Person.Email))
			}
		} else {
			allowers = append(allowers, reason)
		}
		if r.remediation != "" {
			remedies = append(remedies, r.remediation)
		}
	}
	ruled := len(allowers) + len(gating)
	remedies, w.missing = plainJustificationCovered(remedies, "give "), plainJustificationCovered(w.missing, "")

	// Separation of duties: held, pending and requested together.
	for _, s := range p.sod {
		conflict := s.conflict(in)
		if conflict == "" {
			continue
		}
		d.Matched = append(d.Matched, Match{RuleID: "sod:" + s.id, Effect: s.effect, Reason: conflict, Source: s.source})
		if s.effect == Deny {
			hard = append(hard, conflict)
			if s.remediation != "" {
				remedies = append(remedies, s.remediation)
			} else {
				remedies = append(remedies, "give up the conflicting access first, or ask security for an exception")
			}
			continue
		}
		stepsIn = append(stepsIn, s.steps...)
		gating = append(gating, conflict)
		sodGated = append(sodGated, "sod:"+s.id)
		if noManager != "" && needsManager(s.steps) {
			hard = append(hard, fmt.Sprintf("separation of duties %s needs approval by %s", s.id, noManager))
			remedies = append(remedies, fmt.Sprintf("record %s's manager in the directory", in.Person.Email))
		}
	}

	// Durations: the shortest limit wins.
	if e.MaxDuration > 0 {
		limits = append(limits, limit{e.MaxDuration, "the catalog limit of ", e.ID})
	}
	if p.maxDuration > 0 {
		limits = append(limits, limit{p.maxDuration, "the policy-wide limit", ""})
	}
	maxD := shortest(limits)
	d.MaxDuration = maxD.d
	if e.DefaultDuration > 0 {
		defaults = append(defaults, limit{e.DefaultDuration, "the catalog default of ", e.ID})
	}
	def := shortest(defaults)
	if def.d == 0 {
		def = limit{p.defaultDuration, "the policy default", ""}
	}
	if maxD.d > 0 && def.d > maxD.d {
		def = maxD
	}
	var granted time.Duration
	var durationNote string
	switch req := in.Request.Duration; {
	case req <= 0:
		granted = def.d
		durationNote = fmt.Sprintf(" No duration was asked, so it is granted for %s (%s).", directory.FormatDuration(def.d), def.why())
	case maxD.d > 0 && req > maxD.d:
		granted = maxD.d
		durationNote = fmt.Sprintf(" The %s asked for is capped at %s (%s).", directory.FormatDuration(req), directory.FormatDuration(maxD.d), maxD.why())
	default:
		granted = req
	}
	w.granted = granted
	switch {
	case len(gating) > 0 || softMost == RequireApproval:
		w.wouldBe = RequireApproval
	case ruled > 0 || softMost == Allow:
		w.wouldBe = Allow
	default:
		w.wouldBe = Deny
	}

	switch {
	case len(hard) > 0 || len(soft) > 0:
		w.hard = len(hard) > 0
		d.Effect = Deny
		d.Reason = "Denied: " + joinReasons(append(hard, soft...))
		d.Remediation = dedupe(remedies)
		return d
	case ruled == 0:
		w.hard = true
		d.Effect = Deny
		d.Reason = fmt.Sprintf("Denied: no policy rule allows %s for %s, and what no rule allows is denied.", e.ID, in.Person.Email)
		d.Remediation = []string{fmt.Sprintf("ask the owners of the policy or of %s to add a rule covering this request, or ask for a different entitlement", e.App)}
		return d
	}
	d.GrantedDuration = granted

	if len(gating) > 0 {
		d.Effect = RequireApproval
		d.Steps = mergeSteps(stepsIn)
		d.Reason = "Needs approval: " + joinReasons(gating)
	} else {
		d.Effect = Allow
		d.Reason = "Allowed: " + sentence(allowers[0])
	}

	if in.Request.Emergency && p.breakGlass != nil && d.Effect == RequireApproval {
		ok, _ := holds(p.breakGlass.when, in)
		switch {
		case !ok:
			d.Remediation = append(d.Remediation, "the emergency path is not open to "+in.Person.Email+", so the normal policy applies")
		case len(sodGated) > 0:
			// Break-glass skips the approvals of access, never the check on combining duties.
			d.Remediation = append(d.Remediation, fmt.Sprintf("the emergency path cannot lift separation of duties: %s keeps its approvals even in an emergency, so the normal policy applies",
				strings.Join(sodGated, ", ")))
		case strings.TrimSpace(in.Request.Justification) == "":
			d.Remediation = append(d.Remediation, "say what the emergency is (a justification) to use the emergency path")
		default:
			b := p.breakGlass
			d.Effect, d.Steps, d.BreakGlass = Allow, nil, true
			d.ReviewSteps = append([]Step(nil), b.review...)
			if d.MaxDuration == 0 || b.maxDuration < d.MaxDuration {
				d.MaxDuration = b.maxDuration
			}
			d.GrantedDuration = min(d.GrantedDuration, d.MaxDuration)
			d.Reason = fmt.Sprintf("Allowed as an emergency (break-glass) for at most %s: %s The grant will be reviewed after the fact.",
				directory.FormatDuration(d.MaxDuration), sentence(b.reason))
			d.Matched = append(d.Matched, Match{RuleID: "break-glass", Effect: Allow, Reason: strings.TrimRight(b.reason, ".") + "; after-the-fact review required", Source: b.source})
			return d
		}
	}
	d.Reason += durationNote
	d.Remediation = append(d.Remediation, remedies...)
	return d
}

// plainJustificationCovered drops "a justification" (after prefix) when another item asks
// for a justification of some length, which says it too.
func plainJustificationCovered(items []string, prefix string) []string {
	plain := prefix + "a justification"
	if !slices.Contains(items, plain) || !slices.ContainsFunc(items, func(s string) bool { return s != plain && strings.HasPrefix(s, plain) }) {
		return items
	}
	return slices.DeleteFunc(items, func(s string) bool { return s == plain })
}

// joinReasons joins the reasons of several rules into one sentence, "A; b; c.": each
// reason's own full stop goes, and a following reason starts in lower case unless it
// starts with an acronym ("SOX ...") or a name.
func joinReasons(parts []string) string {
	if len(parts) == 1 {
		return sentence(parts[0]) // the common case, without copying the reason
	}
	out := make([]string, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimRight(strings.TrimSpace(p), ".")
		if i > 0 {
			p = lowerFirst(p)
		}
		if p != "" {
			out = append(out, p)
		}
	}
	return sentence(strings.Join(out, "; "))
}

// lowerFirst lower-cases an initial capital that starts an ordinary word ("Read access"),
// not an acronym ("SOX") or a one-letter word.
func lowerFirst(s string) string {
	r := []rune(s)
	if len(r) > 1 && unicode.IsUpper(r[0]) && unicode.IsLower(r[1]) {
		r[0] = unicode.ToLower(r[0])
	}
	return string(r)
}

// limit is a duration and where it comes from ("rule " + id); the text is only built
// when a reason needs it.
type limit struct {
	d          time.Duration
	source, id string
}

func (l limit) why() string { return l.source + l.id }

func shortest(ls []limit) limit {
	var best limit
	for _, l := range ls {
		if l.d > 0 && (best.d == 0 || l.d < best.d) {
			best = l
		}
	}
	return best
}

// unmet lists what a request lacks for this justification requirement.
func (j *justification) unmet(r *Request) []string {
	if j == nil || !j.required {
		return nil
	}
	var missing []string
	text := strings.TrimSpace(r.Justification)
	switch {
	case text == "":
		if j.minLength > 0 {
			missing = append(missing, fmt.Sprintf("a justification (at least %d characters)", j.minLength))
		} else {
			missing = append(missing, "a justification")
		}
	case len([]rune(text)) < j.minLength:
		missing = append(missing, fmt.Sprintf("a justification of at least %d characters (this one has %d)", j.minLength, len([]rune(text))))
	}
	if j.ticket != nil && !j.ticket.MatchString(r.TicketRef) {
		missing = append(missing, fmt.Sprintf("a ticket reference matching %s", j.ticketText))
	}
	return missing
}

// conflict describes the SoD conflict the request would create, or "".
func (s *sod) conflict(in *Input) string {
	mine := -1
	for i, set := range s.sets {
		if set.has(in.Entitlement.ID) {
			mine = i
			break
		}
	}
	if mine < 0 {
		return ""
	}
	for _, src := range []struct {
		ids  []string
		what string
	}{{in.Context.Held, "holds"}, {in.Context.Pending, "is waiting for"}} {
		for _, id := range src.ids {
			if id == in.Entitlement.ID {
				continue
			}
			for i, set := range s.sets {
				if i != mine && set.has(id) {
					why := fmt.Sprintf("separation of duties %s: %s (%s) conflicts with %s (%s), which %s %s",
						s.id, in.Entitlement.ID, s.sets[mine].name, id, set.name, in.Person.Email, src.what)
					if s.reason != "" {
						why += " — " + strings.TrimSuffix(s.reason, ".")
					}
					return why
				}
			}
		}
	}
	return ""
}

func (s sodSet) has(id string) bool {
	for _, e := range s.entitlements {
		if e == id || (strings.HasSuffix(e, ":*") && strings.HasPrefix(id, strings.TrimSuffix(e, "*"))) {
			return true
		}
	}
	return false
}

// mergeSteps unions steps by approver, keeping the earliest stage and the largest quorum
// (all beats a number), and renumbers stages 1, 2, ... in order.
func mergeSteps(in []Step) []Step {
	out := make([]Step, 0, len(in))
	for _, st := range in {
		i := slices.IndexFunc(out, func(o Step) bool { return o.sameApprovers(st) })
		if i < 0 {
			out = append(out, st)
			continue
		}
		out[i].Stage = min(out[i].Stage, st.Stage)
		out[i].Quorum = max(out[i].Quorum, st.Quorum)
		out[i].All = out[i].All || st.All
	}
	slices.SortStableFunc(out, func(a, b Step) int {
		if a.Stage != b.Stage {
			return a.Stage - b.Stage
		}
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		return strings.Compare(a.String(), b.String())
	})
	stage, last := 0, -1
	for i := range out {
		if out[i].Stage != last {
			stage, last = stage+1, out[i].Stage
		}
		out[i].Stage = stage
	}
	return out
}

// sameApprovers reports whether s and o ask the same people: the same approver, or any_of
// the same alternatives in any order.
func (s Step) sameApprovers(o Step) bool {
	if s.Kind != o.Kind || s.Group != o.Group || len(s.AnyOf) != len(o.AnyOf) {
		return false
	}
	for _, a := range s.AnyOf {
		if !slices.Contains(o.AnyOf, a) {
			return false
		}
	}
	return true
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// sentence ends s with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}

// Catalog is what a policy's names are checked against: the directory's entitlements,
// apps, tags and groups. A nil func is not checked.
type Catalog struct {
	// Entitlement and App report whether an id exists; Tag whether any entitlement or
	// app carries a tag.
	Entitlement, App, Tag func(string) bool
	// GroupMembers counts the active people in a directory group.
	GroupMembers func(string) int
}

// Unknown lists what the policy names that the directory lacks: entitlement and app ids
// (in match lists and SoD sets), match tags, and approver groups without an active member
// or with fewer members than the step's quorum. Each is usually a typo that would make a
// rule or an SoD constraint silently never apply, or an approval step that can never be
// routed. Findings start with "file:line" and say which rule.
func (p *Policy) Unknown(c Catalog) []string {
	var out []string
	seen := map[string]bool{}
	add := func(finding string) {
		if !seen[finding] {
			seen[finding] = true
			out = append(out, finding)
		}
	}
	for _, r := range p.rules {
		where := r.source + " rule " + r.id
		for id := range r.match.entitlements {
			if c.Entitlement != nil && !c.Entitlement(id) {
				add(fmt.Sprintf("%s: entitlement %s is not in the catalog", where, id))
			}
		}
		for id := range r.match.apps {
			if c.App != nil && !c.App(id) {
				add(fmt.Sprintf("%s: app %s is not in the catalog", where, id))
			}
		}
		for t := range r.match.tags {
			if c.Tag != nil && !c.Tag(t) {
				add(fmt.Sprintf("%s: tag %s is on no entitlement or app in the catalog", where, t))
			}
		}
	}
	for _, s := range p.sod {
		for _, set := range s.sets {
			for _, id := range set.entitlements {
				if c.Entitlement != nil && !strings.HasSuffix(id, ":*") && !c.Entitlement(id) {
					add(fmt.Sprintf("%s sod %s: entitlement %s is not in the catalog", s.source, s.id, id))
				}
			}
		}
	}
	if c.GroupMembers != nil {
		for _, g := range p.groups {
			switch n := c.GroupMembers(g.group); {
			case n == 0:
				add(fmt.Sprintf("%s: approver group %s has no active member in the directory", g.where, g.group))
			case !g.all && g.quorum > n:
				add(fmt.Sprintf("%s: quorum %d of group %s can never be met: the group has %d active members", g.where, g.quorum, g.group, n))
			}
		}
	}
	sort.Strings(out)
	return out
}
