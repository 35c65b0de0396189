package planner

import "testing"

func TestExplore(t *testing.T) {
	h := newHarnessDir(t, "../../../deploy/demo")
	h.say("dana.reyes@acme.example", "I need to look at the payments dashboards for the audit this week")
	h.say("dana.reyes@acme.example", "yes")
	h2 := newHarnessDir(t, "../../../deploy/demo")
	h2.say("sam.patel@acme.example", "I need read access to snowflake for 2 days")
	h2.say("sam.patel@acme.example", "yes")
	h3 := newHarnessDir(t, "../../../deploy/demo")
	h3.say("sam.patel@acme.example", "I need access to the payments dashboards")
	h3.say("sam.patel@acme.example", "I need aws access")
	h3.say("sam.patel@acme.example", "give me snowflak reader for the sprint")
	h3.say("sam.patel@acme.example", "I need to push code to github")
	h3.say("sam.patel@acme.example", "need to debug a prod database issue, read only, INC-4411")
	h3.say("sam.patel@acme.example", "jira")
	h3.say("alex.morgan@acme.example", "I need to refund a customer in stripe")
}
