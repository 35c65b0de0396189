package turnclock

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 50, 0.99: 99, 1: 100, 0: 1} {
		if got := Quantile(ds, q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if Quantile(nil, 0.5) != 0 {
		t.Error("empty")
	}
}

func TestMeasureCountsCPU(t *testing.T) {
	var s Samples
	s.Measure(func() {
		x := 0
		for i := range 20_000_000 {
			x += i ^ (x >> 3)
		}
		sink = x
	})
	s.Measure(func() { time.Sleep(20 * time.Millisecond) })
	if s.cpu[0] <= 0 {
		t.Fatalf("busy loop measured %v of CPU", s.cpu[0])
	}
	// Sleeping uses (almost) no CPU but takes wall time.
	if s.wall[1] < 20*time.Millisecond || s.cpu[1] >= s.wall[1] {
		t.Fatalf("sleep: cpu %v wall %v", s.cpu[1], s.wall[1])
	}
}

var sink int
