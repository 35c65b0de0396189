package planner

import (
	"strings"
	"testing"
	"time"

	"github.com/agentic-iga/iga/services/agent/conv"
)

// A step of a conversation on the demo catalog and what its reply must be.
type demoStep struct {
	text, option string
	kind         conv.ReplyKind
	ent          string        // entitlement of the reply; "-" for none
	dur          time.Duration // duration of the reply, when it has one
	// contains and lacks are checked against the text and the options' labels.
	contains []string
	lacks    []string
}

type demoCase struct {
	name   string
	person string
	// held is entitlement -> holder (the speaker when empty).
	held  map[string]string
	now   time.Time
	steps []demoStep
	// submitted is what ends up requested; "" for nothing. revoked: a grant id given up.
	submitted, revoked string
}

// runDemo plays conversations against the demo dataset, checking every reply, that
// nothing above write is ever proposed, and what is submitted or revoked at the end.
func runDemo(t *testing.T, cases []demoCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarnessDir(t, "../../../deploy/demo")
			for ent, who := range c.held {
				if who == "" {
					who = c.person
				}
				h.ledger.Hold("g-"+ent, who, ent, now.Add(7*24*time.Hour))
			}
			for i, s := range c.steps {
				in := Input{Person: c.person, Text: s.text, Option: s.option}
				if !c.now.IsZero() {
					in.Now = c.now
				}
				r := h.turnAt(in)
				bad := r.Kind != s.kind || (s.ent == "-" && r.EntitlementID != "") || (s.ent != "" && s.ent != "-" && r.EntitlementID != s.ent) ||
					(s.dur != 0 && r.Duration != s.dur)
				said := r.Text // and the options offered
				for _, o := range r.Options {
					said += "\n" + o.Label
				}
				for _, w := range s.contains {
					bad = bad || !strings.Contains(said, w)
				}
				for _, w := range s.lacks {
					bad = bad || strings.Contains(said, w)
				}
				if bad {
					t.Fatalf("step %d %q: reply %s ent %q dur %s %q %v;\nwant %s ent %q dur %s containing %q, not %q",
						i, s.text+s.option, r.Kind, r.EntitlementID, r.Duration, r.Text, r.Options, s.kind, s.ent, s.dur, s.contains, s.lacks)
				}
				if (r.Kind == conv.ReplyProposal || r.Kind == conv.ReplySubmitted) && r.EntitlementID != "" {
					if e, ok := h.snap.Entitlement(r.EntitlementID); ok && e.GetLevel() == "admin" {
						t.Fatalf("step %d proposed admin access %s", i, r.EntitlementID)
					}
				}
			}
			reqs := h.actions.Requests()
			switch {
			case c.submitted == "" && len(reqs) > 0:
				t.Fatalf("submitted %v, want nothing", reqs)
			case c.submitted != "" && (len(reqs) != 1 || reqs[0].GetEntitlementId() != c.submitted):
				t.Fatalf("submitted %v, want one %s", reqs, c.submitted)
			}
			if got := strings.Join(h.actions.Revoked, ","); got != c.revoked {
				t.Fatalf("revoked %q, want %q", got, c.revoked)
			}
		})
	}
}

// A status question is answered with what the person holds, never with a proposal: once
// "have" was corrected to "save" and Amplitude member (write) proposed.
func TestStatusQuestionsAreNotRequests(t *testing.T) {
	runDemo(t, []demoCase{
		{name: "nothing held", person: sam, steps: []demoStep{
			{text: "do I have any permissions", kind: conv.ReplyInfo, ent: "-", contains: []string{"no access granted through iga"}},
		}},
		{name: "something held", person: sam, held: map[string]string{"github:read": ""}, steps: []demoStep{
			{text: "which permissions do i currently have", kind: conv.ReplyInfo, ent: "-", contains: []string{"GitHub read (read)"}},
		}},
		{name: "allowed to access", person: sam, held: map[string]string{"github:read": ""}, steps: []demoStep{
			{text: "what am I allowed to access?", kind: conv.ReplyInfo, ent: "-", contains: []string{"GitHub read (read)"}},
		}},
		// A question about one app answers about that app, and is never an upgrade offer.
		{name: "about one app", person: sam, held: map[string]string{"github:read": "", "datadog:viewer": ""}, steps: []demoStep{
			{text: "is my github access still active?", kind: conv.ReplyInfo, ent: "-", contains: []string{"GitHub read (read)"}, lacks: []string{"Datadog"}},
		}},
		{name: "about an app not held", person: sam, held: map[string]string{"datadog:viewer": ""}, steps: []demoStep{
			{text: "do I have github access?", kind: conv.ReplyInfo, ent: "-", contains: []string{"no GitHub access"}},
		}},
		// Only a typo's correction points at a write role, and the app has a read one:
		// ask, never guess the level.
		{name: "typo only match asks", person: sam, steps: []demoStep{
			{text: "I need to saev charts in amplitude", kind: conv.ReplyQuestion, ent: "-", contains: []string{`"saev" as "save"`, "Amplitude viewer (read)"}},
		}},
		// The same words spelt right are a task the write role does.
		{name: "exact words decide", person: sam, steps: []demoStep{
			{text: "I need to save charts in amplitude", kind: conv.ReplyProposal, ent: "amplitude:member"},
		}},
	})
}

// A removal is a removal however it is worded, typos included, and is never answered
// with an offer to extend; someone else's access is not the speaker's to give up.
func TestRemovalsAreRelinquishes(t *testing.T) {
	giveUp := []string{"Give up your GitHub write (write) now?"}
	runDemo(t, []demoCase{
		{name: "no possessive", person: sam, held: map[string]string{"github:write": ""}, steps: []demoStep{
			{text: "remove github write", kind: conv.ReplyProposal, contains: giveUp, lacks: []string{"extend"}},
			{option: "yes", kind: conv.ReplySubmitted, contains: []string{"removed"}},
		}, revoked: "g-github:write"},
		{name: "please revoke", person: sam, held: map[string]string{"github:write": ""}, steps: []demoStep{
			{text: "please revoke github write", kind: conv.ReplyProposal, contains: giveUp},
		}},
		{name: "take away, finished", person: sam, held: map[string]string{"github:write": ""}, steps: []demoStep{
			{text: "you can take away github write, I'm finished", kind: conv.ReplyProposal, contains: giveUp},
			{text: "yes", kind: conv.ReplySubmitted},
		}, revoked: "g-github:write"},
		{name: "typo in the verb", person: sam, held: map[string]string{"github:read": ""}, steps: []demoStep{
			{text: "relinqush my github access", kind: conv.ReplyProposal, contains: []string{"Give up your GitHub read (read)"}},
		}},
		{name: "typo in extend", person: sam, held: map[string]string{"github:read": ""}, steps: []demoStep{
			{text: "extnd my github acess by 3 days", kind: conv.ReplyProposal, ent: "github:read", dur: 72 * time.Hour, contains: []string{"extension"}},
		}},
		// A manager may take away what their direct report holds: confirmed, then revoked
		// (the ledger records the manager); nothing is requested for the manager.
		{name: "manager for a report", person: priya, held: map[string]string{"github:write": sam}, revoked: "g-github:write", steps: []demoStep{
			{text: "revoke sam's github access", kind: conv.ReplyProposal, ent: "-",
				contains: []string{"Remove Sam Patel's GitHub write (write) now?", "Sam is told it was you", "Remove it"}},
			{option: "yes", kind: conv.ReplySubmitted, contains: []string{"GitHub write (write) of sam.patel@acme.example to be removed"}},
		}},
		{name: "manager chooses among a report's access", person: priya, held: map[string]string{"github:write": sam, "datadog:viewer": sam}, revoked: "g-datadog:viewer", steps: []demoStep{
			{text: "please remove sam's access", kind: conv.ReplyQuestion, ent: "-", contains: []string{"Which of Sam's access do you want to remove?", "Datadog viewer", "GitHub write"}},
			{option: "g-datadog:viewer", kind: conv.ReplyProposal, contains: []string{"Remove Sam Patel's Datadog viewer (read) now?"}},
			{option: "yes", kind: conv.ReplySubmitted},
		}},
		{name: "manager names access the report does not hold", person: priya, held: map[string]string{"github:write": sam}, steps: []demoStep{
			{text: "revoke sam's snowflake access", kind: conv.ReplyInfo, ent: "-", contains: []string{"Sam Patel holds no such access through iga"}},
		}},
		{name: "someone not your report", person: dana, held: map[string]string{"github:write": sam}, steps: []demoStep{
			{text: "remove sam from github", kind: conv.ReplyInfo, ent: "-", contains: []string{"Sam Patel"}, lacks: []string{"GitHub write"}},
		}},
		// A removal word in a request for held access: no offer to extend either.
		{name: "removal word in a request", person: sam, held: map[string]string{"github:write": ""}, steps: []demoStep{
			{text: "I need write access to remove old branches in github", kind: conv.ReplyInfo, contains: []string{"already have", `"remove my GitHub write"`}, lacks: []string{"extend"}},
		}},
		{name: "unknown person", person: priya, steps: []demoStep{
			{text: "revoke bob's github access", kind: conv.ReplyQuestion, ent: "-", contains: []string{`"bob"`}},
		}},
	})
}

// Access already held in the app: more than asked is said so, less makes the ask an
// upgrade (proposed, noting what is held), the same is offered an extension.
func TestAlreadyHeldOffersUpgradeNotJustExtension(t *testing.T) {
	runDemo(t, []demoCase{
		{name: "holds write, asks read", person: sam, held: map[string]string{"github:write": ""}, steps: []demoStep{
			{text: "I need github read", kind: conv.ReplyInfo, contains: []string{"You already have GitHub write (write)", "more than GitHub read (read)"}},
		}},
		{name: "holds read, asks write", person: sam, held: map[string]string{"github:read": ""}, steps: []demoStep{
			{text: "I need github write", kind: conv.ReplyProposal, ent: "github:write", contains: []string{"You hold GitHub read (read)", "this would add write"}},
			{text: "yes", kind: conv.ReplySubmitted, ent: "github:write"},
		}, submitted: "github:write"},
		{name: "holds read, names the app only", person: sam, held: map[string]string{"github:read": ""}, steps: []demoStep{
			{text: "I need github", kind: conv.ReplyProposal, ent: "github:write", contains: []string{"next level above the read access you hold"}},
		}},
		{name: "holds the same", person: sam, held: map[string]string{"github:read": ""}, steps: []demoStep{
			{text: "I need github read", kind: conv.ReplyQuestion, ent: "github:read", contains: []string{"extend it", "If you need more than read"}},
		}},
		{name: "holds write, names the app only: nothing above but admin", person: sam, held: map[string]string{"github:write": ""}, steps: []demoStep{
			{text: "I need github", kind: conv.ReplyQuestion, ent: "github:write", contains: []string{"extend it"}},
		}},
		// A specialised entitlement is not covered by holding more of the app.
		{name: "specialised read", person: sam, held: map[string]string{"datadog:standard": ""}, steps: []demoStep{
			{text: "I need datadog sensitive logs", kind: conv.ReplyProposal, ent: "datadog:sensitive-logs"},
		}},
		{name: "for a report", person: priya, held: map[string]string{"github:write": sam}, steps: []demoStep{
			{text: "my report sam needs github read", kind: conv.ReplyInfo, contains: []string{"sam.patel@acme.example already has GitHub write (write)"}},
		}},
	})
}

// Durations as people say them: a fortnight, business days, next Tuesday, the sprint
// (assumed two weeks, said so), a negative one (asked again), a ticket beside one.
func TestDurationsAsPeopleSayThem(t *testing.T) {
	runDemo(t, []demoCase{
		{name: "fortnight", person: sam, steps: []demoStep{
			{text: "github read for a fortnight", kind: conv.ReplyProposal, ent: "github:read", dur: 14 * 24 * time.Hour},
		}},
		// Sam is in Los Angeles: Wed 02:00 there, three business days end Mon 02:00.
		{name: "business days", person: sam, steps: []demoStep{
			{text: "github read for 3 business days", kind: conv.ReplyProposal, ent: "github:read", dur: 5 * 24 * time.Hour,
				contains: []string{"3 business days, skipping Saturday and Sunday"}},
		}},
		{name: "next tuesday on a wednesday", person: sam, steps: []demoStep{
			{text: "github read until next tuesday", kind: conv.ReplyProposal, ent: "github:read", dur: (6*24 + 22) * time.Hour},
		}},
		{name: "sprint assumed and said", person: sam, steps: []demoStep{
			{text: "github read for the sprint", kind: conv.ReplyProposal, ent: "github:read", dur: 14 * 24 * time.Hour,
				contains: []string{"took a sprint as 2 weeks"}},
		}},
		{name: "negative is asked again", person: sam, steps: []demoStep{
			{text: "github read for -3 days", kind: conv.ReplyQuestion, ent: "github:read", contains: []string{`"-3 days"`, "more than zero", "Use the default (30 days)"}},
			{text: "make it -1 days", kind: conv.ReplyQuestion, contains: []string{`"-1 days"`}},
			{text: "4 days", kind: conv.ReplyProposal, ent: "github:read", dur: 4 * 24 * time.Hour},
			{text: "yes", kind: conv.ReplySubmitted, ent: "github:read", dur: 4 * 24 * time.Hour},
		}, submitted: "github:read"},
		{name: "negative then the default", person: sam, steps: []demoStep{
			{text: "github read for -3 days", kind: conv.ReplyQuestion},
			{option: "yes", kind: conv.ReplySubmitted, ent: "github:read", dur: 30 * 24 * time.Hour},
		}, submitted: "github:read"},
		{name: "negative on a proposal", person: sam, steps: []demoStep{
			{text: "github read", kind: conv.ReplyProposal, ent: "github:read"},
			{text: "make it -2 days", kind: conv.ReplyQuestion, ent: "github:read", contains: []string{`"-2 days"`, "more than zero", "How long"}},
			{text: "3 days", kind: conv.ReplyProposal, ent: "github:read", dur: 3 * 24 * time.Hour},
		}},
		// "ticket" names Jira and Zendesk, but beside a reference it is the reason.
		{name: "ticket reference", person: sam, steps: []demoStep{
			{text: "github read for 2 weeks, it's for ticket ENG-1234", kind: conv.ReplyProposal, ent: "github:read", dur: 14 * 24 * time.Hour},
			{text: "yes", kind: conv.ReplySubmitted},
		}, submitted: "github:read"},
	})
}

// A ticket reference goes with the words that name it, whatever their case; other words
// stay ("jira" as the app asked for).
func TestWithoutTicket(t *testing.T) {
	for _, c := range []struct{ text, ref, want string }{
		{"github read for 2 weeks, it's for ticket ENG-1234", "ENG-1234", "github read for 2 weeks, it's"},
		{"GitHub read, Ticket ENG-1", "ENG-1", "GitHub read,"},
		{"jira access for ENG-12", "ENG-12", "jira access"},
		{"the incident is INC-7 so I need datadog", "INC-7", "so I need datadog"},
		{"github read for ENG-1, not ENG-2", "ENG-1", "github read , not ENG-2"},
	} {
		if got := strings.Join(strings.Fields(withoutTicket(c.text, c.ref)), " "); got != c.want {
			t.Errorf("withoutTicket(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}
