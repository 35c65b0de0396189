package planner

import (
	"testing"
	"time"

	"github.com/agentic-iga/iga/services/agent/conv"
)

// Two asks in one message: the first is handled and the second named as next, never
// dropped; a part that only describes the person is no second ask.
func TestTwoAsksInOneMessage(t *testing.T) {
	runDemo(t, []demoCase{
		// Once the first is submitted, the second is taken up in the same reply.
		{name: "view and edit in two apps", person: dana, steps: []demoStep{
			{text: "view the payments dashboards and edit jira tickets", kind: conv.ReplyProposal, ent: "grafana:payments-viewer",
				contains: []string{`You also asked for "edit jira tickets"`, "as soon as this one is done"}},
			{text: "yes", kind: conv.ReplyQuestion, ent: "-",
				contains: []string{"Submitted r-", `Next, you also asked for "edit jira tickets"`, "Jira user (write)"}},
			{text: "cancel", kind: conv.ReplyInfo, lacks: []string{"also asked"}},
		}, submitted: "grafana:payments-viewer"},
		// Dropping the first still takes up the second.
		{name: "first dropped", person: sam, steps: []demoStep{
			{text: "I need github read and also datadog viewer", kind: conv.ReplyProposal, ent: "github:read"},
			{text: "no", kind: conv.ReplyProposal, ent: "datadog:viewer", contains: []string{"nothing was submitted", `Next, you also asked for "datadog viewer"`}},
			{text: "yes", kind: conv.ReplySubmitted, ent: "datadog:viewer"},
		}, submitted: "datadog:viewer"},
		{name: "and also", person: sam, steps: []demoStep{
			{text: "I need github read and also datadog viewer for 3 days", kind: conv.ReplyProposal, ent: "github:read", dur: 72 * time.Hour,
				contains: []string{`"datadog viewer for 3 days"`}},
		}},
		{name: "one app, two tasks", person: dana, steps: []demoStep{
			{text: "I need to view and edit the payments dashboards", kind: conv.ReplyProposal, ent: "grafana:payments-editor", lacks: []string{"also asked"}},
		}},
		{name: "a description is no ask", person: sam, steps: []demoStep{
			{text: "I'm an admin on the payments team and need grafana write", kind: conv.ReplyProposal, ent: "grafana:payments-editor", lacks: []string{"also asked"}},
		}},
	})
}

// Another language gets an answer in English and a question, never a proposal.
func TestOtherLanguagesAreAskedInEnglish(t *testing.T) {
	cases := []struct {
		text  string
		other bool
	}{
		{"necesito acceso a jira", true},
		{"Necesito acceso de lectura a Snowflake", true},
		{"J'ai besoin d'accès à github s'il vous plaît", true},
		{"Ich brauche Lesezugriff auf Snowflake", true},
		{"我需要访问权限", true},
		{"Мне нужен доступ к github", true},
		{"I need acces to github", false},
		{"per the ticket, github read please", false},
		{"read access to snowflake for 2 days", false},
		{"jira", false},
	}
	for _, c := range cases {
		if got := otherLanguage(c.text); got != c.other {
			t.Errorf("otherLanguage(%q) = %v, want %v", c.text, got, c.other)
		}
	}
	runDemo(t, []demoCase{
		{name: "spanish naming an app", person: sam, steps: []demoStep{
			{text: "necesito acceso a jira", kind: conv.ReplyQuestion, ent: "-", contains: []string{"I understand English best", "Which access to Jira", "Jira user (write)"}},
			{option: "jira:user", kind: conv.ReplyProposal, ent: "jira:user"},
		}},
		{name: "french", person: sam, steps: []demoStep{
			{text: "J'ai besoin d'accès à github s'il vous plaît", kind: conv.ReplyQuestion, ent: "-", contains: []string{"I understand English best"}},
		}},
		{name: "chinese", person: sam, steps: []demoStep{
			{text: "我需要访问权限", kind: conv.ReplyQuestion, ent: "-", contains: []string{"tell me in English"}},
			{text: "yes", kind: conv.ReplyInfo, ent: "-"},
		}},
	})
}

// Within a level the app's plain entitlement comes first, then what most peers hold:
// "Jira user" is not listed after "Jira change-approver".
func TestOptionsPutTheEverydayChoiceFirst(t *testing.T) {
	first := func(t *testing.T, h *harness, person, text, want string) {
		t.Helper()
		r := h.say(person, text)
		if r.Kind != conv.ReplyQuestion || len(r.Options) == 0 || r.Options[0].Value != want {
			t.Fatalf("%q: first option %v, want %s", text, r.Options, want)
		}
	}
	t.Run("plain first", func(t *testing.T) {
		h := newHarnessDir(t, "../../../deploy/demo")
		first(t, h, sam, "necesito acceso a jira", "jira:user")
		h.st.Reset()
		first(t, h, dana, "I need to edit jira tickets", "jira:user")
	})
	t.Run("peers next", func(t *testing.T) {
		h := newHarnessDir(t, "../../../deploy/demo")
		// Without peers the read roles are in the order the words matched; two of Sam's
		// three peers (software engineers in Engineering) hold finance-reader.
		h.ledger.Hold("g-1", "beatriz.walsh@acme.example", "snowflake:finance-reader", now.Add(time.Hour))
		h.ledger.Hold("g-2", "cole.brooks@acme.example", "snowflake:finance-reader", now.Add(time.Hour))
		r := h.say(sam, "I need snowflake")
		if len(r.Options) < 2 || r.Options[0].Value != "snowflake:finance-reader" {
			t.Fatalf("options %v, want finance-reader first", r.Options)
		}
		// Least privilege still comes before popularity across levels.
		for i, o := range r.Options {
			if e, _ := h.snap.Entitlement(o.Value); i > 0 && e.GetLevel() == "read" {
				if p, _ := h.snap.Entitlement(r.Options[i-1].Value); p.GetLevel() != "read" {
					t.Fatalf("a read option after a %s one: %v", p.GetLevel(), r.Options)
				}
			}
		}
	})
}
