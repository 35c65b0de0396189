package planner

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// Builtin is the deterministic, offline planner: rules for intent and entities, BM25
// retrieval over the catalog, least privilege by default, and a question whenever the
// task leaves the app or the level open.
type Builtin struct {
	tools *tools.Tools
}

// NewBuiltin returns the built-in planner over a toolbox.
func NewBuiltin(t *tools.Tools) *Builtin { return &Builtin{tools: t} }

// Name implements Planner.
func (b *Builtin) Name() string { return "builtin" }

// Replies the built-in planner gives in fixed situations.
const (
	helpText = "I can request access for you (or a report of yours), extend or give up access you hold, " +
		"and tell you what you have. Say what you need to do, e.g. \"I need to look at the payments dashboards " +
		"for the audit this week\" or \"read access to snowflake for 2 days\"."
	injectionText = "I can't change policy, skip approvals or grant access myself: every request goes through " +
		"policy and approval, whatever a message says. Tell me what you need to do and I'll find the least access that fits."
	ownAskText = "I've set aside the rest of your message: I can't change policy, skip approvals or grant access myself, " +
		"whatever a message claims. On what you asked for: "
	everythingText = "I request one entitlement at a time, for a specific task, with the least privilege that fits. " +
		"Which app do you need, and what do you need to do in it?"
	nothingText = "Tell me what access you need — the app and what you need to do there, e.g. \"view the payments dashboards in Grafana\"."
)

var optionYes = []conv.Option{{Label: "Submit", Value: "yes"}, {Label: "Cancel", Value: "no"}}

// Plan implements Planner.
func (b *Builtin) Plan(ctx context.Context, st *conv.State, in Input) (conv.Reply, error) {
	text, problem := Clean(in.Text)
	if problem != "" {
		return conv.Reply{Kind: conv.ReplyError, Text: problem}, nil
	}
	s := b.tools.Session(st, func() time.Time { return in.Now })
	me, err := s.GetPerson(in.Person)
	if err != nil {
		return conv.Reply{Kind: conv.ReplyError, Text: "I can't find you in the directory as an active person, so I can't request access for you. Please contact IT."}, nil
	}
	loc := location(me)
	t := turn{ctx: ctx, b: b, s: s, st: st, in: in, me: me, loc: loc, text: text}
	if in.Option != "" {
		if !st.Pending.Allows(in.Option) {
			if st.Pending != nil {
				return t.reask("That choice isn't one of the options I offered. "), nil
			}
			return conv.Reply{Kind: conv.ReplyInfo, Text: "That choice is no longer open. " + nothingText}, nil
		}
		return t.answer(in.Option, Understanding{Yes: in.Option == "yes", No: in.Option == "no"}, true)
	}
	if !hasLetters(text) {
		if st.Pending != nil {
			return t.reask("I didn't catch that. "), nil
		}
		return conv.Reply{Kind: conv.ReplyInfo, Text: nothingText}, nil
	}
	u := Understand(text, in.Now, loc)
	t.u = &u
	if u.Injection {
		st.Reset()
		// An ask stated before the attempt is the person's own and is handled on its
		// own words, short of admin: nothing from the attempt on is read as an ask.
		if own := u.OwnAsk; own != "" && hasLetters(own) {
			if ou := Understand(own, in.Now, loc); !ou.Injection && ou.Level != "admin" && !ou.Everything && !ou.Yes && !ou.No {
				t.text, t.u = own, &ou
				r, err := t.fresh(own, ou)
				if err == nil && r.Kind != conv.ReplyError && r.Text != notFoundText {
					r.Text = ownAskText + r.Text
					if st.Pending != nil {
						st.Pending.Question = ownAskText + st.Pending.Question
					}
					return r, nil
				}
				// What came before names nothing: the message is the attempt.
				st.Reset()
			}
		}
		return conv.Reply{Kind: conv.ReplyInfo, Text: injectionText}, nil
	}
	if u.BadDuration != "" && st.Pending != nil && !t.namesOtherEntitlement(text, u) {
		if d := st.Draft; st.Pending.Kind == conv.PendingConfirm && d != nil && d.EntitlementID != "" && d.Action != conv.ActionRelinquish {
			// The proposal stands as it was (its buttons too); the duration is asked for.
			q := fmt.Sprintf("I can't use %q as a duration: it must be more than zero. How long do you need %s? For example \"for 3 days\".",
				u.BadDuration, t.label(d.EntitlementID))
			return conv.Reply{Kind: conv.ReplyQuestion, Text: q, Options: st.Pending.Options, EntitlementID: d.EntitlementID}, nil
		}
		return t.reask(fmt.Sprintf("I can't use %q as a duration: it must be more than zero. ", u.BadDuration)), nil
	}
	if u.Withdraw && !u.Injection {
		if st.Pending != nil && st.Pending.Kind != conv.PendingWithdraw && u.WithdrawID == "" && st.Draft != nil && st.Draft.Action == conv.ActionRequest {
			// "cancel that request" while one is being shaped: it is the one meant.
			st.Reset()
			return conv.Reply{Kind: conv.ReplyInfo, Text: "OK, I've dropped it — nothing was submitted."}, nil
		}
		if st.Pending == nil || st.Pending.Kind != conv.PendingWithdraw {
			return t.withdraw(text, u)
		}
	}
	if st.Pending != nil {
		return t.answer(text, u, false)
	}
	return t.fresh(text, u)
}

// withdraw takes back a request of the speaker's still waiting for approval: the one the
// message names (by id or app), or the only one; several are offered to choose from.
// Nothing is withdrawn without a yes.
func (t *turn) withdraw(text string, u Understanding) (conv.Reply, error) {
	t.st.Reset()
	open, err := t.s.OpenRequests(t.ctx, t.me.GetEmail())
	if errors.Is(err, tools.ErrNoRequests) || err != nil {
		return conv.Reply{Kind: conv.ReplyError, Text: "I can't read your requests right now — please try again in a minute, or use \"iga withdraw\"."}, nil
	}
	var waiting, approved []*igav1.RequestView
	for _, v := range open {
		r := v.GetRequest()
		if !strings.EqualFold(r.GetRequesterEmail(), t.me.GetEmail()) {
			continue
		}
		if u.WithdrawID != "" && r.GetId() != u.WithdrawID {
			continue
		}
		switch v.GetStatus() {
		case igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL:
			waiting = append(waiting, v)
		default:
			approved = append(approved, v)
		}
	}
	if apps := t.s.Tools().Index().AppsNamed(text); len(apps) > 0 && u.WithdrawID == "" {
		ofApps := func(v *igav1.RequestView) bool {
			e, _, err := t.s.Entitlement(v.GetRequest().GetEntitlementId())
			return err != nil || !slices.Contains(apps, e.GetAppId())
		}
		waiting = slices.DeleteFunc(waiting, ofApps)
		approved = slices.DeleteFunc(approved, ofApps)
	}
	switch {
	case len(waiting) == 1:
		return t.confirmWithdraw(waiting[0]), nil
	case len(waiting) > 1:
		opts := make([]conv.Option, 0, len(waiting))
		for _, v := range waiting[:min(len(waiting), 5)] {
			opts = append(opts, conv.Option{Label: v.GetRequest().GetId() + " — " + t.label(v.GetRequest().GetEntitlementId()), Value: v.GetRequest().GetId()})
		}
		t.st.Draft = &conv.Draft{Action: conv.ActionWithdraw, Query: text}
		t.st.Pending = &conv.Pending{Kind: conv.PendingWithdraw, Question: "Which request do you want to withdraw?", Options: opts}
		return conv.Reply{Kind: conv.ReplyQuestion, Text: t.st.Pending.Question, Options: opts}, nil
	case len(approved) > 0:
		r := approved[0].GetRequest()
		return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("Your request %s for %s is no longer waiting for approval: it's %s. Once it's granted, say \"I'm done with %s\" to give it up.",
			r.GetId(), t.label(r.GetEntitlementId()), statusWord(approved[0].GetStatus()),
			t.shortLabel(r.GetEntitlementId()))}, nil
	case u.WithdrawID != "":
		return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("I don't see a request %s of yours that is still open, so there's nothing to withdraw.", u.WithdrawID)}, nil
	}
	return conv.Reply{Kind: conv.ReplyInfo, Text: "You have no request waiting for approval, so there's nothing to withdraw."}, nil
}

// confirmWithdraw asks for a yes before taking a request back.
func (t *turn) confirmWithdraw(v *igav1.RequestView) conv.Reply {
	r := v.GetRequest()
	t.st.Draft = &conv.Draft{Action: conv.ActionWithdraw, RequestID: r.GetId(), EntitlementID: r.GetEntitlementId(), Beneficiary: r.GetBeneficiaryEmail()}
	who := ""
	if ap := v.GetApproval().GetApprovers(); len(ap) > 0 {
		names := make([]string, len(ap))
		for i, e := range ap {
			names[i] = e
			if p, err := t.s.GetPerson(e); err == nil && p.GetName() != "" {
				names[i] = p.GetName()
			}
		}
		who = ", waiting for " + strings.Join(names, ", ")
	}
	q := fmt.Sprintf("Withdraw %s — %s%s? Its approvers are no longer asked and nothing is granted.", r.GetId(), t.label(r.GetEntitlementId()), who)
	t.st.Pending = &conv.Pending{Kind: conv.PendingConfirm, Question: q, Options: []conv.Option{{Label: "Withdraw it", Value: "yes"}, {Label: "Keep it", Value: "no"}}}
	return conv.Reply{Kind: conv.ReplyProposal, Text: q, Options: t.st.Pending.Options}
}

// turn is the handling of one message.
type turn struct {
	ctx context.Context
	b   *Builtin
	s   *tools.Session
	st  *conv.State
	in  Input
	me  *igav1.Person
	loc *time.Location
	// text is the message, cleaned; u what was read from it (nil for a button pick).
	text string
	u    *Understanding
	// query is what the catalog was searched for this turn, if it was.
	query string
	// split is set once a message holding two asks was cut to its first.
	split bool
}

// understanding reads a message, reusing this turn's reading when it is this message.
func (t *turn) understanding(text string) Understanding {
	if t.u != nil && text == t.text {
		return *t.u
	}
	return Understand(text, t.in.Now, t.loc)
}

func location(p *igav1.Person) *time.Location {
	if p.GetTimeZone() != "" {
		if l, err := time.LoadLocation(p.GetTimeZone()); err == nil {
			return l
		}
	}
	return time.UTC
}

// reask repeats the open question.
func (t *turn) reask(prefix string) conv.Reply {
	p := t.st.Pending
	kind := conv.ReplyQuestion
	if p.Kind == conv.PendingConfirm {
		kind = conv.ReplyProposal
	}
	return conv.Reply{Kind: kind, Text: prefix + p.Question, Options: p.Options}
}

var ordinals = map[string]int{"1": 0, "first": 0, "one": 0, "2": 1, "second": 1, "two": 1, "3": 2, "third": 2, "three": 2, "4": 3, "fourth": 3, "four": 3}

// answer handles a message while a question is open.
func (t *turn) answer(text string, u Understanding, picked bool) (conv.Reply, error) {
	p := t.st.Pending
	d := t.st.Draft
	lower := strings.ToLower(strings.TrimSpace(text))
	if !picked && (u.Action == conv.ActionCancel || u.No) && !u.Yes {
		t.st.Reset()
		return t.thenNext(conv.Reply{Kind: conv.ReplyInfo, Text: "OK, I've dropped it — nothing was submitted."}), nil
	}
	switch p.Kind {
	case conv.PendingConfirm:
		if u.Yes {
			return t.confirm()
		}
		if picked && u.No {
			t.st.Reset()
			return t.thenNext(conv.Reply{Kind: conv.ReplyInfo, Text: "OK, I've dropped it — nothing was submitted."}), nil
		}
		if u.Duration > 0 && d != nil && d.Action != conv.ActionRelinquish && !t.namesOtherEntitlement(text, u) {
			d.DurationAsked = u.Duration
			return t.propose()
		}
	case conv.PendingEntitlement:
		choice := ""
		if picked {
			choice = text
		} else if !t.namesAppOutside(text, p.Options) {
			choice = t.pickOption(lower, p.Options, u.Duration > 0)
		}
		if choice != "" {
			if _, _, err := t.s.Entitlement(choice); err != nil {
				return t.reask("That isn't in the catalog. "), nil
			}
			if d == nil {
				d = &conv.Draft{Action: conv.ActionRequest}
				t.st.Draft = d
			}
			if u.Duration > 0 {
				d.DurationAsked = u.Duration
			}
			d.EntitlementID = choice
			t.st.Pending = nil
			e, _, _ := t.s.Entitlement(choice)
			why := "You chose " + e.GetName() + "."
			if desc := e.GetDescription(); desc != "" {
				why = "You chose " + e.GetName() + ": " + lowerFirst(strings.TrimSuffix(desc, ".")) + "."
			}
			return t.checkAndProposeWhy(why)
		}
		if u.Duration > 0 && d != nil && !t.namesOtherEntitlement(text, u) {
			d.DurationAsked = u.Duration
			return t.reask("Noted: " + Human(u.Duration) + ". "), nil
		}
	case conv.PendingWithdraw:
		choice := ""
		if picked {
			choice = text
		} else {
			choice = t.pickOption(lower, p.Options, false)
		}
		if choice != "" {
			open, err := t.s.OpenRequests(t.ctx, t.me.GetEmail())
			if err == nil {
				for _, v := range open {
					if v.GetRequest().GetId() == choice && v.GetStatus() == igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL {
						return t.confirmWithdraw(v), nil
					}
				}
			}
			t.st.Reset()
			return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("%s is no longer waiting for approval, so there's nothing to withdraw.", choice)}, nil
		}
	case conv.PendingGrant:
		choice := ""
		if picked {
			choice = text
		} else {
			choice = t.pickOption(lower, p.Options, u.Duration > 0)
		}
		if choice != "" && d != nil {
			t.st.Pending = nil
			if u.Duration > 0 {
				d.DurationAsked = u.Duration
			}
			return t.withGrant(d.Action, choice)
		}
	case conv.PendingJustification:
		if u.Yes {
			return t.reask("I need the reason in a few words. "), nil
		}
		// A new ask naming another app and a level is not an answer.
		if d != nil && !(u.Level != "" && t.namesAppOutside(text, []conv.Option{{Value: d.EntitlementID}})) {
			d.Justification, d.JustificationGiven = strings.TrimSpace(text), true
			if u.TicketRef != "" {
				d.TicketRef = u.TicketRef
			}
			// A reason talks about the work ("the last 3 days of logs"): only a duration
			// the person asks for ("for 3 days", "until Friday") changes the request's.
			if u.Duration > 0 && askedFor(text, u.DurationText) {
				d.DurationAsked = u.Duration
			}
			t.st.Pending = nil
			return t.propose()
		}
	case conv.PendingExtendOffer:
		if u.Yes && d != nil && d.ExtendsGrantID != "" {
			t.st.Pending = nil
			return t.withGrant(conv.ActionExtend, d.ExtendsGrantID)
		}
		if picked && u.No {
			t.st.Reset()
			return conv.Reply{Kind: conv.ReplyInfo, Text: "OK — you keep the access you have until it expires."}, nil
		}
		if u.Duration > 0 && d != nil && d.ExtendsGrantID != "" && !t.namesOtherEntitlement(text, u) {
			d.DurationAsked = u.Duration
			t.st.Pending = nil
			return t.withGrant(conv.ActionExtend, d.ExtendsGrantID)
		}
	}
	if picked {
		return t.reask(""), nil
	}
	// Not an answer: treat it as a new ask, keeping the app in view for a refinement
	// such as "actually I need to edit them".
	prev := t.st.Draft
	t.st.Pending = nil
	r, err := t.fresh(text, u)
	if err == nil && r.Kind == conv.ReplyQuestion && r.Text == notFoundText && prev != nil {
		t.st.Draft, t.st.Pending = prev, p
		return t.reask("I didn't understand that as an answer. "), nil
	}
	return r, err
}

// namesOtherEntitlement reports whether a message names an app or level, i.e. is a new ask.
func (t *turn) namesOtherEntitlement(text string, u Understanding) bool {
	if u.Level != "" {
		return true
	}
	return len(t.s.Tools().Index().AppsNamed(text)) > 0
}

// namesAppOutside reports whether a message names an app none of the options belong to.
func (t *turn) namesAppOutside(text string, opts []conv.Option) bool {
	in := map[string]bool{}
	for _, o := range opts {
		app, _, _ := strings.Cut(o.Value, ":")
		in[app] = true
	}
	for _, a := range t.s.Tools().Index().AppsNamed(text) {
		if !in[a] {
			return true
		}
	}
	return false
}

// pickOption matches a typed answer to one of the offered options: by position ("the
// first"), by the option's words ("viewer"), or by the level it implies ("read only").
func (t *turn) pickOption(lower string, opts []conv.Option, hasDuration bool) string {
	for _, w := range strings.Fields(strings.Trim(lower, ".!?")) {
		if i, ok := ordinals[strings.Trim(w, ".!?,")]; ok && i < len(opts) && len(strings.Fields(lower)) <= 4 && !hasDuration {
			return opts[i].Value
		}
	}
	words := map[string]bool{}
	for _, w := range Tokenize(lower) {
		if !tools.IsStopword(w) {
			words[w] = true
		}
	}
	var match []string
	best := 0
	for _, o := range opts {
		n := 0
		for _, w := range Tokenize(o.Value) {
			if words[w] && !tools.IsStopword(w) {
				n++
			}
		}
		if n > best {
			best, match = n, []string{o.Value}
		} else if n == best && n > 0 {
			match = append(match, o.Value)
		}
	}
	if len(match) == 1 {
		return match[0]
	}
	if lvl, _ := matchLevels(lower); lvl != "" && len(strings.Fields(lower)) <= 5 {
		var hit []string
		for _, o := range opts {
			if e, _, err := t.s.Entitlement(o.Value); err == nil && e.GetLevel() == lvl {
				hit = append(hit, o.Value)
			}
		}
		if len(hit) == 1 {
			return hit[0]
		}
	}
	return ""
}

// Tokenize splits like the catalog index does.
func Tokenize(s string) []string { return tools.Tokenize(s) }

const notFoundText = "I couldn't match that to anything in the catalog. Which app is it, and what do you need to do there? (For example: \"view dashboards in Grafana\", \"read access to Snowflake\".)"

// fresh handles a message that starts something new.
func (t *turn) fresh(text string, u Understanding) (conv.Reply, error) {
	switch {
	case u.Help:
		return conv.Reply{Kind: conv.ReplyInfo, Text: helpText}, nil
	case u.Greeting:
		return conv.Reply{Kind: conv.ReplyInfo, Text: "Hi! " + helpText}, nil
	case u.Action == conv.ActionCancel:
		had := t.st.Draft != nil
		t.st.Reset()
		if had {
			return conv.Reply{Kind: conv.ReplyInfo, Text: "OK, I've dropped it — nothing was submitted."}, nil
		}
		return conv.Reply{Kind: conv.ReplyInfo, Text: "There's nothing in progress to cancel."}, nil
	case u.Yes || u.No:
		return conv.Reply{Kind: conv.ReplyInfo, Text: "There's nothing waiting for an answer. " + nothingText}, nil
	case u.Decide != "":
		return t.decide(u)
	case u.ListApprovals:
		return t.pendingApprovals()
	case u.Action == conv.ActionStatus && u.StatusOf != "":
		return t.statusOf(u.StatusOf)
	case u.Action == conv.ActionStatus:
		return t.status(text)
	case u.Action == conv.ActionExtend || u.Action == conv.ActionRelinquish:
		return t.grantAction(text, u)
	}
	return t.request(text, u)
}

// statusOf answers what someone else holds: a manager sees their direct reports' access
// and open requests; anyone else is told whose they can see.
func (t *turn) statusOf(name string) (conv.Reply, error) {
	t.st.Reset()
	email, _ := resolveName(name, t.me.GetEmail(), t.s.Tools().Index())
	if email == "" || strings.EqualFold(email, t.me.GetEmail()) {
		if email == "" && !slices.Contains([]string{"i", "me", "myself"}, name) {
			return conv.Reply{Kind: conv.ReplyQuestion, Text: fmt.Sprintf("I can't find %q in the directory. Whose access do you mean? Give me their email address.", name)}, nil
		}
		return t.status("")
	}
	p, err := t.s.GetPerson(email)
	if err != nil {
		return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("%s isn't an active person in the directory.", email)}, nil
	}
	who := p.GetName()
	if who == "" {
		who = p.GetEmail()
	}
	if !strings.EqualFold(p.GetManagerEmail(), t.me.GetEmail()) {
		return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("I can show you your own access and that of people who report to you, and %s doesn't report to you. Ask %s, or their manager.", who, firstName(who))}, nil
	}
	gs, err := t.s.ActiveGrants(t.ctx, p.GetEmail())
	if err != nil {
		return conv.Reply{Kind: conv.ReplyError, Text: "I can't read the access ledger right now — please try again in a minute."}, nil
	}
	open, _ := t.s.OpenRequests(t.ctx, p.GetEmail())
	if len(gs) == 0 && len(open) == 0 {
		return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("%s holds no access granted through iga right now, and no request for them is open.", who)}, nil
	}
	var b strings.Builder
	if len(gs) == 0 {
		fmt.Fprintf(&b, "%s holds no access granted through iga right now.", who)
	} else {
		fmt.Fprintf(&b, "%s currently holds:", who)
		t.listGrants(&b, gs)
	}
	if len(open) > 0 {
		b.WriteString("\nOpen requests:")
		for _, v := range open[:min(len(open), 10)] {
			fmt.Fprintf(&b, "\n• %s — %s (%s)", v.GetRequest().GetId(), t.label(v.GetRequest().GetEntitlementId()),
				statusWord(v.GetStatus()))
		}
	}
	fmt.Fprintf(&b, "\nSay \"remove %s's …\" to take something away, or ask for access on their behalf.", strings.ToLower(firstName(who)))
	return conv.Reply{Kind: conv.ReplyInfo, Text: b.String()}, nil
}

// listGrants writes one line a grant: what it is and when it ends.
func (t *turn) listGrants(b *strings.Builder, gs []*igav1.Grant) {
	for _, g := range gs {
		fmt.Fprintf(b, "\n• %s — expires %s", t.label(g.GetEntitlementId()), t.when(g.GetExpiresAt().AsTime()))
	}
}

// statusWord is a request's status as people say it: "pending approval".
func statusWord(s igav1.RequestStatus) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(s.String(), "REQUEST_STATUS_"), "_", " "))
}

// status lists the person's active access and the requests still on their way — of the
// apps the question names, when it names some ("is my github access still active?").
func (t *turn) status(text string) (conv.Reply, error) {
	t.st.Reset()
	gs, err := t.s.ActiveGrants(t.ctx, t.me.GetEmail())
	if err != nil {
		return conv.Reply{Kind: conv.ReplyError, Text: "I can't read the access ledger right now — please try again in a minute."}, nil
	}
	open, _ := t.s.OpenRequests(t.ctx, t.me.GetEmail())
	if apps := t.s.Tools().Index().AppsNamed(text); len(apps) > 0 {
		in := map[string]bool{}
		var names []string
		for _, a := range apps {
			in[a] = true
			names = append(names, t.appName(a))
		}
		ofApps := func(id string) bool {
			e, _, err := t.s.Entitlement(id)
			return err == nil && in[e.GetAppId()]
		}
		gs = slices.DeleteFunc(slices.Clone(gs), func(g *igav1.Grant) bool { return !ofApps(g.GetEntitlementId()) })
		open = slices.DeleteFunc(slices.Clone(open), func(v *igav1.RequestView) bool { return !ofApps(v.GetRequest().GetEntitlementId()) })
		if len(gs) == 0 && len(open) == 0 {
			return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("You hold no %s access granted through iga right now, and no request of yours for it is open.",
				strings.Join(names, " or "))}, nil
		}
	}
	if len(gs) == 0 && len(open) == 0 {
		return conv.Reply{Kind: conv.ReplyInfo, Text: "You hold no access granted through iga right now, and no request of yours is open."}, nil
	}
	var b strings.Builder
	if len(gs) == 0 {
		b.WriteString("You hold no access granted through iga right now.")
	} else {
		b.WriteString("You currently hold:")
		t.listGrants(&b, gs)
	}
	if len(open) > 0 {
		b.WriteString("\nOpen requests:")
		for _, v := range open[:min(len(open), 10)] {
			r := v.GetRequest()
			fmt.Fprintf(&b, "\n• %s — %s", r.GetId(), t.label(r.GetEntitlementId()))
			if !strings.EqualFold(r.GetBeneficiaryEmail(), t.me.GetEmail()) {
				fmt.Fprintf(&b, " for %s", r.GetBeneficiaryEmail())
			}
			switch v.GetStatus() {
			case igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL:
				fmt.Fprintf(&b, ": waiting for approval from %s", t.anyOf(v.GetApproval().GetApprovers()))
			case igav1.RequestStatus_REQUEST_STATUS_APPROVED:
				b.WriteString(": approved, being granted")
			default:
				b.WriteString(": submitted, policy is deciding")
			}
		}
	}
	if len(gs) > 0 {
		b.WriteString("\nSay \"extend …\" for more time or \"I don't need … anymore\" to give one up.")
	}
	return conv.Reply{Kind: conv.ReplyInfo, Text: b.String()}, nil
}

// label is how an entitlement is named to a user: "Grafana payments-viewer (read)".
func (t *turn) label(id string) string {
	e, _, err := t.s.Entitlement(id)
	if err != nil {
		return id
	}
	return fmt.Sprintf("%s (%s)", t.shortLabel(id), e.GetLevel())
}

// shortLabel is an entitlement as a person would say it: "GitHub write".
func (t *turn) shortLabel(id string) string {
	e, a, err := t.s.Entitlement(id)
	if err != nil {
		return id
	}
	name := e.GetAppId()
	if a != nil && a.GetName() != "" {
		name = a.GetName()
	}
	return name + " " + e.GetName()
}

func (t *turn) when(at time.Time) string {
	return at.In(t.loc).Format("Mon 2 Jan 15:04 MST")
}

// grantAction handles extend and relinquish: find which of the person's grants is meant.
func (t *turn) grantAction(text string, u Understanding) (conv.Reply, error) {
	ctx := t.ctx
	t.st.Reset()
	if u.Action == conv.ActionRelinquish {
		switch who := RemovalTarget(text, t.me.GetEmail(), t.s.Tools().Snapshot(), t.s.Tools().Index()); {
		case who.Email != "":
			return t.relinquishFor(text, who.Email), nil
		case who.Explicit:
			return conv.Reply{Kind: conv.ReplyQuestion, Text: fmt.Sprintf("I can't find %q in the directory. Whose access is it? Give me their email address.", who.Text)}, nil
		}
	}
	d := &conv.Draft{Action: u.Action, Beneficiary: t.me.GetEmail(), DurationAsked: u.Duration, TicketRef: u.TicketRef,
		Justification: text, Query: text}
	t.st.Draft = d
	gs, err := t.s.ActiveGrants(ctx, t.me.GetEmail())
	if err != nil {
		return conv.Reply{Kind: conv.ReplyError, Text: "I can't read the access ledger right now — please try again in a minute."}, nil
	}
	verb := "extend"
	if u.Action == conv.ActionRelinquish {
		verb = "give up"
	}
	if len(gs) == 0 {
		t.st.Reset()
		if u.Action == conv.ActionExtend {
			// No grant to extend: maybe they are asking for new access for longer.
			if r, ok := t.requestIfNamed(text, u); ok {
				return r, nil
			}
		}
		return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("You hold no access granted through iga, so there's nothing to %s.", verb)}, nil
	}
	matched := t.matchGrants(text, gs)
	switch {
	case len(matched) == 1:
		return t.withGrant(u.Action, matched[0].GetId())
	case len(matched) == 0 && len(gs) == 1 && !t.namesAnyApp(text):
		return t.withGrant(u.Action, gs[0].GetId())
	case len(matched) == 0 && t.namesAnyApp(text):
		t.st.Reset()
		if u.Action == conv.ActionExtend {
			if r, ok := t.requestIfNamed(text, u); ok {
				return r, nil
			}
		}
		return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("You don't hold that access, so there's nothing to %s. Say \"what access do I have\" to see what you hold.", verb)}, nil
	}
	if len(matched) == 0 {
		matched = gs
	}
	opts := make([]conv.Option, 0, len(matched))
	for _, g := range matched {
		opts = append(opts, conv.Option{Label: t.label(g.GetEntitlementId()), Value: g.GetId()})
	}
	return t.s.AskUser(fmt.Sprintf("Which access do you want to %s?", verb), opts, conv.PendingGrant)
}

// relinquishFor answers a removal of someone else's access. The tools let only the
// holder give access up (RelinquishGrant), so the agent says who can, and tells a
// manager what their report holds that the message names.
func (t *turn) relinquishFor(text, holder string) conv.Reply {
	p, err := t.s.GetPerson(holder)
	if err != nil {
		return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("%s isn't an active person in the directory, so there's no access of theirs I can act on.", holder)}
	}
	name := p.GetName()
	if name == "" {
		name = p.GetEmail()
	}
	var b strings.Builder
	if strings.EqualFold(p.GetManagerEmail(), t.me.GetEmail()) {
		if r, ok := t.removeForReport(text, p, name); ok {
			return r
		}
	}
	fmt.Fprintf(&b, "I can't remove access that %s holds: only the person who holds access, or their manager, can give it up.", name)
	what := "…"
	if strings.EqualFold(p.GetManagerEmail(), t.me.GetEmail()) {
		gs, err := t.s.ActiveGrants(t.ctx, p.GetEmail())
		matched := t.matchGrants(text, gs)
		switch {
		case err != nil:
		case len(matched) > 0:
			for i, g := range matched {
				sep := " They hold "
				if i > 0 {
					sep = "; "
				}
				fmt.Fprintf(&b, "%s%s until %s", sep, t.label(g.GetEntitlementId()), t.when(g.GetExpiresAt().AsTime()))
			}
			b.WriteString(" — it ends on its own then.")
			if len(matched) == 1 {
				what = t.shortLabel(matched[0].GetEntitlementId())
			}
		case t.namesAnyApp(text):
			b.WriteString(" They hold no such access through iga.")
		}
	}
	fmt.Fprintf(&b, " Ask %s to tell me \"remove my %s\", or ask the app's owner to remove it.", firstName(name), what)
	return conv.Reply{Kind: conv.ReplyInfo, Text: b.String()}
}

// removeForReport lets a manager take away access their direct report holds: the grant
// the message names is offered for confirmation, or the report's grants to choose from.
// ok is false when the report holds nothing through iga to remove.
func (t *turn) removeForReport(text string, report *igav1.Person, name string) (conv.Reply, bool) {
	gs, err := t.s.ActiveGrants(t.ctx, report.GetEmail())
	if err != nil {
		return conv.Reply{Kind: conv.ReplyError, Text: "I can't read the access ledger right now — please try again in a minute."}, true
	}
	matched := t.matchGrants(text, gs)
	if len(matched) == 0 {
		if t.namesAnyApp(text) || len(gs) == 0 {
			return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("%s holds no such access through iga, so there's nothing to remove.", name)}, true
		}
		matched = gs
	}
	t.st.Draft = &conv.Draft{Action: conv.ActionRelinquish, Beneficiary: report.GetEmail(), Query: text}
	if len(matched) == 1 {
		r, _ := t.withGrant(conv.ActionRelinquish, matched[0].GetId())
		return r, true
	}
	opts := make([]conv.Option, 0, len(matched))
	for _, g := range matched {
		opts = append(opts, conv.Option{Label: t.label(g.GetEntitlementId()), Value: g.GetId()})
	}
	r, err := t.s.AskUser(fmt.Sprintf("Which of %s's access do you want to remove?", firstName(name)), opts, conv.PendingGrant)
	if err != nil {
		return conv.Reply{}, false
	}
	return r, true
}

func firstName(name string) string {
	if f, _, ok := strings.Cut(name, " "); ok && !strings.Contains(f, "@") {
		return f
	}
	return name
}

// requestIfNamed turns an "extend" about access not held into a normal request.
func (t *turn) requestIfNamed(text string, u Understanding) (conv.Reply, bool) {
	if !t.namesAnyApp(text) {
		return conv.Reply{}, false
	}
	u.Action = conv.ActionRequest
	r, err := t.request(text, u)
	if err != nil {
		return conv.Reply{}, false
	}
	return r, true
}

func (t *turn) namesAnyApp(text string) bool {
	return len(t.s.Tools().Index().AppsNamed(text)) > 0
}

// matchGrants returns the grants whose entitlement the message names best.
func (t *turn) matchGrants(text string, gs []*igav1.Grant) []*igav1.Grant {
	ids := make([]string, 0, len(gs))
	for _, g := range gs {
		ids = append(ids, g.GetEntitlementId())
	}
	hits := t.s.Tools().Index().SearchAmong(text, ids)
	score := map[string]float64{}
	for _, h := range hits {
		score[h.Entitlement.GetId()] = h.Score
	}
	best := 0.0
	for _, g := range gs {
		best = max(best, score[g.GetEntitlementId()])
	}
	if best == 0 {
		return nil
	}
	var out []*igav1.Grant
	for _, g := range gs {
		if score[g.GetEntitlementId()] >= best*0.8 {
			out = append(out, g)
		}
	}
	return out
}

// withGrant continues an extend or relinquish once the grant is known.
func (t *turn) withGrant(action conv.Action, grantID string) (conv.Reply, error) {
	ctx := t.ctx
	d := t.st.Draft
	if d == nil {
		d = &conv.Draft{Action: action, Beneficiary: t.me.GetEmail()}
		t.st.Draft = d
	}
	d.Action = action
	if action == conv.ActionRelinquish {
		holder := t.me.GetEmail()
		if d.Beneficiary != "" {
			holder = d.Beneficiary
		}
		g, err := t.s.OwnActiveGrant(ctx, holder, grantID)
		if err != nil {
			t.st.Reset()
			return conv.Reply{Kind: conv.ReplyInfo, Text: "That access isn't yours or is no longer active, so there's nothing to give up."}, nil
		}
		d.GrantID, d.EntitlementID = g.GetId(), g.GetEntitlementId()
		q := fmt.Sprintf("Give up your %s now? It is removed right away; you can ask again later if you need it.", t.label(g.GetEntitlementId()))
		opts := []conv.Option{{Label: "Give it up", Value: "yes"}, {Label: "Keep it", Value: "no"}}
		if !strings.EqualFold(holder, t.me.GetEmail()) {
			name := holder
			if p, err := t.s.GetPerson(holder); err == nil && p.GetName() != "" {
				name = p.GetName()
			}
			q = fmt.Sprintf("Remove %s's %s now? It is removed right away, and %s is told it was you.", name, t.label(g.GetEntitlementId()), firstName(name))
			opts = []conv.Option{{Label: "Remove it", Value: "yes"}, {Label: "Keep it", Value: "no"}}
		}
		t.st.Pending = &conv.Pending{Kind: conv.PendingConfirm, Question: q, Options: opts}
		return conv.Reply{Kind: conv.ReplyProposal, Text: q, Options: t.st.Pending.Options}, nil
	}
	if _, err := t.s.ExtendGrant(ctx, t.me.GetEmail(), grantID, d); err != nil {
		t.st.Reset()
		return conv.Reply{Kind: conv.ReplyInfo, Text: "That access isn't yours or is no longer active, so it can't be extended. You can request it again instead."}, nil
	}
	return t.propose()
}

// request resolves a new access request.
func (t *turn) request(text string, u Understanding) (conv.Reply, error) {
	snap := t.s.Tools().Snapshot()
	prev := t.st.Draft
	t.st.Reset()
	d := &conv.Draft{Action: conv.ActionRequest, Beneficiary: t.me.GetEmail(), DurationAsked: u.Duration,
		Justification: text, TicketRef: u.TicketRef, Emergency: u.Emergency, Query: text, Level: u.Level}
	if prev != nil {
		d.ToolCalls = prev.ToolCalls
		if d.DurationAsked == 0 {
			d.DurationAsked = prev.DurationAsked
		}
		if d.TicketRef == "" {
			d.TicketRef = prev.TicketRef
		}
		if prev.JustificationGiven {
			d.Justification, d.JustificationGiven = prev.Justification, true
		}
	}
	t.st.Draft = d
	query := text
	if u.DurationText != "" {
		query = strings.Replace(strings.ToLower(query), u.DurationText, " ", 1)
	}
	if u.TicketRef != "" {
		// "it's for ticket ENG-1234": the reference and the word naming it are the
		// justification, not words of the ask ("ticket" would name Jira and Zendesk).
		query = withoutTicket(query, u.TicketRef)
	}
	who := FindBeneficiary(text, t.me.GetEmail(), snap, t.s.Tools().Index())
	if who.Explicit && who.Email == "" {
		t.st.Reset()
		return conv.Reply{Kind: conv.ReplyQuestion, Text: fmt.Sprintf("I can't find %q in the directory. Who is the access for? Give me their email address.", who.Text)}, nil
	}
	if who.Email != "" {
		if _, err := t.s.GetPerson(who.Email); err != nil {
			t.st.Reset()
			return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("%s isn't an active person in the directory, so I can't request access for them.", who.Email)}, nil
		}
		d.Beneficiary = who.Email
		query = strings.Replace(strings.ToLower(query), strings.ToLower(who.Text), " ", 1)
	}
	if otherLanguage(text) {
		return t.inOtherLanguage(query)
	}
	if !t.split {
		asks := text
		if u.TicketRef != "" {
			asks = withoutTicket(asks, u.TicketRef)
		}
		if first, rest, ok := t.twoAsks(asks); ok {
			t.st.Draft = prev
			return t.requestFirstOf(first, rest, u)
		}
	}
	if newcomerAsk.MatchString(strings.ToLower(text)) && len(t.s.Tools().Index().AppsNamed(query)) == 0 {
		if r, ok := t.peerBundle(d.Beneficiary); ok {
			return r, nil
		}
	}
	hits := t.s.SearchCatalog(query, searchLimit)
	t.query = query
	ix := t.s.Tools().Index()
	// Which apps does the message name outright?
	named := map[string]bool{}
	for _, a := range ix.AppsNamed(query) {
		named[a] = true
	}
	content := 0
	for _, w := range Tokenize(query) {
		if !tools.IsStopword(w) && !levelWord[w] {
			content++
		}
	}
	// A refinement ("actually I need to edit them") keeps the app asked about.
	if len(named) == 0 && prev != nil && prev.EntitlementID != "" {
		if e, _, err := t.s.Entitlement(prev.EntitlementID); err == nil && (u.Level != "" || content == 0) {
			named[e.GetAppId()] = true
			t.query = prev.Query + " " + query
			hits = t.s.SearchCatalog(t.query, searchLimit)
		}
	}
	// A task alias in one app's catalog decides the app ("read production logs").
	if am := t.aliasMatches(u); len(am) > 0 {
		apps := map[string]bool{}
		for _, e := range am {
			apps[e.GetAppId()] = true
		}
		if len(apps) == 1 {
			named = apps
		}
	}
	// An app named only by a loose alias ("prod") yields to an unnamed app whose
	// entitlements match the task much better ("ssh to prod through the bastion").
	if len(named) > 0 {
		all := map[string]bool{}
		for _, h := range hits {
			all[h.App.GetId()] = true
		}
		if a := decisiveApp(hits, all); a != "" && !named[a] {
			bestNamed, bestA := 0.0, 0.0
			for _, h := range hits {
				if named[h.App.GetId()] {
					bestNamed = max(bestNamed, h.Score)
				}
				if h.App.GetId() == a {
					bestA = max(bestA, h.Score)
				}
			}
			if bestA >= 1.5*bestNamed {
				named = map[string]bool{a: true}
			}
		}
	}
	if u.Level == "admin" && len(named) == 0 {
		t.st.Reset()
		return conv.Reply{Kind: conv.ReplyQuestion, Text: "Admin access is granted per app and only for a specific task. Which app, and what do you need to do there? Often a narrower role is enough."}, nil
	}
	if u.Everything && len(named) == 0 {
		t.st.Reset()
		return conv.Reply{Kind: conv.ReplyQuestion, Text: everythingText}, nil
	}
	if len(named) > 1 {
		// Several apps named ("payments dashboards" names Stripe and Grafana): prefer one
		// whose entitlements match the rest of the message clearly better.
		if a := decisiveApp(hits, named); a != "" {
			named = map[string]bool{a: true}
		} else {
			return t.chooseApp(named, hits)
		}
	}
	var appID string
	if len(named) == 1 {
		for a := range named {
			appID = a
		}
	} else {
		if content == 0 || !matchesContent(hits) {
			t.st.Reset()
			if u.Level != "" {
				return conv.Reply{Kind: conv.ReplyQuestion, Text: fmt.Sprintf("Which app do you need %s access to, and for what task?", u.Level)}, nil
			}
			return conv.Reply{Kind: conv.ReplyQuestion, Text: notFoundText}, nil
		}
		all := map[string]bool{}
		for _, h := range hits {
			all[h.App.GetId()] = true
		}
		appID = decisiveApp(hits, all)
		if appID == "" {
			appScore := map[string]float64{}
			for _, h := range hits {
				appScore[h.App.GetId()] = max(appScore[h.App.GetId()], h.Score)
			}
			apps := sortedKeys(appScore)
			return t.chooseAmong(hits, u, apps[:min(3, len(apps))], "Which of these do you mean?")
		}
	}
	return t.resolveInApp(appID, hits, u)
}

// ticketPhraseRe matches a ticket reference with the words that introduce it: "for
// ticket ENG-1234", "the incident is INC-7", "jira #ENG-9", "ENG-1234 ticket".
var ticketPhraseRe = regexp.MustCompile(`(?i)(?:\b(?:for|re|per|see|under|on|in|about)\s+)?(?:\b(?:the|a|my|our|this)\s+)?(?:\b(?:tickets?|issues?|cases?|incidents?|change(?: request)?|cr|jira|bugs?|requests?)\s*(?:is|=|:|#|no\.?|number|id)?\s*)?#?\b([a-z][a-z0-9]{1,9}-\d{1,7})\b(?:\s+(?:ticket|issue|case|incident))?`)

// withoutTicket removes a ticket reference and the words naming it from a message.
func withoutTicket(text, ref string) string {
	return ticketPhraseRe.ReplaceAllStringFunc(text, func(m string) string {
		if sub := ticketPhraseRe.FindStringSubmatch(m); sub != nil && strings.EqualFold(sub[1], ref) {
			return " "
		}
		return m
	})
}

// matchesContent reports whether any hit matched a word of the message other than a
// level word: "admin" alone matches every app's admin role and identifies nothing.
func matchesContent(hits []tools.Hit) bool {
	for _, h := range hits {
		for _, term := range h.Terms {
			if !levelWord[term] {
				return true
			}
		}
	}
	return false
}

// decisiveApp returns the app among apps whose entitlements match the message clearly
// best — by overall score, or by how well the entitlements' own fields match — or "".
func decisiveApp(hits []tools.Hit, apps map[string]bool) string {
	score, ent := map[string]float64{}, map[string]float64{}
	for _, h := range hits {
		if a := h.App.GetId(); apps[a] {
			score[a] = max(score[a], h.Score)
			ent[a] = max(ent[a], h.EntScore)
		}
	}
	sc1, sc2, n := topTwo(score)
	en1, en2, _ := topTwo(ent)
	switch {
	case n == 0:
		return ""
	case n == 1:
		return sc1
	case score[sc1] >= score[sc2]*1.4:
		return sc1
	case en1 == sc1 && ent[en1] > 0 && ent[en1] >= ent[en2]*1.5:
		return en1
	}
	return ""
}

// topTwo returns the keys of the highest and second highest values (ties by key), and
// how many keys there are.
func topTwo(m map[string]float64) (first, second string, n int) {
	var v1, v2 float64
	for k, v := range m {
		switch {
		case n == 0 || v > v1 || (v == v1 && k < first):
			first, second, v1, v2 = k, first, v, v1
		case n == 1 || v > v2 || (v == v2 && k < second):
			second, v2 = k, v
		}
		n++
	}
	return first, second, n
}

// searchLimit bounds the hits the planner weighs to choose an app; the tail of a large
// catalog's ranking never changes which app wins, and the chosen app's entitlements are
// then all scored (candidates).
const searchLimit = 50

var levelWord = map[string]bool{"read": true, "write": true, "admin": true, "viewer": true, "editor": true, "view": true,
	"edit": true, "readonly": true, "only": true, "full": true, "look": true, "see": true}

func sortedKeys(m map[string]float64) []string {
	type kv struct {
		k string
		v float64
	}
	kvs := make([]kv, 0, len(m))
	for k, v := range m {
		kvs = append(kvs, kv{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool {
		if kvs[i].v != kvs[j].v {
			return kvs[i].v > kvs[j].v
		}
		return kvs[i].k < kvs[j].k
	})
	out := make([]string, len(kvs))
	for i, e := range kvs {
		out[i] = e.k
	}
	return out
}

// chooseApp asks which of several named apps is meant, offering each app's least
// privileged fitting entitlement.
func (t *turn) chooseApp(named map[string]bool, hits []tools.Hit) (conv.Reply, error) {
	apps := make([]string, 0, len(named))
	for a := range named {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	return t.chooseAmong(hits, Understanding{Level: t.st.Draft.Level}, apps, "That could be more than one system. Which one do you mean?")
}

// chooseAmong offers, for each app, the entitlements that fit the stated level (or the
// least privileged one when no level was stated).
func (t *turn) chooseAmong(hits []tools.Hit, u Understanding, apps []string, question string) (conv.Reply, error) {
	var opts []conv.Option
	for _, a := range apps {
		cands := t.candidates(a, hits)
		best := t.fit(cands, u.Level)
		if len(best) == 0 && u.Level != "" {
			best = t.fit(t.allOf(a), u.Level)
		}
		if len(best) == 0 && u.Level == "" {
			best = cands[:min(1, len(cands))]
		}
		for _, c := range best[:min(2, len(best))] {
			opts = append(opts, conv.Option{Label: t.label(c.ent.GetId()), Value: c.ent.GetId()})
		}
	}
	if len(opts) > 6 {
		opts = opts[:6]
	}
	return t.s.AskUser(question, opts, conv.PendingEntitlement)
}

type cand struct {
	ent   *igav1.Entitlement
	score float64 // how well the entitlement's own fields match the task
	// terms are the catalog words that earned score, typos corrected.
	terms []string
}

// candidates are an app's entitlements that match the task best, least privileged first.
func (t *turn) candidates(appID string, hits []tools.Hit) []cand {
	ix := t.s.Tools().Index()
	appTerms := ix.AppTerms(appID)
	// The ranking's head decides the app; within it, every entitlement is scored, so
	// none is missed for falling outside the head.
	if t.query != "" {
		ids := make([]string, 0, len(ix.AppEntitlements(appID)))
		for _, e := range ix.AppEntitlements(appID) {
			ids = append(ids, e.GetId())
		}
		hits = ix.SearchAmong(t.query, ids)
	}
	score := map[string]float64{}
	terms := map[string][]string{}
	for _, h := range hits {
		if h.App.GetId() != appID {
			continue
		}
		// Words that name the app say nothing about which of its entitlements fits.
		for _, ts := range h.EntTerms {
			if !appTerms[ts.Term] {
				score[h.Entitlement.GetId()] += ts.Score
				terms[h.Entitlement.GetId()] = append(terms[h.Entitlement.GetId()], ts.Term)
			}
		}
	}
	var all []cand
	top := 0.0
	for _, e := range t.s.Tools().Index().AppEntitlements(appID) {
		all = append(all, cand{ent: e, score: score[e.GetId()], terms: terms[e.GetId()]})
		top = max(top, score[e.GetId()])
	}
	var out []cand
	for _, c := range all {
		if top == 0 || c.score >= top*0.6 {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := directory.LevelRank(out[i].ent.GetLevel()), directory.LevelRank(out[j].ent.GetLevel())
		if ri != rj {
			return ri < rj
		}
		if out[i].score != out[j].score {
			return out[i].score > out[j].score
		}
		return out[i].ent.GetId() < out[j].ent.GetId()
	})
	return out
}

// fit keeps the candidates of exactly the stated level.
func (t *turn) fit(cands []cand, level string) []cand {
	if level == "" {
		return nil
	}
	var out []cand
	for _, c := range cands {
		if c.ent.GetLevel() == level {
			out = append(out, c)
		}
	}
	return out
}

// resolveInApp picks the entitlement within an app, or asks.
func (t *turn) resolveInApp(appID string, hits []tools.Hit, u Understanding) (conv.Reply, error) {
	cands := t.candidates(appID, hits)
	if len(cands) == 0 {
		t.st.Reset()
		return conv.Reply{Kind: conv.ReplyQuestion, Text: notFoundText}, nil
	}
	var chosen *cand
	why := ""
	// A catalog alias naming the task verbatim ("see errors") decides, short of admin.
	var byAlias []cand
	for _, e := range t.aliasMatches(u) {
		if e.GetAppId() == appID {
			byAlias = append(byAlias, cand{ent: e, score: 1})
		}
	}
	if len(byAlias) == 1 {
		chosen = &byAlias[0]
		why = "It's the entitlement the catalog lists for that task"
		return t.chosen(chosen, why)
	}
	if u.Level != "" {
		fit := t.fit(cands, u.Level)
		if len(fit) == 0 {
			// The topic matched nothing of that level: look at the whole app.
			fit = t.fit(t.allOf(appID), u.Level)
		}
		switch {
		case len(fit) == 1:
			chosen = &fit[0]
		case len(fit) > 1 && fit[0].score > 0 && fit[0].score >= fit[1].score*1.3:
			chosen = &fit[0]
		case len(fit) > 1:
			return t.ask(fit, fmt.Sprintf("%s has more than one %s entitlement. Which fits what you need to do?", t.appName(appID), u.Level))
		default:
			return t.ask(t.allOf(appID), fmt.Sprintf("%s has no %s-level entitlement. Which of these fits what you need to do?", t.appName(appID), u.Level))
		}
		why = fmt.Sprintf("It's the least privilege that fits \"%s\"", u.LevelWord)
	} else {
		best := bestByScore(cands)
		if len(cands) == 1 && cands[0].score > 0 {
			best = &cands[0]
		}
		switch {
		case best != nil && best.ent.GetLevel() != "admin" && t.guessesLevel(appID, best):
			// Only a typo's correction points at it, above the app's least level: which
			// level is meant is a guess, and the agent never guesses between levels.
			return t.ask(t.allOf(appID), fmt.Sprintf("Which access to %s do you need? I'm not sure I understood: %s. Pick the least that lets you do the task.",
				t.appName(appID), t.readAs(best)))
		case best != nil && best.ent.GetLevel() != "admin":
			chosen = best
			why = "It's the entitlement that matches what you asked for"
		case t.plainAsk(appID) != nil:
			// "notion access please": the catalog says what plain access to the app is.
			chosen = &cand{ent: t.plainAsk(appID)}
			why = fmt.Sprintf("It's what the catalog gives for plain access to %s", t.appName(appID))
		default:
			// Already holding access in the app, asking for the app again: the next
			// level up is what is missing.
			if r, ok, err := t.upgrade(appID); ok {
				return r, err
			}
			q := fmt.Sprintf("Which access to %s do you need? Pick the least that lets you do the task.", t.appName(appID))
			return t.ask(cands, q)
		}
	}
	return t.chosen(chosen, why)
}

// guessesLevel reports whether choosing c without a stated level would be a guess: every
// word that matched it is a typo's correction (not a word of the message), and the app
// has a less privileged level than c's.
func (t *turn) guessesLevel(appID string, c *cand) bool {
	if len(c.terms) == 0 {
		return false
	}
	said := map[string]bool{}
	for _, w := range Tokenize(t.query) {
		said[w] = true
	}
	for _, term := range c.terms {
		if said[term] {
			return false
		}
	}
	es := t.s.Tools().Index().AppEntitlements(appID) // least privileged first
	return len(es) > 0 && directory.LevelRank(es[0].GetLevel()) < directory.LevelRank(c.ent.GetLevel())
}

// readAs says how the message's words were read to reach c: "I read \"sav\" as \"save\"".
func (t *turn) readAs(c *cand) string {
	matched := map[string]bool{}
	for _, term := range c.terms {
		matched[term] = true
	}
	ix := t.s.Tools().Index()
	var parts []string
	for _, w := range Tokenize(t.query) {
		if fix := ix.Best(w); fix != w && matched[fix] {
			parts = append(parts, fmt.Sprintf("%q as %q", w, fix))
			delete(matched, fix)
		}
	}
	if len(parts) == 0 {
		return "nothing you wrote names one of its roles"
	}
	return "I read " + strings.Join(parts, ", ")
}

// aliasMatches returns the entitlements a catalog alias names verbatim in the message,
// when the alias describes a task ("see errors", "restart payments pods") or agrees with
// the level the message states. A bare topic alias ("payments dashboards") decides
// nothing: the level is still open. Admin entitlements need an explicit admin ask.
func (t *turn) aliasMatches(u Understanding) []*igav1.Entitlement {
	var out []*igav1.Entitlement
	for id, alias := range t.s.Tools().Index().AliasPhrases(t.st.Draft.Query) {
		e, _, err := t.s.Entitlement(id)
		if err != nil {
			continue
		}
		task, _ := matchLevels(strings.ToLower(alias))
		// Admin needs an explicit ask: the word admin, or the catalog's own words for a
		// task only that admin role does ("reset mfa" is Okta's help-desk admin).
		if e.GetLevel() == "admin" && u.Level != "admin" && (task == "" || !t.onlyAliasFor(alias, e)) {
			continue
		}
		if task != "" || (u.Level != "" && e.GetLevel() == u.Level) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetId() < out[j].GetId() })
	return out
}

// plainAsk returns the app's plain entitlement when the request is nothing but one of
// its aliases ("notion access please", "acess to lienar"): every word, typos corrected,
// is a stopword or a word of the app, and every word of the alias is there.
func (t *turn) plainAsk(appID string) *igav1.Entitlement {
	ix := t.s.Tools().Index()
	plain, ok := ix.PlainEntitlement(appID)
	if !ok {
		return nil
	}
	terms := ix.AppTerms(appID)
	q := t.st.Draft.Query
	if u := t.understanding(q); u.DurationText != "" {
		q = strings.Replace(strings.ToLower(q), u.DurationText, " ", 1)
	}
	have := map[string]bool{}
	for _, w := range Tokenize(q) {
		c := w
		if !tools.IsStopword(w) && !terms[w] {
			c = ix.Best(w)
		}
		if !tools.IsStopword(c) && !terms[c] {
			return nil // the message says more than the app's name
		}
		have[c] = true
	}
	for _, al := range plain.Aliases {
		all := true
		for _, w := range al {
			all = all && have[w]
		}
		if all {
			return plain.Entitlement
		}
	}
	return nil
}

// onlyAliasFor reports whether no other entitlement of e's app has the alias (words as
// AliasPhrases compares them), so the alias names e's task and nothing less privileged.
func (t *turn) onlyAliasFor(alias string, e *igav1.Entitlement) bool {
	for _, o := range t.s.Tools().Index().AppEntitlements(e.GetAppId()) {
		if o.GetId() == e.GetId() {
			continue
		}
		for _, al := range o.GetAliases() {
			if strings.Join(contentWords(al), " ") == alias {
				return false
			}
		}
	}
	return true
}

func contentWords(s string) []string {
	var out []string
	for _, w := range Tokenize(s) {
		if !tools.IsStopword(w) {
			out = append(out, w)
		}
	}
	return out
}

// bestByScore returns the candidate whose own fields match the task clearly better than
// any other (1.5 times the runner-up), or nil.
func bestByScore(cands []cand) *cand {
	var best, second *cand
	for i := range cands {
		c := &cands[i]
		switch {
		case best == nil || c.score > best.score:
			best, second = c, best
		case second == nil || c.score > second.score:
			second = c
		}
	}
	if best == nil || best.score <= 0 || (second != nil && best.score < 1.5*second.score) {
		return nil
	}
	return best
}

// chosen proposes the entitlement picked, saying why.
func (t *turn) chosen(chosen *cand, why string) (conv.Reply, error) {
	d := t.st.Draft
	d.EntitlementID = chosen.ent.GetId()
	if desc := chosen.ent.GetDescription(); desc != "" {
		why += ": " + chosen.ent.GetName() + " — " + lowerFirst(strings.TrimSuffix(desc, ".")) + "."
	} else {
		why += "."
	}
	d.Level = chosen.ent.GetLevel()
	return t.checkAndProposeWhy(why)
}

func lowerFirst(s string) string {
	if len(s) > 1 && s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z') {
		return strings.ToLower(s[:1]) + s[1:]
	}
	return s
}

func (t *turn) allOf(appID string) []cand {
	var out []cand
	for _, e := range t.s.Tools().Index().AppEntitlements(appID) {
		out = append(out, cand{ent: e})
	}
	return out
}

func (t *turn) appName(appID string) string {
	if a, ok := t.s.Tools().Snapshot().App(appID); ok && a.GetName() != "" {
		return a.GetName()
	}
	return appID
}

// newcomerAsk is someone new asking what they need, without naming an app: "I just
// joined the data team, what do I need?".
var newcomerAsk = regexp.MustCompile(`\b(just (joined|started)|i'?m new|new (here|to the|on the|joiner|starter)|first (day|week)|onboarding)\b`)

// peerBundle offers what people with the same title and department hold and the person
// does not, most held first, to choose from one at a time. Without peers holding
// anything it declines, and the ask is searched like any other.
func (t *turn) peerBundle(person string) (conv.Reply, bool) {
	peers, n, err := t.s.PeerAccess(t.ctx, person)
	if err != nil || len(peers) == 0 {
		return conv.Reply{}, false
	}
	var opts []conv.Option
	for _, p := range peers {
		if len(opts) == 6 {
			break
		}
		if _, has, err := t.s.CheckExistingAccess(t.ctx, person, p.EntitlementID); err == nil && has {
			continue
		}
		e, _, err := t.s.Entitlement(p.EntitlementID)
		if err != nil || e.GetLevel() == "admin" {
			continue // never suggest admin from what peers hold
		}
		opts = append(opts, conv.Option{Label: fmt.Sprintf("%s — %d of %d peers", t.label(e.GetId()), p.Holders, n), Value: e.GetId()})
	}
	if len(opts) == 0 {
		return conv.Reply{}, false
	}
	p, _ := t.s.GetPerson(person)
	q := fmt.Sprintf("Welcome! People who are %s in %s usually hold these. Pick one to request first (then ask me again for the next), or tell me what you need to do:",
		article(p.GetTitle()), p.GetDepartment())
	r, err := t.s.AskUser(q, opts, conv.PendingEntitlement)
	return r, err == nil
}

// article puts "a" or "an" before a job title.
func article(title string) string {
	if title == "" {
		return "in your role"
	}
	if strings.ContainsRune("AEIOUaeiou", rune(title[0])) {
		return "an " + title
	}
	return "a " + title
}

// ask offers entitlements, least privileged first, noting what peers hold. Within a
// level the app's plain entitlement comes first, then the ones most peers hold, then the
// best match for the words of the ask: the everyday choice is not buried under a
// specialised one ("Jira user" before "Jira change-approver").
func (t *turn) ask(cands []cand, question string) (conv.Reply, error) {
	peers, n, _ := t.s.PeerAccess(t.ctx, t.st.Draft.Beneficiary)
	held := map[string]int{}
	for _, p := range peers {
		held[p.EntitlementID] = p.Holders
	}
	plain := ""
	if len(cands) > 0 {
		if p, ok := t.s.Tools().Index().PlainEntitlement(cands[0].ent.GetAppId()); ok {
			plain = p.Entitlement.GetId()
		}
	}
	cands = slices.Clone(cands)
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if ra, rb := directory.LevelRank(a.ent.GetLevel()), directory.LevelRank(b.ent.GetLevel()); ra != rb {
			return ra < rb
		}
		if pa, pb := a.ent.GetId() == plain, b.ent.GetId() == plain; pa != pb {
			return pa
		}
		if ha, hb := held[a.ent.GetId()], held[b.ent.GetId()]; ha != hb {
			return ha > hb
		}
		return a.score > b.score
	})
	var opts []conv.Option
	var hint []string
	for _, c := range cands[:min(5, len(cands))] {
		label := t.label(c.ent.GetId())
		if desc := c.ent.GetDescription(); desc != "" {
			label += " — " + desc
		}
		opts = append(opts, conv.Option{Label: label, Value: c.ent.GetId()})
		if h := held[c.ent.GetId()]; h > 0 {
			hint = append(hint, fmt.Sprintf("%d of %d people with the same title and department hold %s", h, n, c.ent.GetName()))
		}
	}
	if len(hint) > 0 {
		question += " (" + strings.Join(hint, "; ") + ".)"
	}
	return t.s.AskUser(question, opts, conv.PendingEntitlement)
}

func (t *turn) checkAndPropose() (conv.Reply, error) { return t.checkAndProposeWhy("") }

// checkAndProposeWhy refuses to request access the beneficiary already holds (offering
// an extension instead), then proposes.
func (t *turn) checkAndProposeWhy(why string) (conv.Reply, error) {
	d := t.st.Draft
	g, ok, err := t.s.CheckExistingAccess(t.ctx, d.Beneficiary, d.EntitlementID)
	if err == nil && ok {
		who := "You already have"
		if !strings.EqualFold(d.Beneficiary, t.me.GetEmail()) {
			who = d.Beneficiary + " already has"
		}
		text := fmt.Sprintf("%s %s, until %s, so there's nothing new to request.", who, t.label(d.EntitlementID), t.when(g.GetExpiresAt().AsTime()))
		if strings.EqualFold(d.Beneficiary, t.me.GetEmail()) && removalWordRe.MatchString(strings.ToLower(t.text)) {
			// Words of removal are never answered with an offer to extend.
			t.st.Reset()
			text += fmt.Sprintf(" If you meant to give it up, say \"remove my %s\".", t.shortLabel(d.EntitlementID))
			return conv.Reply{Kind: conv.ReplyInfo, Text: text, EntitlementID: d.EntitlementID}, nil
		}
		if strings.EqualFold(d.Beneficiary, t.me.GetEmail()) {
			d.ExtendsGrantID = g.GetId()
			text += " Do you want to extend it?"
			if e, _, err := t.s.Entitlement(d.EntitlementID); err == nil && len(t.nextLevel(e.GetAppId(), e.GetLevel())) > 0 {
				text += " If you need more than " + e.GetLevel() + ", tell me what you need to do."
			}
			t.st.Pending = &conv.Pending{Kind: conv.PendingExtendOffer, Question: text, Options: []conv.Option{{Label: "Extend it", Value: "yes"}, {Label: "No", Value: "no"}}}
			return conv.Reply{Kind: conv.ReplyQuestion, Text: text, Options: t.st.Pending.Options, EntitlementID: d.EntitlementID}, nil
		}
		t.st.Reset()
		return conv.Reply{Kind: conv.ReplyInfo, Text: text, EntitlementID: d.EntitlementID}, nil
	}
	e, _, err := t.s.Entitlement(d.EntitlementID)
	if err != nil {
		return t.proposeWhy(why)
	}
	// Other access held in the same app: more than asked covers the app's base access;
	// less makes this an upgrade, said so.
	for _, h := range t.heldInApp(d.Beneficiary, e.GetAppId(), e.GetId()) {
		he, _, err := t.s.Entitlement(h.GetEntitlementId())
		if err != nil {
			continue
		}
		hr, er := directory.LevelRank(he.GetLevel()), directory.LevelRank(e.GetLevel())
		switch {
		case hr > er && t.isBase(e):
			who := "You already have"
			if !strings.EqualFold(d.Beneficiary, t.me.GetEmail()) {
				who = d.Beneficiary + " already has"
			}
			text := fmt.Sprintf("%s %s, until %s, which is more than %s — so there's nothing to request. If it doesn't let you do what you need, tell me what's missing.",
				who, t.label(he.GetId()), t.when(h.GetExpiresAt().AsTime()), t.label(e.GetId()))
			t.st.Reset()
			return conv.Reply{Kind: conv.ReplyInfo, Text: text, EntitlementID: e.GetId()}, nil
		case hr < er:
			hold := "You hold"
			if !strings.EqualFold(d.Beneficiary, t.me.GetEmail()) {
				hold = d.Beneficiary + " holds"
			}
			why = strings.TrimSpace(why + fmt.Sprintf(" %s %s until %s; this would add %s.", hold, t.label(he.GetId()), t.when(h.GetExpiresAt().AsTime()), e.GetLevel()))
		}
	}
	return t.proposeWhy(why)
}

// heldInApp returns a person's active grants of an app's entitlements other than except.
func (t *turn) heldInApp(person, appID, except string) []*igav1.Grant {
	gs, err := t.s.ActiveGrants(t.ctx, person)
	if err != nil {
		return nil
	}
	var out []*igav1.Grant
	for _, g := range gs {
		if e, _, err := t.s.Entitlement(g.GetEntitlementId()); err == nil && e.GetAppId() == appID && e.GetId() != except {
			out = append(out, g)
		}
	}
	return out
}

// isBase reports whether e is an app's base access, which any higher level of the app
// includes: its plain entitlement, or the least risky one of its least privileged level
// (GitHub read, Datadog viewer). A specialised entitlement ("sensitive-logs", read but
// high risk) is not: holding more of the app need not cover it.
func (t *turn) isBase(e *igav1.Entitlement) bool {
	ix := t.s.Tools().Index()
	if p, ok := ix.PlainEntitlement(e.GetAppId()); ok && p.Entitlement.GetId() == e.GetId() {
		return true
	}
	es := ix.AppEntitlements(e.GetAppId()) // least privileged first
	if len(es) == 0 || es[0].GetLevel() != e.GetLevel() {
		return false
	}
	for _, o := range es {
		if o.GetLevel() == e.GetLevel() && riskRank[o.GetRisk()] < riskRank[e.GetRisk()] {
			return false
		}
	}
	return true
}

var riskRank = map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}

// nextLevel returns an app's entitlements of the first level above level, short of admin.
func (t *turn) nextLevel(appID, level string) []*igav1.Entitlement {
	var out []*igav1.Entitlement
	next := 0
	for _, e := range t.s.Tools().Index().AppEntitlements(appID) { // least privileged first
		r := directory.LevelRank(e.GetLevel())
		if r <= directory.LevelRank(level) || e.GetLevel() == "admin" || (next != 0 && r != next) {
			continue
		}
		next = r
		out = append(out, e)
	}
	return out
}

// upgrade answers an ask naming only an app in which the beneficiary already holds
// access: the next level up is what they can be missing. It returns false when they hold
// nothing there (the ask is answered as usual).
func (t *turn) upgrade(appID string) (conv.Reply, bool, error) {
	d := t.st.Draft
	var top *igav1.Entitlement
	for _, g := range t.heldInApp(d.Beneficiary, appID, "") {
		if e, _, err := t.s.Entitlement(g.GetEntitlementId()); err == nil && (top == nil || directory.LevelRank(e.GetLevel()) > directory.LevelRank(top.GetLevel())) {
			top = e
		}
	}
	if top == nil {
		return conv.Reply{}, false, nil
	}
	next := t.nextLevel(appID, top.GetLevel())
	if len(next) == 0 {
		// Above what they hold is only admin, which is never a default: what they hold
		// is the answer (an offer to extend it).
		d.EntitlementID = top.GetId()
		r, err := t.checkAndPropose()
		return r, true, err
	}
	pick := pickAmong(next, t.s.Tools().Index())
	if pick == nil {
		cands := make([]cand, 0, len(next))
		for _, e := range next {
			cands = append(cands, cand{ent: e})
		}
		r, err := t.ask(cands, fmt.Sprintf("You already have %s. Which of these do you need on top of it?", t.label(top.GetId())))
		return r, true, err
	}
	r, err := t.chosen(&cand{ent: pick}, fmt.Sprintf("It's the next level above the %s access you hold in %s", top.GetLevel(), t.appName(appID)))
	return r, true, err
}

// pickAmong chooses among entitlements of one level without a task to go by: the one
// named like the level ("write"), else the app's plain one, else the only one.
func pickAmong(es []*igav1.Entitlement, ix *tools.Index) *igav1.Entitlement {
	if len(es) == 1 {
		return es[0]
	}
	for _, e := range es {
		if strings.EqualFold(e.GetName(), e.GetLevel()) {
			return e
		}
	}
	if len(es) > 0 {
		if p, ok := ix.PlainEntitlement(es[0].GetAppId()); ok {
			for _, e := range es {
				if e.GetId() == p.Entitlement.GetId() {
					return e
				}
			}
		}
	}
	return nil
}

func (t *turn) propose() (conv.Reply, error) { return t.proposeWhy("") }

// proposeWhy previews policy and asks the user to confirm.
func (t *turn) proposeWhy(why string) (conv.Reply, error) {
	d := t.st.Draft
	if !d.JustificationGiven && d.Query != "" {
		// The request's words go as the justification only when they say why.
		d.Justification = ""
		if t.statesReason(d.Query, d.EntitlementID, t.understanding(d.Query)) {
			d.Justification = d.Query
		}
	}
	p, err := t.s.ProposeRequest(t.ctx, t.me.GetEmail(), d)
	if err != nil {
		t.st.Reset()
		return conv.Reply{Kind: conv.ReplyInfo, Text: "I can't request that: " + userError(err)}, nil
	}
	dec := p.Decision
	if p.PolicyErr == nil {
		if want, what := justificationWanted(dec, d.Justification); want {
			return t.askWhy(what, d.JustificationGiven)
		}
	}
	if t.u != nil && t.u.BadDuration != "" && d.DurationAsked == 0 && d.Action != conv.ActionRelinquish {
		// "for -3 days": ask how long rather than take it as 3 days, or quietly default.
		q := fmt.Sprintf("I can't use %q as a duration: it must be more than zero. How long do you need %s? For example \"for 3 days\".",
			t.u.BadDuration, t.label(d.EntitlementID))
		opts := []conv.Option{{Label: "Use the default (" + Human(p.Request.GetDuration().AsDuration()) + ")", Value: "yes"}, {Label: "Cancel", Value: "no"}}
		t.st.Pending = &conv.Pending{Kind: conv.PendingConfirm, Question: q, Options: opts}
		return conv.Reply{Kind: conv.ReplyQuestion, Text: q, Options: opts, EntitlementID: d.EntitlementID}, nil
	}
	if p.PolicyErr == nil && dec.GetEffect() == igav1.Effect_EFFECT_DENY {
		t.st.Reset()
		text := fmt.Sprintf("Policy doesn't allow %s for %s: %s", t.label(d.EntitlementID), t.whom(d), strings.TrimSuffix(dec.GetReason(), "."))
		if len(dec.GetRemediation()) > 0 {
			text += ". What would change that: " + strings.Join(dec.GetRemediation(), "; ")
		}
		return conv.Reply{Kind: conv.ReplyInfo, Text: text + ". Nothing was submitted."}, nil
	}
	var b strings.Builder
	if d.Action == conv.ActionExtend {
		fmt.Fprintf(&b, "I can request an extension of %s for %s for another %s", t.label(d.EntitlementID), t.whom(d), t.span(d.Duration))
	} else {
		fmt.Fprintf(&b, "I can request %s for %s for %s", t.label(d.EntitlementID), t.whom(d), t.span(d.Duration))
	}
	switch {
	case p.Defaulted && !p.Capped:
		b.WriteString(" (you didn't say how long, so that's the default for it)")
	case p.Capped && d.DurationAsked > 0:
		fmt.Fprintf(&b, " (you asked for %s; that's the most allowed)", Human(d.DurationAsked))
	case p.Capped:
		b.WriteString(" (the most allowed)")
	case t.u != nil && d.DurationAsked == t.u.Duration && sprintRe.MatchString(strings.ToLower(t.u.DurationText)):
		b.WriteString(" (I don't know your sprint calendar, so I took a sprint as 2 weeks — say how long if yours is different)")
	case t.u != nil && d.DurationAsked == t.u.Duration && businessRe.MatchString(strings.ToLower(t.u.DurationText)):
		fmt.Fprintf(&b, " (%s, skipping Saturday and Sunday)", t.u.DurationText)
	}
	b.WriteString(". ")
	if why == "" && d.JustificationGiven {
		why = fmt.Sprintf("Your reason: %q.", clipWords(d.Justification, 200))
	}
	if why != "" {
		b.WriteString(why + " ")
	}
	b.WriteString(t.nextSteps(p, false))
	b.WriteString(" Submit?")
	t.st.Pending = &conv.Pending{Kind: conv.PendingConfirm, Question: b.String(), Options: optionYes}
	return conv.Reply{Kind: conv.ReplyProposal, Text: b.String(), Options: optionYes, EntitlementID: d.EntitlementID, Duration: d.Duration}, nil
}

func (t *turn) whom(d *conv.Draft) string {
	if d.Beneficiary == "" || strings.EqualFold(d.Beneficiary, t.me.GetEmail()) {
		return "you"
	}
	return d.Beneficiary
}

// nextSteps says what policy will do: auto-approve, or whose approval it needs.
func (t *turn) nextSteps(p *tools.Proposal, submitted bool) string {
	if p.PolicyErr != nil {
		return "I couldn't preview policy just now; it decides when the request is submitted."
	}
	switch p.Decision.GetEffect() {
	case igav1.Effect_EFFECT_ALLOW:
		if p.BreakGlass() {
			return t.emergencyTerms(p, submitted)
		}
		if submitted {
			return "Policy auto-approves it, so it will be granted in a moment."
		}
		return "Policy auto-approves this."
	case igav1.Effect_EFFECT_REQUIRE_APPROVAL:
		if len(p.Stages) == 0 {
			return "It needs approval."
		}
		who := t.approversPhrase(p.Stages, strings.EqualFold(p.Request.GetBeneficiaryEmail(), t.me.GetEmail()))
		if submitted {
			return "It's waiting for approval from " + who + ". I'll tell you here when it's decided."
		}
		return "It needs approval from " + who + "."
	}
	return ""
}

// emergencyTerms says what a break-glass allow means: granted at once, capped, reviewed
// after the fact by people it names, revoked if they reject it.
func (t *turn) emergencyTerms(p *tools.Proposal, submitted bool) string {
	who := "Security"
	if len(p.ReviewStages) > 0 {
		who = t.approversPhrase(p.ReviewStages, strings.EqualFold(p.Request.GetBeneficiaryEmail(), t.me.GetEmail()))
	}
	capped := ""
	if m := p.Decision.GetMaxDuration().AsDuration(); m > 0 {
		capped = " for at most " + Human(m)
	}
	if submitted {
		return fmt.Sprintf("It's allowed as an emergency (break-glass), so it will be granted in a moment%s. Afterwards %s review it; if they reject it, it is removed at once.", capped, who)
	}
	return fmt.Sprintf("Policy allows this as an emergency (break-glass): granted at once%s, then reviewed after the fact by %s — if they reject it, it is removed at once.", capped, who)
}

// askedLead: words that make a duration one the person asks for, before it or as its start.
var askedLead = regexp.MustCompile(`(?:\b(?:for|another|extra|additional|more|need it|want it|keep it)\s*$)|^(?:until|till|til|through|thru|by|to|for)\b`)

// askedFor reports whether the duration phrase found in text is asked for ("for 3 days",
// "need it until Friday") rather than mentioned ("logs from the last 3 days").
func askedFor(text, durText string) bool {
	lower := strings.ToLower(text)
	durText = strings.ToLower(strings.TrimSpace(durText))
	i := strings.Index(lower, durText)
	if i < 0 || durText == "" {
		return false
	}
	return askedLead.MatchString(strings.TrimSpace(lower[:i])) || askedLead.MatchString(durText)
}

// confirm carries out what the user said yes to.
func (t *turn) confirm() (conv.Reply, error) {
	ctx := t.ctx
	d := t.st.Draft
	if d == nil {
		t.st.Reset()
		return conv.Reply{Kind: conv.ReplyInfo, Text: "There's nothing waiting for a yes. " + nothingText}, nil
	}
	if d.Action == conv.ActionWithdraw {
		label := t.label(d.EntitlementID)
		_, err := t.s.WithdrawRequest(ctx, t.me.GetEmail(), d.RequestID, "withdrawn in chat")
		t.st.Reset()
		if errors.Is(err, tools.ErrWithdrawRefused) {
			_, why, _ := strings.Cut(err.Error(), ": ")
			return conv.Reply{Kind: conv.ReplyInfo, Text: "I couldn't withdraw it: " + why + "."}, nil
		}
		if err != nil {
			return conv.Reply{}, fmt.Errorf("withdraw %s: %w", d.RequestID, err)
		}
		return conv.Reply{Kind: conv.ReplyInfo, RequestID: d.RequestID,
			Text: fmt.Sprintf("Withdrawn %s: %s. Nothing was granted, and its approvers are no longer asked.", d.RequestID, label)}, nil
	}
	if d.Action == conv.ActionRelinquish {
		label := t.label(d.EntitlementID)
		if d.Beneficiary != "" && !strings.EqualFold(d.Beneficiary, t.me.GetEmail()) {
			if err := t.s.RemoveReportsGrant(ctx, t.me.GetEmail(), d.Beneficiary, d.GrantID); err != nil {
				t.st.Reset()
				if errors.Is(err, tools.ErrNotYourReport) || errors.Is(err, tools.ErrNotYourGrant) || errors.Is(err, tools.ErrGrantNotActive) ||
					errors.Is(err, tools.ErrUnknownPerson) || errors.Is(err, tools.ErrInactivePerson) {
					return conv.Reply{Kind: conv.ReplyInfo, Text: "That access is no longer active, or no longer held by someone you manage, so there's nothing to remove."}, nil
				}
				return conv.Reply{}, fmt.Errorf("remove %s: %w", d.GrantID, err)
			}
			t.st.Submitted("relinquish:" + d.GrantID)
			return conv.Reply{Kind: conv.ReplySubmitted, Text: fmt.Sprintf("Done: I've asked for %s of %s to be removed. They'll be told; you'll see it in their access once it's gone.", label, d.Beneficiary)}, nil
		}
		if err := t.s.RelinquishGrant(ctx, t.me.GetEmail(), d.GrantID); err != nil {
			if errors.Is(err, tools.ErrNotYourGrant) || errors.Is(err, tools.ErrGrantNotActive) {
				t.st.Reset()
				return conv.Reply{Kind: conv.ReplyInfo, Text: "That access is no longer active, so there's nothing to give up."}, nil
			}
			return conv.Reply{}, fmt.Errorf("relinquish %s: %w", d.GrantID, err)
		}
		t.st.Submitted("relinquish:" + d.GrantID)
		return conv.Reply{Kind: conv.ReplySubmitted, Text: fmt.Sprintf("Done: I've asked for %s to be removed. You'll get a note here once it's gone.", label)}, nil
	}
	p, err := t.s.ProposeRequest(ctx, t.me.GetEmail(), d)
	if err != nil {
		t.st.Reset()
		return conv.Reply{Kind: conv.ReplyInfo, Text: "I can't submit that: " + userError(err)}, nil
	}
	if p.PolicyErr == nil && p.Decision.GetEffect() == igav1.Effect_EFFECT_DENY {
		t.st.Reset()
		return conv.Reply{Kind: conv.ReplyInfo, Text: fmt.Sprintf("Policy no longer allows this: %s. Nothing was submitted.", strings.TrimSuffix(p.Decision.GetReason(), "."))}, nil
	}
	id := tools.RequestID(t.st.ID, t.in.TurnID)
	req, err := t.s.SubmitRequest(ctx, id, p.Request)
	if err != nil {
		if errors.Is(err, tools.ErrUnknownEntitlement) || errors.Is(err, tools.ErrUnknownPerson) || errors.Is(err, tools.ErrInactivePerson) {
			t.st.Reset()
			return conv.Reply{Kind: conv.ReplyInfo, Text: "I can't submit that: " + userError(err)}, nil
		}
		return conv.Reply{}, err
	}
	dur := req.GetDuration().AsDuration()
	text := fmt.Sprintf("Submitted %s: %s for %s for %s. %s Once granted, it expires automatically after %s.",
		id, t.label(req.GetEntitlementId()), t.whom(d), Human(dur), t.nextSteps(p, true), Human(dur))
	t.st.Submitted(id)
	return t.thenNext(conv.Reply{Kind: conv.ReplySubmitted, Text: text, RequestID: id, EntitlementID: req.GetEntitlementId(), Duration: dur}), nil
}

// userError turns a tool error into words for the user, without internals.
func userError(err error) string {
	switch {
	case errors.Is(err, tools.ErrUnknownEntitlement):
		return "that entitlement isn't in the catalog."
	case errors.Is(err, tools.ErrUnknownPerson):
		return "that person isn't in the directory."
	case errors.Is(err, tools.ErrInactivePerson):
		return "that person isn't active in the directory."
	case errors.Is(err, tools.ErrBadDuration):
		return "the duration must be positive."
	}
	return "something went wrong checking it."
}

// span is a duration and when it would end: "2 days 14 hours (until Sat 5 Dec 00:00 UTC)".
func (t *turn) span(d time.Duration) string {
	return fmt.Sprintf("%s (until about %s)", Human(d), t.when(t.in.Now.Add(d)))
}

// Human writes a duration for people: "2 weeks", "2 days 14 hours", "30 minutes".
func Human(d time.Duration) string {
	if d <= 0 {
		return "no time"
	}
	units := []struct {
		d    time.Duration
		name string
	}{{7 * 24 * time.Hour, "week"}, {24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}
	var parts []string
	for _, u := range units {
		if len(parts) == 2 {
			break
		}
		if u.name == "week" && d%(7*24*time.Hour) != 0 {
			continue // "10 days" reads better than "1 week 3 days"
		}
		if n := d / u.d; n > 0 {
			name := u.name
			if n > 1 {
				name += "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, name))
			d -= n * u.d
		} else if len(parts) > 0 {
			break
		}
	}
	return strings.Join(parts, " ")
}

// decide relays an approver's decision to the approval service, which checks they may
// make it (the requester and the beneficiary never can).
func (t *turn) decide(u Understanding) (conv.Reply, error) {
	a, err := t.s.DecideApproval(t.ctx, t.me.GetEmail(), u.DecideID, u.Decide == "approve", u.DecideReason)
	switch {
	case errors.Is(err, tools.ErrDecisionRefused):
		msg := strings.TrimSpace(strings.TrimPrefix(err.Error(), tools.ErrDecisionRefused.Error()+":"))
		return conv.Reply{Kind: conv.ReplyInfo, Text: "I couldn't record that: " + msg}, nil
	case errors.Is(err, tools.ErrNoApprovals):
		return conv.Reply{Kind: conv.ReplyInfo, Text: "I can't record approvals here; use the console or `iga approve`."}, nil
	case err != nil:
		return conv.Reply{Kind: conv.ReplyError, Text: "I can't reach the approval service right now — please try again in a minute."}, nil
	}
	req := a.GetRequestId()
	var text string
	switch a.GetStatus() {
	case igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED:
		text = fmt.Sprintf("Approved %s (%s for %s). All approvals are in, so it will be granted now.", req, t.label(a.GetEntitlementId()), a.GetBeneficiaryEmail())
	case igav1.ApprovalStatus_APPROVAL_STATUS_DENIED:
		text = fmt.Sprintf("Denied %s (%s for %s). The requester will be told.", req, t.label(a.GetEntitlementId()), a.GetBeneficiaryEmail())
	default:
		text = fmt.Sprintf("Recorded your approval of %s (%s for %s). It now waits for %s.", req, t.label(a.GetEntitlementId()),
			a.GetBeneficiaryEmail(), t.anyOf(a.GetApprovers()))
	}
	return conv.Reply{Kind: conv.ReplyInfo, Text: text, RequestID: req}, nil
}

// pendingApprovals lists what waits for the speaker's decision.
func (t *turn) pendingApprovals() (conv.Reply, error) {
	as, err := t.s.PendingApprovals(t.ctx, t.me.GetEmail())
	if errors.Is(err, tools.ErrNoApprovals) {
		return conv.Reply{Kind: conv.ReplyInfo, Text: "I can't list approvals here; use the console or `iga approvals`."}, nil
	}
	if err != nil {
		return conv.Reply{Kind: conv.ReplyError, Text: "I can't reach the approval service right now — please try again in a minute."}, nil
	}
	if len(as) == 0 {
		return conv.Reply{Kind: conv.ReplyInfo, Text: "Nothing is waiting for your approval."}, nil
	}
	var b strings.Builder
	b.WriteString("Waiting for your decision:")
	for _, a := range as {
		fmt.Fprintf(&b, "\n• %s — %s for %s, asked by %s", a.GetRequestId(), t.label(a.GetEntitlementId()),
			a.GetBeneficiaryEmail(), a.GetRequesterEmail())
	}
	b.WriteString("\nSay \"approve <id>\" or \"deny <id> because …\".")
	return conv.Reply{Kind: conv.ReplyInfo, Text: b.String()}, nil
}
