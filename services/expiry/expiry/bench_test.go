package expiry_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/bus/bustest"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/expiry/expiry"
)

// BenchmarkExpiryLateness puts b.N grants due in the same second through the expiry
// service (grant.active → schedule → fire → ledger check → revoke command) and, in the
// same run on the same server, b.N bare schedules due in the same second (publish with
// @at → fired message consumed). It reports how late the last revoke and the last bare
// fire came after the due second, and their ratio: the cost expiry adds to NATS's own
// schedule firing.
//
//	go test -run '^$' -bench ExpiryLateness -benchtime 2000x ./services/expiry/expiry/
func BenchmarkExpiryLateness(b *testing.B) {
	n := b.N
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bb := bustest.New(b)

	// Bare: schedules straight onto the schedules stream, consumed when they fire.
	bare := lateness(b, ctx, bb, n, "bench-bare", "iga.sched.fire.bench.>", func(due time.Time) {
		for i := range n {
			if _, err := bb.Schedule(ctx, fmt.Sprintf("iga.sched.bench.%d", i), fmt.Sprintf("iga.sched.fire.bench.%d", i), due,
				&igav1.ProvisionRevoke{GrantId: fmt.Sprint(i)}); err != nil {
				b.Fatal(err)
			}
		}
	}, bus.StreamSchedules)

	// Through expiry: ledger entries and grant.active events, revoke commands consumed.
	s, err := expiry.New(svc.Env{Name: "expiry", Bus: bb, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, expiry.Config{NoReminders: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	ledger, err := bus.OpenStore(ctx, bb, bus.BucketGrants, func() *igav1.Grant { return &igav1.Grant{} })
	if err != nil {
		b.Fatal(err)
	}
	loop := lateness(b, ctx, bb, n, "bench-revokes", expiry.SubjectRevoke, func(due time.Time) {
		for i := range n {
			g := grant(fmt.Sprintf("g-bench-%d", i), 1, due, igav1.GrantStatus_GRANT_STATUS_ACTIVE)
			if _, err := ledger.Put(ctx, g.GetId(), g); err != nil {
				b.Fatal(err)
			}
			if _, err := bb.Publish(ctx, "iga.evt.grant.active", &igav1.GrantChanged{Grant: g}); err != nil {
				b.Fatal(err)
			}
		}
	}, bus.StreamCommands)

	b.ReportMetric(bare.last.Seconds()*1000, "bare-last-ms")
	b.ReportMetric(loop.last.Seconds()*1000, "expiry-last-ms")
	b.ReportMetric(loop.p50.Seconds()*1000, "expiry-p50-ms")
	b.ReportMetric(loop.last.Seconds()/bare.last.Seconds(), "ratio-to-bare")
	b.ReportMetric(0, "ns/op")
}

type late struct{ p50, last time.Duration }

// lateness arms n deliveries due at the next whole second plus a margin for arming, and
// measures how long after the due time each one arrives.
func lateness(b *testing.B, ctx context.Context, bb *bus.Bus, n int, durable, filter string, arm func(due time.Time), stream string) late {
	b.Helper()
	var mu sync.Mutex
	var arrivals []time.Duration
	all := make(chan struct{})
	var due time.Time
	sub, err := bb.Consume(ctx, bus.ConsumerSpec{Stream: stream, Durable: durable, Filters: []string{filter}, Workers: 8},
		func(context.Context, bus.Msg) error {
			mu.Lock()
			defer mu.Unlock()
			arrivals = append(arrivals, time.Since(due))
			if len(arrivals) == n {
				close(all)
			}
			return nil
		})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Stop()
	// Arming n takes time; due is far enough ahead that all are armed before it.
	margin := 3*time.Second + time.Duration(n)*5*time.Millisecond
	mu.Lock()
	due = time.Now().Add(margin).Truncate(time.Second)
	mu.Unlock()
	arm(due)
	if time.Now().After(due) {
		b.Fatalf("%s: arming %d took past the due time; the margin must grow", durable, n)
	}
	select {
	case <-all:
	case <-ctx.Done():
		b.Fatalf("%s: only %d of %d arrived", durable, len(arrivals), n)
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(arrivals, func(i, j int) bool { return arrivals[i] < arrivals[j] })
	return late{p50: arrivals[len(arrivals)/2], last: arrivals[len(arrivals)-1]}
}
