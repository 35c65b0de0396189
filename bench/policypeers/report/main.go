// Command report measures one access decision in iga's engine, OPA and cedar-go (see
// package policypeers) and prints ns/op with the ratio to iga.
//
//	go run ./bench/policypeers/report
package main

import (
	"fmt"
	"os"
	"testing"
	"text/tabwriter"

	"github.com/agentic-iga/iga/bench/policypeers"
)

func main() {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\trules\tns/op\tallocs/op\tvs iga\t")
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
			if base == 0 {
				base = ns
			}
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%.1fx\t\n", d.Name(), n, ns, r.AllocsPerOp(), ns/base)
		}
	}
	_ = tw.Flush()
}
