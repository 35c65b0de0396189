package bus_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/bus/bustest"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// collect consumes subject into a channel of decoded bodies.
func collect[T proto.Message](t *testing.T, b *bus.Bus, stream, durable, filter string, newT func() T) <-chan T {
	t.Helper()
	ch := make(chan T, 100)
	sub, err := b.Consume(ctxT(t), bus.ConsumerSpec{Stream: stream, Durable: durable, Filters: []string{filter}},
		bus.Typed(newT, func(_ context.Context, _ bus.Meta, v T) error { ch <- v; return nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
	return ch
}

func wait[T any](t *testing.T, ch <-chan T, within time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("nothing arrived within %s", within)
	}
	var zero T
	return zero
}

func TestPublishConsumeCarriesCloudEventsHeaders(t *testing.T) {
	b := bustest.New(t)
	ctx := ctxT(t)
	got := make(chan bus.Meta, 1)
	sub, err := b.Consume(ctx, bus.ConsumerSpec{Stream: bus.StreamEvents, Durable: "t", Filters: []string{"iga.evt.grant.>"}},
		bus.Typed(func() *igav1.GrantChanged { return &igav1.GrantChanged{} },
			func(_ context.Context, m bus.Meta, g *igav1.GrantChanged) error {
				if g.GetGrant().GetId() != "g1" {
					t.Errorf("body = %v", g)
				}
				got <- m
				return nil
			}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	sent, err := b.Publish(ctx, "iga.evt.grant.active", &igav1.GrantChanged{Grant: &igav1.Grant{Id: "g1"}}, bus.WithRequestID("r1"))
	if err != nil {
		t.Fatal(err)
	}
	m := wait(t, got, 5*time.Second)
	if m.ID != sent.ID || m.Type != "iga.grant.active" || m.Source != "iga/test" || m.RequestID != "r1" {
		t.Errorf("meta = %+v", m)
	}
	if m.Headers.Get("ce-specversion") != "1.0" || !strings.HasPrefix(m.Traceparent, "00-") {
		t.Errorf("headers = %v", m.Headers)
	}
}

func TestDuplicateIDIsStoredOnce(t *testing.T) {
	b := bustest.New(t)
	ctx := ctxT(t)
	for range 3 {
		if _, err := b.Publish(ctx, "iga.evt.x.y", &igav1.RequestDenied{RequestId: "r"}, bus.WithID("same")); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := b.JetStream().Stream(ctx, bus.StreamEvents)
	info, _ := s.Info(ctx)
	if info.State.Msgs != 1 {
		t.Fatalf("stored %d messages, want 1", info.State.Msgs)
	}
}

func TestGarbageIsDeadLettered(t *testing.T) {
	b := bustest.New(t)
	ctx := ctxT(t)
	dl := collect(t, b, bus.StreamEvents, "dlq-watch", "iga.evt.*.failed", func() *igav1.DeadLetter { return &igav1.DeadLetter{} })
	var calls atomic.Int32
	sub, err := b.Consume(ctx, bus.ConsumerSpec{Stream: bus.StreamCommands, Durable: "grants", Filters: []string{"iga.cmd.provision.grant"}},
		bus.Typed(func() *igav1.ProvisionGrant { return &igav1.ProvisionGrant{} },
			func(context.Context, bus.Meta, *igav1.ProvisionGrant) error { calls.Add(1); return nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if _, err := b.JetStream().Publish(ctx, "iga.cmd.provision.grant", []byte{0xff, 0xfe, 0x00, 0x01}); err != nil {
		t.Fatal(err)
	}
	d := wait(t, dl, 5*time.Second)
	if d.GetConsumer() != "grants" || !strings.Contains(d.GetReason(), "decode") {
		t.Errorf("dead letter = %v", d)
	}
	if calls.Load() != 0 {
		t.Errorf("handler ran on garbage")
	}
}

// A handler that is not ready yet (Later) on an unbounded consumer is asked again as
// often as it takes, never dead-lettered, and handled once ready.
func TestLaterWaitsWithoutDeadLettering(t *testing.T) {
	b := bustest.New(t)
	ctx := ctxT(t)
	dl := collect(t, b, bus.StreamEvents, "dlq-watch-later", "iga.evt.*.failed", func() *igav1.DeadLetter { return &igav1.DeadLetter{} })
	var calls atomic.Int32
	done := make(chan uint64, 1)
	sub, err := b.Consume(ctx, bus.ConsumerSpec{Stream: bus.StreamCommands, Durable: "patient", Filters: []string{"iga.cmd.provision.revoke"},
		MaxDeliver: -1, Backoff: func(uint64) time.Duration { return 10 * time.Millisecond }},
		bus.Typed(func() *igav1.ProvisionRevoke { return &igav1.ProvisionRevoke{} },
			func(_ context.Context, m bus.Meta, _ *igav1.ProvisionRevoke) error {
				if calls.Add(1) < 8 { // more than the default bound of 5 deliveries
					return bus.Later(5*time.Millisecond, errors.New("an earlier message goes first"))
				}
				done <- m.Deliveries
				return nil
			}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if _, err := b.Publish(ctx, "iga.cmd.provision.revoke", &igav1.ProvisionRevoke{GrantId: "g"}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-done:
		if n != 8 {
			t.Errorf("handled on delivery %d, want 8", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("never handled")
	}
	select {
	case d := <-dl:
		t.Fatalf("dead-lettered while waiting: %v", d)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestRetriesThenDeadLetters(t *testing.T) {
	b := bustest.New(t)
	ctx := ctxT(t)
	dl := collect(t, b, bus.StreamEvents, "dlq-watch", "iga.evt.*.failed", func() *igav1.DeadLetter { return &igav1.DeadLetter{} })
	var calls atomic.Int32
	sub, err := b.Consume(ctx, bus.ConsumerSpec{Stream: bus.StreamCommands, Durable: "flaky", Filters: []string{"iga.cmd.provision.revoke"},
		MaxDeliver: 3, Backoff: func(uint64) time.Duration { return 10 * time.Millisecond }},
		bus.Typed(func() *igav1.ProvisionRevoke { return &igav1.ProvisionRevoke{} },
			func(context.Context, bus.Meta, *igav1.ProvisionRevoke) error {
				calls.Add(1)
				return errors.New("target down")
			}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if _, err := b.Publish(ctx, "iga.cmd.provision.revoke", &igav1.ProvisionRevoke{GrantId: "g"}); err != nil {
		t.Fatal(err)
	}
	d := wait(t, dl, 10*time.Second)
	if d.GetDeliveries() != 3 || calls.Load() != 3 || !strings.Contains(d.GetReason(), "target down") {
		t.Errorf("deliveries=%d calls=%d reason=%q", d.GetDeliveries(), calls.Load(), d.GetReason())
	}
}

func TestScheduleFiresAndCanBeReplacedOrCancelled(t *testing.T) {
	b := bustest.New(t)
	ctx := ctxT(t)
	fired := collect(t, b, bus.StreamSchedules, "fires", "iga.sched.fire.>", func() *igav1.ProvisionRevoke { return &igav1.ProvisionRevoke{} })
	now := time.Now()
	// Replaced: the second schedule on the same subject wins.
	if _, err := b.Schedule(ctx, "iga.sched.expiry.a", "iga.sched.fire.expiry.a", now.Add(time.Hour), &igav1.ProvisionRevoke{GrantId: "a", Generation: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Schedule(ctx, "iga.sched.expiry.a", "iga.sched.fire.expiry.a", now.Add(time.Second), &igav1.ProvisionRevoke{GrantId: "a", Generation: 2}); err != nil {
		t.Fatal(err)
	}
	// Cancelled: never fires.
	if _, err := b.Schedule(ctx, "iga.sched.expiry.b", "iga.sched.fire.expiry.b", now.Add(time.Second), &igav1.ProvisionRevoke{GrantId: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := b.CancelSchedule(ctx, "iga.sched.expiry.b"); err != nil {
		t.Fatal(err)
	}
	got := wait(t, fired, 5*time.Second)
	if got.GetGrantId() != "a" || got.GetGeneration() != 2 {
		t.Fatalf("fired %v", got)
	}
	select {
	case extra := <-fired:
		t.Fatalf("unexpected fire %v", extra)
	case <-time.After(2500 * time.Millisecond):
	}
}

func TestStoreUpdateIsCompareAndSet(t *testing.T) {
	b := bustest.New(t)
	ctx := ctxT(t)
	st, err := bus.OpenStore(ctx, b, bus.BucketGrants, func() *igav1.Grant { return &igav1.Grant{} })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, "g", &igav1.Grant{Id: "g"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, "g", &igav1.Grant{Id: "g"}); !errors.Is(err, bus.ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	done := make(chan error, 20)
	for range 20 {
		go func() {
			_, err := st.Update(ctx, "g", false, func(g *igav1.Grant) (*igav1.Grant, error) {
				g.Generation++
				return g, nil
			})
			done <- err
		}()
	}
	for range 20 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	g, _, err := st.Get(ctx, "g")
	if err != nil || g.GetGeneration() != 20 {
		t.Fatalf("generation = %d, err %v; lost updates", g.GetGeneration(), err)
	}
	if _, _, err := st.Get(ctx, "missing"); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	all, err := st.List(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("list = %v, %v", all, err)
	}
}
