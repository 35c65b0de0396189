package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/bus/bustest"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// The contract every consumer relies on: ensure is idempotent, a message whose handler
// failed comes back, replicas sharing a durable split the work without duplicates, and a
// consumer that stops resumes where it stopped.

func TestEnsureIsIdempotent(t *testing.T) {
	s := bustest.Server(t)
	a := bustest.Connect(t, s, "iga/a")
	b := bustest.Connect(t, s, "iga/b") // a second service ensuring the same topology
	ctx := ctxT(t)
	if err := a.Ensure(ctx, bus.Topology{}); err != nil {
		t.Fatalf("second ensure: %v", err)
	}
	for _, sc := range (bus.Topology{}).Streams() {
		if _, err := b.JetStream().Stream(ctx, sc.Name); err != nil {
			t.Errorf("stream %s: %v", sc.Name, err)
		}
	}
	for _, kc := range (bus.Topology{}).Buckets() {
		if _, err := b.KV(ctx, kc.Bucket); err != nil {
			t.Errorf("bucket %s: %v", kc.Bucket, err)
		}
	}
	if _, err := b.KV(ctx, "no_such_bucket"); err == nil {
		t.Error("opening a missing bucket succeeded")
	}
}

func TestFailedHandlerIsRedeliveredUntilItSucceeds(t *testing.T) {
	b := bustest.New(t)
	ctx := ctxT(t)
	var mu sync.Mutex
	var deliveries []uint64
	done := make(chan struct{})
	sub, err := b.Consume(ctx, bus.ConsumerSpec{Stream: bus.StreamCommands, Durable: "retry", Filters: []string{"iga.cmd.provision.grant"},
		Backoff: func(uint64) time.Duration { return 10 * time.Millisecond }},
		bus.Typed(func() *igav1.ProvisionGrant { return &igav1.ProvisionGrant{} },
			func(_ context.Context, m bus.Meta, _ *igav1.ProvisionGrant) error {
				mu.Lock()
				defer mu.Unlock()
				deliveries = append(deliveries, m.Deliveries)
				if len(deliveries) < 3 {
					return errors.New("not yet durable")
				}
				close(done)
				return nil
			}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if _, err := b.Publish(ctx, "iga.cmd.provision.grant", &igav1.ProvisionGrant{RequestId: "r"}); err != nil {
		t.Fatal(err)
	}
	wait(t, done, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(deliveries) != 3 || deliveries[2] != 3 {
		t.Fatalf("deliveries = %v, want [1 2 3]", deliveries)
	}
}

func TestReplicasShareADurableWithoutDuplicates(t *testing.T) {
	s := bustest.Server(t)
	pub := bustest.Connect(t, s, "iga/pub")
	ctx := ctxT(t)
	const n = 200
	var mu sync.Mutex
	seen := map[string]int{}
	all := make(chan struct{})
	handler := bus.Typed(func() *igav1.ProvisionGrant { return &igav1.ProvisionGrant{} },
		func(_ context.Context, _ bus.Meta, g *igav1.ProvisionGrant) error {
			mu.Lock()
			defer mu.Unlock()
			seen[g.GetRequestId()]++
			if len(seen) == n {
				close(all)
			}
			return nil
		})
	for _, name := range []string{"iga/replica-1", "iga/replica-2"} {
		r := bustest.Connect(t, s, name)
		sub, err := r.Consume(ctx, bus.ConsumerSpec{Stream: bus.StreamCommands, Durable: "shared", Filters: []string{"iga.cmd.provision.grant"}, Workers: 4}, handler)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sub.Stop)
	}
	for i := range n {
		if _, err := pub.Publish(ctx, "iga.cmd.provision.grant", &igav1.ProvisionGrant{RequestId: string(rune('a'+i%26)) + time.Now().Format("150405.000000000")}); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, all, 20*time.Second)
	mu.Lock()
	defer mu.Unlock()
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s handled %d times", id, c)
		}
	}
}

func TestStoppedConsumerResumesWhereItStopped(t *testing.T) {
	b := bustest.New(t)
	ctx := ctxT(t)
	got := make(chan string, 10)
	spec := bus.ConsumerSpec{Stream: bus.StreamCommands, Durable: "resume", Filters: []string{"iga.cmd.provision.revoke"}}
	h := bus.Typed(func() *igav1.ProvisionRevoke { return &igav1.ProvisionRevoke{} },
		func(_ context.Context, _ bus.Meta, r *igav1.ProvisionRevoke) error { got <- r.GetGrantId(); return nil })
	sub, err := b.Consume(ctx, spec, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctx, "iga.cmd.provision.revoke", &igav1.ProvisionRevoke{GrantId: "first"}); err != nil {
		t.Fatal(err)
	}
	if id := wait(t, got, 5*time.Second); id != "first" {
		t.Fatalf("got %s", id)
	}
	sub.Stop()
	// Published while nobody consumes: kept, and delivered once the consumer is back.
	if _, err := b.Publish(ctx, "iga.cmd.provision.revoke", &igav1.ProvisionRevoke{GrantId: "second"}); err != nil {
		t.Fatal(err)
	}
	sub, err = b.Consume(ctx, spec, h)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if id := wait(t, got, 5*time.Second); id != "second" {
		t.Fatalf("after restart got %s, want second", id)
	}
	select {
	case id := <-got:
		t.Fatalf("redelivered %s after restart", id)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestJSONBodiesDecode(t *testing.T) {
	b := bustest.New(t)
	ctx := ctxT(t)
	got := collect(t, b, bus.StreamCommands, "json", "iga.cmd.provision.grant", func() *igav1.ProvisionGrant { return &igav1.ProvisionGrant{} })
	if _, err := b.Publish(ctx, "iga.cmd.provision.grant", &igav1.ProvisionGrant{RequestId: "j1"}, bus.AsJSON()); err != nil {
		t.Fatal(err)
	}
	if g := wait(t, got, 5*time.Second); g.GetRequestId() != "j1" {
		t.Fatalf("got %v", g)
	}
}

func TestPanickingHandlerIsDeadLetteredNotCrashed(t *testing.T) {
	b := bustest.New(t)
	ctx := ctxT(t)
	dl := collect(t, b, bus.StreamEvents, "dlq", "iga.evt.*.failed", func() *igav1.DeadLetter { return &igav1.DeadLetter{} })
	sub, err := b.Consume(ctx, bus.ConsumerSpec{Stream: bus.StreamCommands, Durable: "panics", Filters: []string{"iga.cmd.provision.grant"}},
		func(context.Context, bus.Msg) error { panic("boom") })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if _, err := b.Publish(ctx, "iga.cmd.provision.grant", &igav1.ProvisionGrant{RequestId: "p"}); err != nil {
		t.Fatal(err)
	}
	if d := wait(t, dl, 5*time.Second); d.GetConsumer() != "panics" {
		t.Fatalf("dead letter %v", d)
	}
}
