package planner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/directory"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/inmem"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// now is a Wednesday, so "this week" ends Friday midnight.
var now = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

type harness struct {
	t       *testing.T
	snap    *directory.Snapshot
	ledger  *inmem.Ledger
	actions *inmem.Actions
	p       *Builtin
	st      *conv.State
	n       int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessDir(t, "../testdata/directory")
}

func newHarnessDir(t *testing.T, dir string) *harness {
	t.Helper()
	snap, err := directory.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ledger := inmem.NewLedger()
	actions := inmem.NewActions(ledger)
	pol := inmem.Policy{Dir: func() *directory.Snapshot { return snap }}
	tl := tools.New(tools.Deps{Directory: func() *directory.Snapshot { return snap }, Policy: pol, Approvals: pol,
		Grants: ledger, Actions: actions})
	st := conv.New("c1")
	st.Channel = "test"
	return &harness{t: t, snap: snap, ledger: ledger, actions: actions, p: NewBuiltin(tl), st: st}
}

func (h *harness) say(person, text string) conv.Reply {
	h.t.Helper()
	return h.turn(Input{Person: person, Text: text})
}

func (h *harness) pick(person, option string) conv.Reply {
	h.t.Helper()
	return h.turn(Input{Person: person, Option: option})
}

func (h *harness) turn(in Input) conv.Reply {
	h.t.Helper()
	in.Now = time.Time{}
	return h.turnAt(in)
}

// turnAt plays a turn at in.Now, the package's now when zero.
func (h *harness) turnAt(in Input) conv.Reply {
	h.t.Helper()
	h.n++
	in.TurnID = fmt.Sprintf("t%d", h.n)
	if in.Now.IsZero() {
		in.Now = now
	}
	r, err := h.p.Plan(context.Background(), h.st, in)
	if err != nil {
		h.t.Fatalf("turn %q: %v", in.Text, err)
	}
	h.t.Logf("%s> %s%s\nagent [%s] %s %v", in.Person, in.Text, in.Option, r.Kind, r.Text, r.Options)
	return r
}
