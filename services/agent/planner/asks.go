package planner

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/agentic-iga/iga/services/agent/conv"
)

// Messages the built-in planner cannot take as one English ask: two asks in one message,
// and other languages. Neither is dropped silently or guessed at.

// joinRe finds where one ask may end and another begin: "and", "and also", "plus", "as
// well as", a semicolon or a sentence end.
var joinRe = regexp.MustCompile(`(?i)\s*,?\s+(?:and(?: also)?|also|plus|as well as)\s+|\s*;\s*|[.!?]\s+`)

// twoAsks splits a message holding asks about different apps ("view the payments
// dashboards and edit jira tickets") at the first joining word after which another app is
// named that the words before it don't name. It returns the first ask and the rest.
func (t *turn) twoAsks(text string) (first, rest string, ok bool) {
	ix := t.s.Tools().Index()
	for _, loc := range joinRe.FindAllStringIndex(text, -1) {
		left, right := text[:loc[0]], text[loc[1]:]
		la, ra := ix.AppsNamed(left), ix.AppsNamed(right)
		if len(la) == 0 || len(ra) == 0 || !t.isAsk(left, la) || !t.isAsk(right, ra) {
			continue
		}
		shared := false
		for _, a := range ra {
			for _, b := range la {
				shared = shared || a == b
			}
		}
		if !shared {
			return strings.TrimSpace(left), strings.TrimSpace(strings.TrimRight(right, ".!? ")), true
		}
	}
	return "", "", false
}

// isAsk reports whether a part of a message asks for something on its own: it says a
// level or a task ("view", "edit"), or names one of apps by its id or name rather than
// by a loose alias ("the payments team" names Stripe only by an alias).
func (t *turn) isAsk(part string, apps []string) bool {
	if lvl, _ := matchLevels(strings.ToLower(part)); lvl != "" {
		return true
	}
	words := map[string]bool{}
	for _, w := range Tokenize(part) {
		words[w] = true
	}
	snap := t.s.Tools().Snapshot()
	for _, id := range apps {
		names := []string{id}
		if a, ok := snap.App(id); ok && a.GetName() != "" {
			names = append(names, a.GetName())
		}
		for _, n := range names {
			all := true
			for _, w := range Tokenize(n) {
				all = all && words[w]
			}
			if all {
				return true
			}
		}
	}
	return false
}

// requestFirstOf answers the first of two asks and says the other is next: nothing asked
// for goes unmentioned. Duration, ticket and emergency stated anywhere in the message
// hold for the first ask too.
func (t *turn) requestFirstOf(first, rest string, whole Understanding) (conv.Reply, error) {
	fu := t.understanding(first)
	if fu.Duration == 0 {
		fu.Duration, fu.DurationText = whole.Duration, whole.DurationText
	}
	if fu.TicketRef == "" {
		fu.TicketRef = whole.TicketRef
	}
	fu.Emergency = fu.Emergency || whole.Emergency
	t.split = true
	r, err := t.request(first, fu)
	if err != nil || r.Kind == conv.ReplyError {
		return r, err
	}
	t.st.Next = clipWords(rest, 300)
	note := fmt.Sprintf(" You also asked for %q: I'll take that up as soon as this one is done.", clipWords(rest, 120))
	r.Text = withNote(r.Text, note)
	if t.st.Pending != nil {
		t.st.Pending.Question = withNote(t.st.Pending.Question, note)
	}
	return r, nil
}

// withNote adds a note to a reply, before its closing "Submit?" when it has one.
func withNote(text, note string) string {
	if body, ok := strings.CutSuffix(text, " Submit?"); ok {
		return body + note + " Submit?"
	}
	return text + note
}

// foreignWords are common words of other languages written in Latin letters (Spanish,
// French, German, Portuguese, Italian, Dutch) that are no English words.
var foreignWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`necesito necesita quiero quisiera acceso accesos permiso permisos lectura escritura
		favor para con una los las del por gracias hola puedo tengo
		j ai besoin accès veux voudrais pour avec les des une vous plaît merci bonjour lecture écriture
		ich brauche möchte benötige zugang zugriff lesezugriff schreibzugriff bitte für und mit der die das auf danke hallo
		preciso acesso não quero obrigado leitura
		bisogno accesso vorrei grazie ciao lettura
		nodig toegang graag alstublieft leesrechten`) {
		foreignWords[w] = true
	}
}

// englishWords are words an English ask almost always holds.
var englishWords = map[string]bool{"i": true, "need": true, "want": true, "access": true, "please": true, "to": true,
	"for": true, "the": true, "read": true, "write": true, "can": true, "me": true, "my": true, "give": true, "get": true,
	"would": true, "like": true, "in": true, "on": true, "and": true, "is": true, "it": true, "with": true}

// otherLanguage reports whether a message is written in a language other than English:
// mostly letters of another script, or more common words of another language than of
// English.
func otherLanguage(text string) bool {
	latin, other := 0, 0
	for _, r := range text {
		switch {
		case !unicode.IsLetter(r):
		case unicode.Is(unicode.Latin, r):
			latin++
		default:
			other++
		}
	}
	if other > latin {
		return true
	}
	foreign, english := 0, 0
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) }) {
		switch {
		case foreignWords[w]:
			foreign++
		case englishWords[w]:
			english++
		}
	}
	return foreign >= 2 && foreign > english || foreign >= 1 && english == 0 && other == 0 && len(strings.Fields(text)) >= 3 && foreign*3 >= len(strings.Fields(text))
}

const englishText = "I understand English best, and I'd rather ask than guess at access."

// inOtherLanguage answers a message in another language in English: with the app's
// entitlements to choose from when it names one app (never a proposal: the words of the
// task were not understood), else by asking for the ask in English.
func (t *turn) inOtherLanguage(text string) (conv.Reply, error) {
	apps := t.s.Tools().Index().AppsNamed(text)
	if len(apps) == 1 {
		if d := t.st.Draft; d != nil {
			return t.ask(t.allOf(apps[0]), fmt.Sprintf("%s Which access to %s do you need? Pick the least that lets you do the task, or tell me in English what you need to do there.",
				englishText, t.appName(apps[0])))
		}
	}
	t.st.Reset()
	return conv.Reply{Kind: conv.ReplyQuestion, Text: "I understand English best, and I couldn't match that to anything in the catalog. " +
		"Could you tell me in English what access you need — the app and what you need to do there?"}, nil
}

// thenNext takes up the ask queued from the same message once the current one has ended
// (submitted or dropped): its reply follows this one's, and its question or proposal is
// what is open now.
func (t *turn) thenNext(r conv.Reply) conv.Reply {
	next := t.st.Next
	if next == "" || t.st.Pending != nil {
		return r
	}
	t.st.Next = ""
	t.split = true
	t.text, t.u = next, nil
	nr, err := t.fresh(next, t.understanding(next))
	if err != nil || nr.Kind == conv.ReplyError {
		r.Text += fmt.Sprintf("\n\nYou also asked for %q; I couldn't look at it just now — ask me again.", clipWords(next, 120))
		return r
	}
	r.Text += fmt.Sprintf("\n\nNext, you also asked for %q: %s", clipWords(next, 120), nr.Text)
	r.Kind, r.Options, r.EntitlementID, r.Duration = nr.Kind, nr.Options, nr.EntitlementID, nr.Duration
	if t.st.Pending != nil {
		t.st.Pending.Question = nr.Text
	}
	return r
}
