// Package turnclock measures the CPU time of single turns in benchmarks and reports
// their distribution: a mean per op hides the slow turns a p99 goal is about.
package turnclock

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

// Samples collects one measurement per turn.
type Samples struct {
	cpu, wall []time.Duration
}

// Measure runs f on the calling goroutine, locked to its OS thread so the thread's CPU
// clock counts f alone (and any GC assist f is charged), and records its CPU and wall
// time. Background GC on other threads is not counted.
func (s *Samples) Measure(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w0, c0 := time.Now(), threadCPU()
	f()
	c1, w1 := threadCPU(), time.Now()
	s.cpu = append(s.cpu, c1-c0)
	s.wall = append(s.wall, w1.Sub(w0))
}

// Report adds p50/p99 (and max) of the per-turn CPU time in milliseconds, and the same
// of wall time when wall is set, to the benchmark's output.
func (s *Samples) Report(b *testing.B, wall bool) {
	b.Helper()
	if len(s.cpu) == 0 {
		return
	}
	report := func(ds []time.Duration, unit string) {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		b.ReportMetric(ms(Quantile(ds, 0.50)), "p50-"+unit)
		b.ReportMetric(ms(Quantile(ds, 0.99)), "p99-"+unit)
	}
	report(s.cpu, "cpu-ms")
	if wall {
		report(s.wall, "wall-ms")
	}
}

// Quantile is the q-quantile of sorted durations (nearest rank).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
