package planner

import (
	"strings"
	"testing"
	"time"

	"github.com/agentic-iga/iga/services/agent/conv"
)

// A newcomer who names no app gets what their peers hold to choose from, least of all
// admin, and what they already hold is left out; picking one proposes it.
func TestNewcomerGetsAPeerBundle(t *testing.T) {
	h := newHarnessDir(t, "../../../deploy/demo")
	const alex = "alex.morgan@acme.example"
	me, _ := h.snap.Person(alex)
	var peers []string
	for _, p := range h.snap.PeopleList() {
		if p.GetEmail() != alex && p.GetTitle() == me.GetTitle() && p.GetDepartment() == me.GetDepartment() {
			peers = append(peers, p.GetEmail())
		}
	}
	if len(peers) < 2 {
		t.Fatalf("the demo needs at least two peers of %s, has %v", alex, peers)
	}
	for i, p := range peers[:2] {
		h.ledger.Hold("g-eng-"+p, p, "snowflake:engineer", now.Add(30*24*time.Hour))
		h.ledger.Hold("g-air-"+p, p, "airflow:user", now.Add(30*24*time.Hour))
		h.ledger.Hold("g-adm-"+p, p, "snowflake:admin", now.Add(time.Hour))
		if i == 0 {
			h.ledger.Hold("g-gh-"+p, p, "github:read", now.Add(30*24*time.Hour))
		}
	}
	h.ledger.Hold("g-own", alex, "github:read", now.Add(24*time.Hour))

	r := h.say(alex, "I just joined the data team, what do I need?")
	if r.Kind != conv.ReplyQuestion || !strings.Contains(r.Text, "usually hold") {
		t.Fatalf("reply %v %q, want a peer bundle", r.Kind, r.Text)
	}
	var got []string
	for _, o := range r.Options {
		got = append(got, o.Value)
	}
	if len(got) != 2 || got[0] != "snowflake:engineer" && got[0] != "airflow:user" {
		t.Fatalf("options %v, want snowflake:engineer and airflow:user (not admin, not what alex holds)", got)
	}
	r = h.pick(alex, "airflow:user")
	if r.Kind != conv.ReplyProposal || r.EntitlementID != "airflow:user" {
		t.Fatalf("after picking: %v %q", r.Kind, r.Text)
	}
}

// Without peers holding anything, the newcomer's ask is handled like any other.
func TestNewcomerWithoutPeerAccessIsAskedAsUsual(t *testing.T) {
	h := newHarnessDir(t, "../../../deploy/demo")
	r := h.say("alex.morgan@acme.example", "I just joined the data team, what do I need?")
	if strings.Contains(r.Text, "usually hold") {
		t.Fatalf("offered a peer bundle with no peer access: %q", r.Text)
	}
}
