package planner

import (
	"context"
	"fmt"
	"testing"

	"github.com/agentic-iga/iga/pkg/directory"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/inmem"
	"github.com/agentic-iga/iga/services/agent/synth"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// BenchmarkBuiltinTurn measures one planning turn (understand, search, resolve, check
// access, preview policy, propose) over a synthetic catalog of 10,000 entitlements.
func BenchmarkBuiltinTurn(b *testing.B) {
	snap := synth.Directory(1000)
	if n := len(snap.Entitlements); n < 10000 {
		b.Fatalf("catalog has %d entitlements", n)
	}
	dir := func() *directory.Snapshot { return snap }
	pol := inmem.Policy{Dir: dir}
	ledger := inmem.NewLedger()
	tl := tools.New(tools.Deps{Directory: dir, Policy: pol, Approvals: pol, Grants: ledger, Actions: inmem.NewActions(ledger)})
	p := NewBuiltin(tl)
	tl.Index() // built once per directory snapshot, not per turn
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		st := conv.New(fmt.Sprintf("c%d", i))
		r, err := p.Plan(ctx, st, Input{TurnID: "t", Person: "dana.reyes@acme.example",
			Text: "I need to look at the payments dashboards for the audit this week", Now: now})
		if err != nil || r.EntitlementID != "grafana:payments-viewer" {
			b.Fatalf("turn: %+v %v", r, err)
		}
	}
}

// BenchmarkIndexBuild measures building the search index of a 10,000-entitlement catalog
// (done once per directory change).
func BenchmarkIndexBuild(b *testing.B) {
	snap := synth.Directory(1000)
	for b.Loop() {
		tools.NewIndex(snap)
	}
}
