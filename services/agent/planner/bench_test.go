package planner

import (
	"context"
	"fmt"
	"testing"

	"github.com/agentic-iga/iga/pkg/directory"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/inmem"
	"github.com/agentic-iga/iga/services/agent/internal/turnclock"
	"github.com/agentic-iga/iga/services/agent/synth"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// BenchmarkBuiltinTurn measures one planning turn (understand, search, resolve, check
// access, preview policy, propose) over a synthetic catalog of 10,000 entitlements, and
// reports the p50 and p99 CPU time of single turns (each measured on its own OS thread's
// CPU clock; the goal is p99 <= 1 ms).
func BenchmarkBuiltinTurn(b *testing.B) {
	p := benchPlanner(b)
	ctx := context.Background()
	var samples turnclock.Samples
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		st := conv.New(fmt.Sprintf("c%d", i))
		var r conv.Reply
		var err error
		samples.Measure(func() {
			r, err = p.Plan(ctx, st, Input{TurnID: "t", Person: "dana.reyes@acme.example",
				Text: "I need to look at the payments dashboards for the audit this week", Now: now})
		})
		if err != nil || r.EntitlementID != "grafana:payments-viewer" {
			b.Fatalf("turn: %+v %v", r, err)
		}
	}
	samples.Report(b, false)
}

// BenchmarkBuiltinTurnMix is the same over a mix of first turns: a typo, a named app
// and level, a vague task, an admin ask without an app, a message naming nothing, and
// a long message of common catalog words (whose postings are the longest).
func BenchmarkBuiltinTurnMix(b *testing.B) {
	p := benchPlanner(b)
	ctx := context.Background()
	texts := []string{
		"I need to look at the payments dashbords for the audit this week",
		"read access to billing service 12 for 2 days",
		"I need to edit the fraud and risk data",
		"give me admin",
		"can you help me with the thing from yesterday",
		"I need to view data and reports in the warehouse system, query metrics and logs, and audit the orders and billing data in every service for the quarterly review",
		"edit payments dashboards until friday for INC-2077",
	}
	var samples turnclock.Samples
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		st := conv.New(fmt.Sprintf("c%d", i))
		var err error
		samples.Measure(func() {
			_, err = p.Plan(ctx, st, Input{TurnID: "t", Person: "dana.reyes@acme.example", Text: texts[i%len(texts)], Now: now})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	samples.Report(b, false)
}

func benchPlanner(b *testing.B) *Builtin {
	b.Helper()
	snap := synth.Directory(1000)
	if n := len(snap.Entitlements); n < 10000 {
		b.Fatalf("catalog has %d entitlements", n)
	}
	dir := func() *directory.Snapshot { return snap }
	pol := inmem.Policy{Dir: dir}
	ledger := inmem.NewLedger()
	tl := tools.New(tools.Deps{Directory: dir, Policy: pol, Approvals: pol, Grants: ledger, Actions: inmem.NewActions(ledger)})
	tl.Index() // built once per directory snapshot, not per turn
	return NewBuiltin(tl)
}

// BenchmarkIndexBuild measures building the search index of a 10,000-entitlement catalog
// (done once per directory change).
func BenchmarkIndexBuild(b *testing.B) {
	snap := synth.Directory(1000)
	for b.Loop() {
		tools.NewIndex(snap)
	}
}
