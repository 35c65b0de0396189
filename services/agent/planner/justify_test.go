package planner

import (
	"strings"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/directory"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/inmem"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// newJustifyHarness is a harness whose policy wants a justification of 15 characters for
// high-risk access (aws-prod:poweruser) and 20 for critical, worded as the policy engine
// words it.
func newJustifyHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	dir := func() *directory.Snapshot { return h.snap }
	pol := inmem.Policy{Dir: dir, Justify: map[string]int{"high": 15, "critical": 20}}
	h.p = NewBuiltin(tools.New(tools.Deps{Directory: dir, Policy: pol, Approvals: pol, Grants: h.ledger, Actions: h.actions}))
	return h
}

func TestAsksWhyWhenPolicyWantsAReason(t *testing.T) {
	h := newJustifyHarness(t)
	r := h.say(sam, "I need poweruser on aws prod for 2 hours")
	if r.Kind != conv.ReplyQuestion || !strings.Contains(r.Text, "Why do you need it? A ticket reference helps, e.g. INC-1234") ||
		!strings.Contains(r.Text, "AWS production poweruser") || !strings.Contains(r.Text, "At least 15 characters") {
		t.Fatalf("want the why question, got %+v", r)
	}
	if h.st.Pending == nil || h.st.Pending.Kind != conv.PendingJustification {
		t.Fatalf("pending: %+v", h.st.Pending)
	}
	r = h.say(sam, "rotating the leaked deploy keys, INC-2077")
	if r.Kind != conv.ReplyProposal || r.EntitlementID != "aws-prod:poweruser" {
		t.Fatalf("want a proposal, got %+v", r)
	}
	h.say(sam, "yes")
	reqs := h.actions.Requests()
	if len(reqs) != 1 || reqs[0].GetJustification() != "rotating the leaked deploy keys, INC-2077" ||
		reqs[0].GetTicketRef() != "INC-2077" || reqs[0].GetDuration().AsDuration().Hours() != 2 {
		t.Fatalf("submitted: %v", reqs)
	}
}

func TestShortReasonIsAskedAgain(t *testing.T) {
	h := newJustifyHarness(t)
	h.say(sam, "aws prod poweruser")
	r := h.say(sam, "keys")
	if r.Kind != conv.ReplyQuestion || !strings.Contains(r.Text, "at least 15 characters (this one has 4)") {
		t.Fatalf("want a second why, got %+v", r)
	}
	r = h.say(sam, "never mind")
	if r.Kind != conv.ReplyInfo || len(h.actions.Requests()) != 0 || h.st.Pending != nil {
		t.Fatalf("cancel: %+v", r)
	}
}

// A stated purpose is the justification: no question.
func TestStatedReasonIsUsed(t *testing.T) {
	for _, text := range []string{
		"I need poweruser on aws prod to rotate the leaked keys",
		"aws prod poweruser for INC-2077",
		"I need to change aws prod resources for the audit",
		"aws prod poweruser because the checkout deploy is stuck",
	} {
		t.Run(text, func(t *testing.T) {
			h := newJustifyHarness(t)
			r := h.say(sam, text)
			if r.Kind != conv.ReplyProposal || r.EntitlementID != "aws-prod:poweruser" {
				t.Fatalf("want a proposal, got %+v", r)
			}
			h.say(sam, "yes")
			if reqs := h.actions.Requests(); len(reqs) != 1 || reqs[0].GetJustification() != text {
				t.Fatalf("submitted: %v", reqs)
			}
		})
	}
}

// Without a reason, the request's words are not passed off as one, and policy that does
// not want one is not asked for one.
func TestNoReasonNoJustification(t *testing.T) {
	h := newJustifyHarness(t)
	r := h.say(sam, "I need read access to snowflake for 2 days")
	if r.Kind != conv.ReplyProposal {
		t.Fatalf("want a proposal, got %+v", r)
	}
	h.say(sam, "yes")
	if reqs := h.actions.Requests(); len(reqs) != 1 || reqs[0].GetJustification() != "" {
		t.Fatalf("submitted: %v", reqs)
	}
}

// A denial for other reasons is a denial, not a question.
func TestOtherDenialIsNotAQuestion(t *testing.T) {
	h := newJustifyHarness(t)
	r := h.say("jo.silva@acme.example", "I need admin on aws prod for an hour")
	if r.Kind == conv.ReplyQuestion && strings.Contains(r.Text, "Why do you need it") {
		t.Fatalf("contractor denial asked why: %+v", r)
	}
}

func TestStatesReason(t *testing.T) {
	h := newHarness(t)
	me, _ := h.snap.Person(sam)
	tr := &turn{s: h.p.tools.Session(h.st, nil), me: me, in: Input{Now: now}, loc: location(me)}
	cases := map[string]bool{
		"I need poweruser on aws prod":                        false,
		"I need to change production resources in aws prod":   false,
		"aws prod poweruser for 2 days":                       false,
		"aws prod poweruser for a bit, asap":                  false,
		"aws prod poweruser until friday":                     false,
		"aws prod poweruser for the quarterly close":          true,
		"aws prod poweruser to debug the checkout outage":     true,
		"aws prod poweruser so I can fix the broken lambda":   true,
		"aws prod poweruser, OPS-42":                          true,
		"I need to look at aws prod resources for the review": true,
	}
	for text, want := range cases {
		if got := tr.statesReason(text, "aws-prod:poweruser", Understand(text, now, time.UTC)); got != want {
			t.Errorf("statesReason(%q) = %v, want %v", text, got, want)
		}
	}
}
