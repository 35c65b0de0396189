package convstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentic-iga/iga/pkg/redistest"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/convstore"
)

func TestLoadMissingIsFresh(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	s := convstore.New(rdb, prefix, time.Hour)
	st, err := s.Load(context.Background(), "c-new")
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != 0 || st.Schema != conv.SchemaVersion || st.ID != "c-new" || st.Draft != nil {
		t.Fatalf("fresh state = %+v", st)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := convstore.New(rdb, prefix, time.Hour)
	st, _ := s.Load(ctx, "c1")
	st.Person = "dana.reyes@acme.example"
	st.Draft = &conv.Draft{Action: conv.ActionRequest, EntitlementID: "grafana:payments-viewer", Duration: 72 * time.Hour}
	st.Pending = &conv.Pending{Kind: conv.PendingConfirm, Question: "Submit?", Options: []conv.Option{{Label: "Submit", Value: "yes"}}}
	if err := s.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	if st.Version != 1 {
		t.Fatalf("version after first save = %d, want 1", st.Version)
	}
	got, err := s.Load(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.Person != st.Person || got.Draft.EntitlementID != "grafana:payments-viewer" ||
		got.Draft.Duration != 72*time.Hour || !got.Pending.Allows("yes") {
		t.Fatalf("loaded %+v draft %+v", got, got.Draft)
	}
}

func TestSaveConflict(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := convstore.New(rdb, prefix, time.Hour)
	a, _ := s.Load(ctx, "c1")
	b, _ := s.Load(ctx, "c1")
	a.Person = "a@acme.example"
	if err := s.Save(ctx, a); err != nil {
		t.Fatal(err)
	}
	b.Person = "b@acme.example"
	if err := s.Save(ctx, b); !errors.Is(err, convstore.ErrConflict) {
		t.Fatalf("second writer from the same version: err = %v, want ErrConflict", err)
	}
	got, _ := s.Load(ctx, "c1")
	if got.Person != "a@acme.example" {
		t.Fatalf("the losing write overwrote the winner: %q", got.Person)
	}
}

func TestUpdateConcurrentLosesNothing(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := convstore.New(rdb, prefix, time.Hour)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Update(ctx, "c1", func(st *conv.State) error {
				st.Remember(fmt.Sprintf("t%d", i), "hi", conv.Reply{Kind: conv.ReplyInfo, Text: "hello"}, time.Now())
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.Load(ctx, "c1")
	if len(got.Processed) != 8 || got.Version != 8 {
		t.Fatalf("after 8 concurrent updates: %d processed turns, version %d", len(got.Processed), got.Version)
	}
}

func TestTTLRefreshedOnSave(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := convstore.New(rdb, prefix, 90*time.Second)
	st, _ := s.Load(ctx, "c1")
	if err := s.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.PTTL(ctx, s.Key("c1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > 90*time.Second {
		t.Fatalf("ttl = %s, want within (0, 90s]", ttl)
	}
	// An expired conversation starts afresh.
	if err := rdb.Del(ctx, s.Key("c1")).Err(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(ctx, "c1"); got.Version != 0 {
		t.Fatalf("expired conversation version = %d", got.Version)
	}
}

func TestIdempotentProcessedTurns(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := convstore.New(rdb, prefix, time.Hour)
	calls := 0
	handle := func(turn string) conv.Reply {
		var out conv.Reply
		if _, err := s.Update(ctx, "c1", func(st *conv.State) error {
			if r, ok := st.Reply(turn); ok {
				out = r
				return nil
			}
			calls++
			out = conv.Reply{Kind: conv.ReplySubmitted, Text: fmt.Sprintf("submitted #%d", calls), RequestID: "r-1"}
			st.Remember(turn, "yes", out, time.Now())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := handle("t1")
	again := handle("t1")
	if calls != 1 || first.Text != again.Text || again.RequestID != "r-1" {
		t.Fatalf("redelivered turn: calls=%d first=%q again=%q", calls, first.Text, again.Text)
	}
}

func TestHistoryAndProcessedCapped(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := convstore.New(rdb, prefix, time.Hour)
	for i := range conv.MaxProcessed + 10 {
		if _, err := s.Update(ctx, "c1", func(st *conv.State) error {
			st.Remember(fmt.Sprintf("t%d", i), string(make([]byte, 2000)), conv.Reply{Text: "ok"}, time.Now())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Load(ctx, "c1")
	if len(got.Processed) != conv.MaxProcessed || len(got.History) != conv.MaxHistory {
		t.Fatalf("processed=%d history=%d", len(got.Processed), len(got.History))
	}
	if _, ok := got.Reply(fmt.Sprintf("t%d", conv.MaxProcessed+9)); !ok {
		t.Fatal("newest turn forgotten")
	}
	for _, m := range got.History {
		if len(m.Text) > 600 {
			t.Fatalf("history text not clipped: %d bytes", len(m.Text))
		}
	}
}

func TestOtherSchemaStartsAfreshButKeepsVersion(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := convstore.New(rdb, prefix, time.Hour)
	if err := rdb.HSet(ctx, s.Key("c1"), "v", 7, "d", `{"schema":99,"person":"x"}`).Err(); err != nil {
		t.Fatal(err)
	}
	st, err := s.Load(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Person != "" || st.Version != 7 {
		t.Fatalf("state of another schema: %+v", st)
	}
	if err := s.Save(ctx, st); err != nil {
		t.Fatalf("save over another schema: %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	s := convstore.New(rdb, "x:", time.Hour)
	if _, err := s.Load(context.Background(), "c1"); !errors.Is(err, convstore.ErrUnavailable) {
		t.Fatalf("load from unreachable Redis: %v, want ErrUnavailable", err)
	}
	if err := s.Save(context.Background(), conv.New("c1")); !errors.Is(err, convstore.ErrUnavailable) {
		t.Fatalf("save to unreachable Redis: %v, want ErrUnavailable", err)
	}
}

// Failed attempts are counted per turn, expire like the conversation, and fail clearly
// when Redis is gone.
func TestFailedCountsAttemptsPerTurn(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := convstore.New(rdb, prefix, time.Hour)
	for want := int64(1); want <= 3; want++ {
		if n, err := s.Failed(ctx, "c1", "t1"); err != nil || n != want {
			t.Fatalf("attempt %d: %d, %v", want, n, err)
		}
	}
	if n, err := s.Failed(ctx, "c1", "t2"); err != nil || n != 1 {
		t.Fatalf("another turn: %d, %v", n, err)
	}
	if ttl := rdb.PTTL(ctx, prefix+"fail:c1:t1").Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("failure count ttl = %v, want the idle TTL", ttl)
	}
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer dead.Close()
	if _, err := convstore.New(dead, prefix, time.Hour).Failed(ctx, "c1", "t1"); !errors.Is(err, convstore.ErrUnavailable) {
		t.Fatalf("redis down: %v", err)
	}
}
