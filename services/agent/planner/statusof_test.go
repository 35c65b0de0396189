package planner

import (
	"testing"

	"github.com/agentic-iga/iga/services/agent/conv"
)

// A manager asks what a report holds and sees it; anyone else is told whose access they
// may see; one's own name is one's own status.
func TestStatusOfSomeoneElse(t *testing.T) {
	runDemo(t, []demoCase{
		{name: "manager asks about a report", person: priya, held: map[string]string{"github:write": sam, "datadog:viewer": sam}, steps: []demoStep{
			{text: "what access does sam have?", kind: conv.ReplyInfo, ent: "-", contains: []string{"Sam Patel currently holds:", "GitHub write", "Datadog viewer", `"remove sam's …"`}},
			{text: "show me sam's permissions", kind: conv.ReplyInfo, ent: "-", contains: []string{"Sam Patel currently holds:"}},
		}},
		{name: "a peer asks", person: dana, held: map[string]string{"github:write": sam}, steps: []demoStep{
			{text: "what access does sam have?", kind: conv.ReplyInfo, ent: "-", contains: []string{"doesn't report to you"}, lacks: []string{"GitHub write"}},
		}},
		{name: "nobody known", person: priya, steps: []demoStep{
			{text: "which apps can zebulon access", kind: conv.ReplyQuestion, ent: "-", contains: []string{`"zebulon"`}},
		}},
		{name: "a report with nothing", person: priya, steps: []demoStep{
			{text: "what permissions does sam have", kind: conv.ReplyInfo, ent: "-", contains: []string{"Sam Patel holds no access granted through iga"}},
		}},
	})
}
