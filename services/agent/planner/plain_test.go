package planner

import (
	"testing"

	"github.com/agentic-iga/iga/services/agent/conv"
)

// Plain access and admin task aliases, on the demo catalog.
func TestPlainAccessAndAdminTaskAliases(t *testing.T) {
	cases := []struct {
		person, text, want string // want "" = a clarifying question
	}{
		{sam, "notion access please", "notion:member"},
		{sam, "acess to lienar", "linear:member"},
		{sam, "jira please", ""},                // no alias of jira says just that
		{sam, "I need access to snowflake", ""}, // a read role is less than the aliased one
		{"lee.kim@acme.example", "I need to reset mfa for users", "okta:help-desk-admin"},
		{"lee.kim@acme.example", "I need okta", ""}, // admin roles are never a default
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			h := newHarnessDir(t, "../../../deploy/demo")
			r := h.say(c.person, c.text)
			switch {
			case c.want == "" && r.Kind != conv.ReplyQuestion:
				t.Fatalf("want a question, got %+v", r)
			case c.want != "" && (r.Kind != conv.ReplyProposal || r.EntitlementID != c.want):
				t.Fatalf("want a proposal of %s, got %+v", c.want, r)
			}
		})
	}
}
