package planner

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// Justifications. A request's text says what the user wants; it is sent as the
// justification only when it also says why — a purpose ("for the audit"), a cause
// ("because …"), a ticket, or words beyond naming the access ("to rotate the leaked
// keys"). When policy wants a justification and none was stated, the agent asks for one
// before proposing.

const whyQuestion = "Why do you need it? A ticket reference helps, e.g. INC-1234."

var (
	// reasonMarkerRe: words that introduce a reason.
	reasonMarkerRe = guard(`\b(?:because|since|as part of|in order to|so that|so (?:i|we) can|due to|for the purpose of|needed for|required for|as requested by|on request of|per)\b`,
		"because", "since", "as part of", "in order to", "so that", "so i can", "so we can", "due to", "for the purpose of",
		"needed for", "required for", "as requested by", "on request of", "per")
	// forClauseRe: "for <something>", up to the end of the clause.
	forClauseRe = regexp.MustCompile(`\bfor\s+([^,.;!?]+)`)
	minCharsRe  = regexp.MustCompile(`at least (\d+) characters`)
	// notAPurpose are words a "for …" clause or a message holds that give no reason:
	// people, time, filler.
	notAPurpose = map[string]bool{}
)

// levelWords are the words of the level phrases ("look", "at", "edit", …).
var levelWords = map[string]bool{}

func init() {
	for _, lp := range levelPhrases {
		for _, w := range Tokenize(lp.phrase) {
			levelWords[w] = true
		}
	}
	for _, w := range strings.Fields(`me myself him her them someone somebody report colleague teammate mate hire
		joiner starter contractor intern employee engineer analyst second sec moment bit while long short time
		asap urgent urgently quick quickly temporary temporarily briefly soon yesterday tomorrow tonight today morning
		afternoon evening weekend monday tuesday wednesday thursday friday saturday sunday mon tue wed thu fri sat sun
		sprint quarter year next end rest couple few half one two three four five six seven eight nine ten ok okay
		actually really kindly sorry also too access role permission right`) {
		notAPurpose[tools.Stem(w)] = true
	}
}

// statesReason reports whether a request's text says why the access is needed, beyond
// naming it (the entitlement and app words, the level, the duration, who it is for).
func (t *turn) statesReason(text, entitlementID string, u Understanding) bool {
	if u.TicketRef != "" || ticketRe.MatchString(text) {
		return true
	}
	lower := strings.ToLower(text)
	if reasonMarkerRe.MatchString(lower) {
		return true
	}
	naming := t.namingWords(entitlementID, u, text)
	// "for the audit", "for the quarterly review": a task word after "for" is a purpose.
	for _, m := range forClauseRe.FindAllStringSubmatch(lower, -1) {
		if len(purposeWords(m[1], naming, nil)) > 0 {
			return true
		}
	}
	return len(purposeWords(lower, naming, levelWords)) >= 2
}

// namingWords are the words that only say which access, for whom and for how long.
func (t *turn) namingWords(entitlementID string, u Understanding, text string) map[string]bool {
	out := map[string]bool{}
	addAll := func(s string) {
		for _, w := range Tokenize(s) {
			out[w] = true
		}
	}
	if e, a, err := t.s.Entitlement(entitlementID); err == nil {
		addAll(e.GetName())
		for _, al := range e.GetAliases() {
			addAll(al)
		}
		addAll(e.GetAppId())
		if a != nil {
			addAll(a.GetName())
			for _, al := range a.GetAliases() {
				addAll(al)
			}
		}
	}
	addAll(u.DurationText)
	if who := FindBeneficiary(text, t.me.GetEmail(), t.s.Tools().Snapshot(), t.s.Tools().Index()); who.Text != "" {
		addAll(who.Text)
	}
	return out
}

// purposeWords are the words of s that neither name the access (nor, when given, say
// its level) nor are filler.
func purposeWords(s string, naming, level map[string]bool) []string {
	var out []string
	for _, w := range Tokenize(s) {
		if tools.IsStopword(w) || naming[w] || level[w] || notAPurpose[w] || isNumber(w) {
			continue
		}
		out = append(out, w)
	}
	return out
}

func isNumber(w string) bool {
	_, err := strconv.Atoi(w)
	return err == nil
}

// justificationWanted reports whether policy's preview asks for a justification the
// request lacks: a denial whose every remedy is a justification or a ticket, or a
// decision whose reason or remedies mention a justification when none is given. It
// returns policy's words for what is missing.
func justificationWanted(dec *igav1.PolicyDecision, given string) (bool, string) {
	rem := dec.GetRemediation()
	mentions := func(s string) bool {
		s = strings.ToLower(s)
		return strings.Contains(s, "justification") || strings.Contains(s, "ticket reference")
	}
	if dec.GetEffect() == igav1.Effect_EFFECT_DENY {
		// Every reason for the denial is a missing justification or ticket ("Denied: rule
		// high-risk-owner needs a justification (at least 15 characters)") ...
		reason := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(dec.GetReason()), "Denied: "), ".")
		for _, part := range strings.Split(reason, "; ") {
			if !mentions(part) {
				return false, ""
			}
		}
		// ... and so is every remedy, besides asking for something else instead.
		var what []string
		for _, r := range rem {
			switch {
			case alternative(r):
			case mentions(r):
				what = append(what, r)
			default:
				return false, ""
			}
		}
		return len(what) > 0, strings.Join(what, "; ")
	}
	if strings.TrimSpace(given) != "" {
		return false, ""
	}
	for _, r := range rem {
		if mentions(r) {
			return true, r
		}
	}
	if mentions(dec.GetReason()) {
		return true, ""
	}
	return false, ""
}

// alternative reports whether a remedy offers a different request rather than naming
// what this one lacks: "ask for aws-prod:readonly (read) instead: …", "ask for 8h instead
// of 1d: …", "have … ask for it themselves: …".
func alternative(remedy string) bool {
	return strings.HasPrefix(remedy, "ask for ") && strings.Contains(remedy, " instead") ||
		strings.HasPrefix(remedy, "have ") && strings.Contains(remedy, " ask for it themselves")
}

// askWhy asks for the reason policy wants, keeping the draft.
func (t *turn) askWhy(what string, retry bool) (conv.Reply, error) {
	d := t.st.Draft
	var q string
	switch {
	case retry:
		q = fmt.Sprintf("Policy needs more for %s: %s. %s", t.label(d.EntitlementID), strings.TrimPrefix(what, "give "), whyQuestion)
	default:
		q = fmt.Sprintf("Before I request %s for %s, policy needs a reason. %s", t.label(d.EntitlementID), t.whom(d), whyQuestion)
		if m := minCharsRe.FindStringSubmatch(what); m != nil {
			q += fmt.Sprintf(" (At least %s characters.)", m[1])
		}
	}
	t.st.Pending = &conv.Pending{Kind: conv.PendingJustification, Question: q}
	return conv.Reply{Kind: conv.ReplyQuestion, Text: q, EntitlementID: d.EntitlementID}, nil
}

// clipWords shortens s to at most n bytes at a word boundary.
func clipWords(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n], ' ')
	if cut <= 0 {
		cut = n
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
	}
	return s[:cut] + "…"
}
