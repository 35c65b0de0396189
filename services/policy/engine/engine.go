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
//     effect deny, denies. A matching rule whose justification requirement is not met,
//     or that needs manager approval for a person without a manager, denies too.
//  3. No matching rule denies, with an explanation (deny by default).
//  4. Otherwise the effect is require_approval if any matching rule (or SoD constraint)
//     requires approval, else allow. The approval steps are the union of all their steps,
//     deduplicated by approver (keeping the earliest stage and the largest quorum) and
//     renumbered into consecutive stages.
//  5. The shortest limit wins: max duration is the smallest of the matching rules'
//     max_duration, the entitlement's catalog max_duration and the file's defaults; the
//     default duration is the smallest of the rules' default_duration and the catalog's
//     default_duration, else the file's default, capped at the max. A request without a duration gets the default; a request
//     above the max is granted the max and the reason says so.
//  6. Break-glass: an emergency request with a justification that would otherwise need
//     approval, from someone the break_glass condition admits, is allowed at once for at
//     most break_glass.max_duration and flagged for review after the fact. Denials stand.
package engine

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

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
}

type rule struct {
	id, description string
	match           matcher
	when            cel.Program
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
	when        cel.Program
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

// holds reports whether cond is true for in; a condition that fails to evaluate reports
// failed.
func holds(prg cel.Program, in *Input) (ok, failed bool) {
	if prg == nil {
		return true, false
	}
	out, _, err := prg.Eval(activation{in})
	if err != nil {
		return false, true
	}
	b, isBool := out.Value().(bool)
	return b && isBool, !isBool
}

// Evaluate decides one input. A denial also says which change to the request alone
// would have changed the outcome (found by deciding the changed request).
func (p *Policy) Evaluate(in *Input) Decision {
	d := p.evaluate(in)
	if d.Effect == Deny {
		d.Remediation = dedupe(append(d.Remediation, p.counterfactuals(in)...))
	}
	return d
}

func (p *Policy) counterfactuals(in *Input) []string {
	var out []string
	decide := func(change func(*Input)) Decision {
		alt := *in
		change(&alt)
		return p.evaluate(&alt)
	}
	if in.Request.Duration > 0 {
		if d := decide(func(a *Input) { a.Request.Duration = 0 }); d.Effect != Deny && d.GrantedDuration < in.Request.Duration {
			out = append(out, fmt.Sprintf("ask for %s instead of %s: that %s", directory.FormatDuration(d.GrantedDuration),
				directory.FormatDuration(in.Request.Duration), outcome(d.Effect)))
		}
	}
	if in.Request.OnBehalf {
		if d := decide(func(a *Input) { a.Request.OnBehalf, a.Request.Requester = false, a.Person.Email }); d.Effect != Deny {
			out = append(out, fmt.Sprintf("have %s ask for it themselves: that %s", in.Person.Email, outcome(d.Effect)))
		}
	}
	return out
}

func outcome(e Effect) string {
	if e == Allow {
		return "would be allowed"
	}
	return "would go to approval"
}

func (p *Policy) evaluate(in *Input) Decision {
	d := Decision{PolicyVersion: p.Version}
	var (
		buf      [32]int
		denials  []string // reasons of everything that denies
		remedies []string
		stepsIn  []Step
		gating   []string // reasons of the rules demanding approval
		allowers []string
		limitBuf [4]limit
		defBuf   [4]limit
		limits   = limitBuf[:0]
		defaults = defBuf[:0]
	)
	e := &in.Entitlement
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
		reason := r.reason
		if failed {
			reason += " (its condition could not be evaluated, so it applies)"
		}
		d.Matched = append(d.Matched, Match{RuleID: r.id, Effect: r.effect, Reason: reason, Source: r.source})
		if r.effect == Deny {
			denials = append(denials, reason)
			if r.remediation != "" {
				remedies = append(remedies, r.remediation)
			}
			continue
		}
		if missing := r.justification.unmet(&in.Request); missing != nil {
			denials = append(denials, fmt.Sprintf("rule %s needs %s", r.id, strings.Join(missing, " and ")))
			for _, m := range missing {
				remedies = append(remedies, "give "+m)
			}
			continue
		}
		if r.effect == RequireApproval {
			stepsIn = append(stepsIn, r.steps...)
			gating = append(gating, reason)
			if in.Person.Manager == "" && slices.ContainsFunc(r.steps, func(s Step) bool { return s.Kind == ApproverManager }) {
				denials = append(denials, fmt.Sprintf("rule %s needs approval by %s's manager, and the directory names none", r.id, in.Person.Email))
				remedies = append(remedies, fmt.Sprintf("record %s's manager in the directory", in.Person.Email))
			}
		} else {
			allowers = append(allowers, reason)
		}
		if r.maxDuration > 0 {
			limits = append(limits, limit{r.maxDuration, "rule ", r.id})
		}
		if r.defaultDuration > 0 {
			defaults = append(defaults, limit{r.defaultDuration, "rule ", r.id})
		}
		if r.remediation != "" {
			remedies = append(remedies, r.remediation)
		}
	}
	ruled := len(allowers) + len(gating)

	// Separation of duties: held, pending and requested together.
	for _, s := range p.sod {
		conflict := s.conflict(in)
		if conflict == "" {
			continue
		}
		d.Matched = append(d.Matched, Match{RuleID: "sod:" + s.id, Effect: s.effect, Reason: conflict, Source: s.source})
		if s.effect == Deny {
			denials = append(denials, conflict)
			if s.remediation != "" {
				remedies = append(remedies, s.remediation)
			} else {
				remedies = append(remedies, "give up the conflicting access first, or ask security for an exception")
			}
			continue
		}
		stepsIn = append(stepsIn, s.steps...)
		gating = append(gating, conflict)
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

	switch {
	case len(denials) > 0:
		d.Effect = Deny
		d.Reason = "Denied: " + sentence(strings.Join(denials, "; "))
		d.Remediation = dedupe(remedies)
		return d
	case ruled == 0:
		d.Effect = Deny
		d.Reason = fmt.Sprintf("Denied: no policy rule allows %s for %s, and what no rule allows is denied.", e.ID, in.Person.Email)
		d.Remediation = []string{fmt.Sprintf("ask the owners of the policy or of %s to add a rule covering this request, or ask for a different entitlement", e.App)}
		return d
	}

	// The duration to grant.
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
	var durationNote string
	switch req := in.Request.Duration; {
	case req <= 0:
		d.GrantedDuration = def.d
		durationNote = fmt.Sprintf(" No duration was asked, so it is granted for %s (%s).", directory.FormatDuration(def.d), def.why())
	case maxD.d > 0 && req > maxD.d:
		d.GrantedDuration = maxD.d
		durationNote = fmt.Sprintf(" The %s asked for is capped at %s (%s).", directory.FormatDuration(req), directory.FormatDuration(maxD.d), maxD.why())
	default:
		d.GrantedDuration = req
	}

	if len(gating) > 0 {
		d.Effect = RequireApproval
		d.Steps = mergeSteps(stepsIn)
		d.Reason = "Needs approval: " + sentence(strings.Join(gating, "; "))
	} else {
		d.Effect = Allow
		d.Reason = "Allowed: " + sentence(allowers[0])
	}

	if in.Request.Emergency && p.breakGlass != nil && d.Effect == RequireApproval {
		ok, _ := holds(p.breakGlass.when, in)
		if ok && strings.TrimSpace(in.Request.Justification) == "" {
			ok = false
			d.Remediation = append(d.Remediation, "say what the emergency is (a justification) to use the emergency path")
		}
		if ok {
			b := p.breakGlass
			d.Effect, d.Steps, d.BreakGlass = Allow, nil, true
			d.ReviewSteps = append([]Step(nil), b.review...)
			if d.MaxDuration == 0 || b.maxDuration < d.MaxDuration {
				d.MaxDuration = b.maxDuration
			}
			d.GrantedDuration = min(d.GrantedDuration, d.MaxDuration)
			d.Reason = fmt.Sprintf("Allowed as an emergency (break-glass) for at most %s: %s The grant will be reviewed after the fact.",
				directory.FormatDuration(d.MaxDuration), sentence(b.reason))
			d.Matched = append(d.Matched, Match{RuleID: "break-glass", Effect: Allow, Reason: b.reason + "; after-the-fact review required", Source: b.source})
			return d
		}
		d.Remediation = append(d.Remediation, "the emergency path is not open to "+in.Person.Email+", so the normal policy applies")
	}
	d.Reason += durationNote
	d.Remediation = append(d.Remediation, remedies...)
	return d
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

// mergeSteps unions steps by approver, keeping the earliest stage and the largest quorum,
// and renumbers stages 1, 2, ... in order.
func mergeSteps(in []Step) []Step {
	out := make([]Step, 0, len(in))
	for _, st := range in {
		i := slices.IndexFunc(out, func(o Step) bool { return o.Kind == st.Kind && o.Group == st.Group })
		if i < 0 {
			out = append(out, st)
			continue
		}
		out[i].Stage = min(out[i].Stage, st.Stage)
		out[i].Quorum = max(out[i].Quorum, st.Quorum)
	}
	slices.SortStableFunc(out, func(a, b Step) int {
		if a.Stage != b.Stage {
			return a.Stage - b.Stage
		}
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		return strings.Compare(a.Group, b.Group)
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

// Unknown lists the entitlement and app ids the policy names (in match lists and SoD
// sets) that the catalog lacks — usually a typo, which would make a rule or a
// separation-of-duties constraint silently never apply. known reports whether an
// entitlement id exists; knownApp whether an app id does.
func (p *Policy) Unknown(known, knownApp func(string) bool) []string {
	var out []string
	seen := map[string]bool{}
	add := func(what, id, where string) {
		if key := what + id + where; !seen[key] {
			seen[key] = true
			out = append(out, fmt.Sprintf("%s: %s %s is not in the catalog", where, what, id))
		}
	}
	for _, r := range p.rules {
		for id := range r.match.entitlements {
			if !known(id) {
				add("entitlement", id, r.source+" rule "+r.id)
			}
		}
		for id := range r.match.apps {
			if !knownApp(id) {
				add("app", id, r.source+" rule "+r.id)
			}
		}
	}
	for _, s := range p.sod {
		for _, set := range s.sets {
			for _, id := range set.entitlements {
				if !strings.HasSuffix(id, ":*") && !known(id) {
					add("entitlement", id, s.source+" sod "+s.id)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
