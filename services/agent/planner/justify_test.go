package planner

import (
	"strings"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
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

// The policy engine's own words (deploy/demo policy, aws-prod:poweruser without a reason).
func TestJustificationWanted(t *testing.T) {
	deny := igav1.Effect_EFFECT_DENY
	cases := []struct {
		dec  *igav1.PolicyDecision
		want bool
	}{
		{&igav1.PolicyDecision{Effect: deny, Reason: "Denied: rule high-risk-owner needs a justification (at least 15 characters).",
			Remediation: []string{"give a justification (at least 15 characters)", "ask for aws-prod:billing (read) instead: that would go to approval",
				"ask for 8h instead of 1d: that would go to approval"}}, true},
		{&igav1.PolicyDecision{Effect: deny, Reason: "Denied: rule x needs a ticket reference matching ^INC-",
			Remediation: []string{"give a ticket reference matching ^INC-"}}, true},
		// Another reason as well: a denial, not a question.
		{&igav1.PolicyDecision{Effect: deny, Reason: "Denied: contractors may not hold critical access; rule y needs a justification (at least 20 characters).",
			Remediation: []string{"give a justification (at least 20 characters)"}}, false},
		{&igav1.PolicyDecision{Effect: deny, Reason: "Denied: rule sod conflicts with netsuite:ap-approver.",
			Remediation: []string{"give up netsuite:ap-approver first"}}, false},
		{&igav1.PolicyDecision{Effect: deny, Reason: "Denied: rule y needs a justification.", Remediation: []string{"ask for x (read) instead: that would be allowed"}}, false},
		{&igav1.PolicyDecision{Effect: igav1.Effect_EFFECT_REQUIRE_APPROVAL, Reason: "needs the manager, with a justification"}, true},
		{&igav1.PolicyDecision{Effect: igav1.Effect_EFFECT_ALLOW, Reason: "low-risk access is auto-approved"}, false},
	}
	for _, c := range cases {
		if got, _ := justificationWanted(c.dec, ""); got != c.want {
			t.Errorf("justificationWanted(%q, %q) = %v, want %v", c.dec.GetReason(), c.dec.GetRemediation(), got, c.want)
		}
	}
	if got, _ := justificationWanted(cases[5].dec, "for the audit"); got {
		t.Error("asked again for a justification already given")
	}
}

// A reason that mentions a span of time or status codes leaves the asked duration alone;
// one that asks for a duration sets it.
func TestReasonDoesNotChangeTheDurationUnlessItAsks(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   time.Duration
	}{
		{"checking the last 3 days of deploy logs, INC-2077", 2 * time.Hour},
		{"investigating the 500s on checkout, INC-5102", 2 * time.Hour},
		{"rotating the leaked deploy keys, INC-2077, for 4 hours please", 4 * time.Hour},
		{"rotating the leaked keys until end of day, INC-2077", 0}, // asked: until end of day
	} {
		h := newJustifyHarness(t)
		h.say(sam, "I need poweruser on aws prod for 2 hours")
		r := h.say(sam, tc.reason)
		if r.Kind != conv.ReplyProposal {
			t.Fatalf("%q: want a proposal, got %+v", tc.reason, r)
		}
		if tc.want != 0 && r.Duration != tc.want {
			t.Errorf("%q: duration %s, want %s", tc.reason, r.Duration, tc.want)
		}
		if tc.want == 0 && r.Duration == 2*time.Hour {
			t.Errorf("%q: the asked 'until end of day' was ignored", tc.reason)
		}
	}
}

func TestAskedFor(t *testing.T) {
	for text, want := range map[string]bool{
		"for 3 days please":               true,
		"I need it another 2 days":        true,
		"until friday":                    true,
		"logs from the last 3 days":       false,
		"the job failed 2 days ago":       false,
		"investigating, need it 3 days":   true,
		"looking into it for 1 week, ok?": true,
	} {
		u := Understand(text, now, nil)
		if got := u.Duration > 0 && askedFor(text, u.DurationText); got != want {
			t.Errorf("askedFor(%q) [%q] = %v, want %v", text, u.DurationText, got, want)
		}
	}
}
