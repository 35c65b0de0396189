//go:build !linux

package turnclock

import "time"

var start = time.Now()

// threadCPU falls back to wall time where no per-thread CPU clock is at hand; the
// benchmark then measures a single goroutine's wall time.
func threadCPU() time.Duration { return time.Since(start) }

// ProcessCPU is not measured here.
func ProcessCPU() time.Duration { return 0 }
