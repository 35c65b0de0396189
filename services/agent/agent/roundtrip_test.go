package agent_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/agent"
	"github.com/agentic-iga/iga/services/agent/internal/turnclock"
	"github.com/agentic-iga/iga/services/agent/synth"
)

// countingHook counts the commands (round trips) a Redis client sends.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

func handle(t testing.TB, s *agent.Service, conv, turnID, text, option string) {
	t.Helper()
	turn := &igav1.Turn{TurnId: turnID, ConversationId: conv, Channel: "web", ChannelUserId: "U", PersonEmail: "dana.reyes@acme.example",
		Text: text, OptionValue: option}
	if err := s.HandleTurn(context.Background(), bus.Meta{ID: turnID, Subject: "iga.turn." + conv}, turn); err != nil {
		t.Fatal(err)
	}
}

// TestRedisRoundTripsPerTurn: a turn costs one read and one compare-and-set write.
func TestRedisRoundTripsPerTurn(t *testing.T) {
	w := newWorld(t)
	hook := &countingHook{}
	w.rdb.AddHook(hook)
	s, err := agent.NewWithRedis(w.env, agent.Config{RedisPrefix: w.prefix, ConversationTTL: time.Hour}, w.rdb)
	if err != nil {
		t.Fatal(err)
	}
	handle(t, s, "c-warm", "w1", "hello", "") // loads the CAS script into Redis once
	hook.n.Store(0)
	handle(t, s, "c-rt", "t1", "I need to look at the payments dashboards for the audit this week", "")
	handle(t, s, "c-rt", "t2", "", "yes")
	handle(t, s, "c-rt", "t2", "", "yes") // redelivery: read only
	if n := hook.n.Load(); n > 5 {
		t.Fatalf("%d Redis round trips for 3 turns, want <= 5 (2 per new turn, 1 per redelivery)", n)
	}
	if len(w.requests()) != 1 {
		t.Fatal("want exactly one request")
	}
}

// BenchmarkHandleTurn measures a whole agent turn — state read, planning over the test
// catalog with policy and approval previews over real gRPC, state write, reply publish to
// an embedded NATS — and reports Redis round trips per turn, p50/p99 of the turn's wall
// time and of the CPU time of the goroutine handling it (locked to its thread; the gRPC
// servers, NATS and Redis it talks to run elsewhere), and the whole process's CPU per
// turn (which includes those in-process servers).
func BenchmarkHandleTurn(b *testing.B) {
	snap, err := directory.LoadDir("../testdata/directory")
	if err != nil {
		b.Fatal(err)
	}
	benchHandleTurn(b, snap)
}

// BenchmarkHandleTurn10k is the same over a synthetic catalog of 10,000 entitlements.
func BenchmarkHandleTurn10k(b *testing.B) {
	benchHandleTurn(b, synth.Directory(1000))
}

func benchHandleTurn(b *testing.B, snap *directory.Snapshot) {
	w := newWorldWith(b, snap)
	hook := &countingHook{}
	w.rdb.AddHook(hook)
	s, err := agent.NewWithRedis(w.env, agent.Config{RedisPrefix: w.prefix, ConversationTTL: time.Hour}, w.rdb)
	if err != nil {
		b.Fatal(err)
	}
	handle(b, s, "c-warm", "w1", "hello", "") // loads the CAS script, builds the index
	hook.n.Store(0)
	var samples turnclock.Samples
	turns := 0
	cpu0 := turnclock.ProcessCPU()
	for i := 0; b.Loop(); i++ {
		samples.Measure(func() {
			handle(b, s, fmt.Sprintf("c-b%d", i), fmt.Sprintf("b%d", i), "I need to look at the payments dashboards for the audit this week", "")
		})
		turns++
	}
	b.ReportMetric(float64(hook.n.Load())/float64(turns), "redis-rt/turn")
	b.ReportMetric(float64(turnclock.ProcessCPU()-cpu0)/float64(turns)/float64(time.Millisecond), "proc-cpu-ms/turn")
	samples.Report(b, true)
}
