package planner

import (
	"regexp"
	"strings"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/tools"
)

var (
	emailRe    = regexp.MustCompile(`[a-zA-Z0-9._%+\-]+@[a-zA-Z0-9.\-]+\.[a-zA-Z]{2,}`)
	behalfRe   = regexp.MustCompile(`\b(?:on behalf of|for my (?:direct )?(?:report|team ?mate|team member|new hire|colleague|contractor|engineer|analyst|employee|intern)|for (?:our|the) new (?:hire|joiner|starter)|my (?:direct )?report)\s+([a-z][a-z.'\-]*(?:\s[a-z][a-z'\-]*)?)`)
	forNameRe  = regexp.MustCompile(`\b(?:for|give|grant|get|add)\s+([a-z][a-z.'\-]*(?:\s[a-z][a-z'\-]*)?)`)
	needsRe    = regexp.MustCompile(`^([a-z][a-z.'\-]*(?:\s[a-z][a-z'\-]*)?)\s+(?:needs|requires|should get|wants)\b`)
	notAPerson = map[string]bool{"me": true, "my": true, "myself": true, "the": true, "a": true, "an": true, "us": true,
		"our": true, "this": true, "that": true, "it": true, "access": true, "read": true, "write": true, "admin": true,
		"all": true, "everyone": true, "i": true, "we": true, "you": true, "some": true, "more": true, "another": true}
)

// Mention is a person named in a message.
type Mention struct {
	Email string
	// Text is how the message named them.
	Text string
	// Explicit is true for "on behalf of X" / "for my report X": the message clearly asks
	// for someone else even if X is not found.
	Explicit bool
}

// FindBeneficiary finds who a request is for when it is not the requester. It returns a
// zero Mention when the message asks for the requester.
func FindBeneficiary(text, requester string, snap *directory.Snapshot, ix *tools.Index) Mention {
	lower := strings.ToLower(text)
	for _, e := range emailRe.FindAllString(text, -1) {
		p, ok := snap.Person(e)
		switch {
		case !ok:
			return Mention{Text: e, Explicit: true} // named outright, but not in the directory
		case !strings.EqualFold(p.GetEmail(), requester):
			return Mention{Email: p.GetEmail(), Text: e, Explicit: true}
		}
	}
	if m := behalfRe.FindStringSubmatch(lower); m != nil {
		if email, used := resolveName(m[1], requester, ix); email != "" {
			return Mention{Email: email, Text: used, Explicit: true}
		}
		return Mention{Text: firstWord(m[1]), Explicit: true}
	}
	for _, re := range []*regexp.Regexp{needsRe, forNameRe} {
		for _, m := range re.FindAllStringSubmatch(lower, -1) {
			if notAPerson[firstWord(m[1])] {
				continue
			}
			if email, used := resolveName(m[1], requester, ix); email != "" && !strings.EqualFold(email, requester) {
				return Mention{Email: email, Text: used}
			}
		}
	}
	return Mention{}
}

var (
	// ownerRe: "sam's github access", "jo silva's aws write".
	ownerRe = regexp.MustCompile(`\b(?:([a-z][a-z\-]*) )?([a-z][a-z.\-]*)'s\b`)
	// offRe: "remove jo from github", "take sam off stripe".
	offRe = regexp.MustCompile(`\b(?:remove|take|kick|drop|revoke)\s+([a-z][a-z.'\-]*(?:\s[a-z][a-z'\-]*)?)\s+(?:off|from|out of)\b`)
)

// RemovalTarget finds whose access a removal is about when it is not the requester's:
// "revoke sam's github access", "remove jo from github", "on behalf of jo.silva@…".
func RemovalTarget(text, requester string, snap *directory.Snapshot, ix *tools.Index) Mention {
	lower := strings.ToLower(strings.ReplaceAll(text, "’", "'"))
	for _, m := range ownerRe.FindAllStringSubmatch(lower, -1) {
		if notAPerson[m[2]] || ownerNotAPerson[m[2]] {
			continue
		}
		if m[1] != "" && !notAPerson[m[1]] {
			if full := ix.PeopleByName(m[1] + " " + m[2]); len(full) == 1 && !strings.EqualFold(full[0].GetEmail(), requester) {
				return Mention{Email: full[0].GetEmail(), Text: m[1] + " " + m[2], Explicit: true}
			}
		}
		email, used := resolveName(m[2], requester, ix)
		switch {
		case email == "":
			return Mention{Text: m[2], Explicit: true} // someone's, but no one the directory knows
		case !strings.EqualFold(email, requester):
			return Mention{Email: email, Text: used, Explicit: true}
		}
	}
	for _, m := range offRe.FindAllStringSubmatch(lower, -1) {
		if notAPerson[firstWord(m[1])] || firstWord(m[1]) == "myself" {
			continue
		}
		if email, used := resolveName(m[1], requester, ix); email != "" && !strings.EqualFold(email, requester) {
			return Mention{Email: email, Text: used, Explicit: true}
		}
	}
	if m := FindBeneficiary(text, requester, snap, ix); m.Explicit {
		return m
	}
	return Mention{}
}

// ownerNotAPerson are words before "'s" that name no one: "it's", "that's", "what's".
var ownerNotAPerson = map[string]bool{"it": true, "that": true, "what": true, "there": true, "here": true, "let": true,
	"who": true, "where": true, "one": true, "today": true, "everyone": true, "team": true, "company": true, "app": true}

func firstWord(s string) string {
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return s
}

// resolveName finds a person by "first last", "first.last" or a unique first name,
// preferring the requester's direct reports when a first name is shared. It returns the
// email and the part of name that named them. Lookups go through the people index, so a
// large directory costs no more than a small one.
func resolveName(name, requester string, ix *tools.Index) (string, string) {
	name = strings.Trim(strings.TrimSpace(name), ".'")
	if name == "" {
		return "", ""
	}
	words := strings.Fields(name)
	if ps := ix.PeopleByLocalPart(words[0]); len(ps) > 0 {
		return ps[0].GetEmail(), words[0]
	}
	if len(words) == 2 {
		if full := ix.PeopleByName(words[0] + " " + words[1]); len(full) == 1 {
			return full[0].GetEmail(), words[0] + " " + words[1]
		}
	}
	first := ix.PeopleByFirstName(words[0])
	if len(first) == 1 {
		return first[0].GetEmail(), words[0]
	}
	var reports []*igav1.Person
	for _, p := range first {
		if strings.EqualFold(p.GetManagerEmail(), requester) {
			reports = append(reports, p)
		}
	}
	if len(reports) == 1 {
		return reports[0].GetEmail(), words[0]
	}
	return "", ""
}
