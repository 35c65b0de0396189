// Command report measures one access decision in iga's engine, OPA and cedar-go (see
// package policypeers) and prints ns/op, the p50 and p99 of single decisions, and the
// ratio of each engine's p50 to iga's.
//
//	go run ./bench/policypeers/report
package main

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/agentic-iga/iga/bench/policypeers"
)

func main() {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\trules\tns/op\tp50 ns\tp99 ns\tallocs/op\tp50 vs iga\t")
	for _, n := range []int{10, 1000} {
		deciders, err := policypeers.New(n)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var base float64
		for _, d := range deciders {
			in, err := d.Prepare(policypeers.Sam)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if got, err := d.Decide(in); err != nil || got.String() != "require_approval manager" {
				fmt.Fprintf(os.Stderr, "%s decided %q (%v); the engines must agree before timing them\n", d.Name(), got, err)
				os.Exit(1)
			}
			r := testing.Benchmark(func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_, _ = d.Decide(in)
				}
			})
			ns := float64(r.T.Nanoseconds()) / float64(r.N)
			p50, p99 := percentiles(func() { _, _ = d.Decide(in) })
			if base == 0 {
				base = float64(p50)
			}
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%d\t%d\t%.1fx\t\n", d.Name(), n, ns, p50, p99, r.AllocsPerOp(), float64(p50)/base)
		}
	}
	_ = tw.Flush()
}

// percentiles times 20,000 single calls of f (after 2,000 to warm up) and returns the
// p50 and p99 in nanoseconds.
func percentiles(f func()) (p50, p99 int64) {
	for range 2000 {
		f()
	}
	d := make([]int64, 20000)
	for i := range d {
		t0 := time.Now()
		f()
		d[i] = time.Since(t0).Nanoseconds()
	}
	slices.Sort(d)
	return d[len(d)/2], d[len(d)*99/100]
}
