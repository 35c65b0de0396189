package intake_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/bus/bustest"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/intake/intake"
)

const dana = "dana.reyes@acme.example"

// testDirectory is a small directory: Dana (linked to Slack U0DANA), Sam (no Slack
// link: known by email on the CLI) and Pat, who has left.
func testDirectory() *directory.Directory {
	return directory.New(directory.NewSnapshot(
		[]*igav1.Person{
			{Email: dana, Name: "Dana Reyes", Department: "Finance", Title: "Financial Analyst", Status: "active",
				ManagerEmail: "marco.bianchi@acme.example", Groups: []string{"finance", "all-staff"},
				ChannelIds: map[string]string{"slack": "U0DANA"}},
			{Email: "sam.patel@acme.example", Name: "Sam Patel", Department: "Engineering", Status: "active"},
			{Email: "pat.gone@acme.example", Name: "Pat Gone", Status: "terminated", ChannelIds: map[string]string{"slack": "U0GONE"}},
		},
		[]*igav1.App{{Id: "grafana", Name: "Grafana"}, {Id: "snowflake", Name: "Snowflake"}},
		[]*igav1.Entitlement{
			{Id: "grafana:payments-viewer", AppId: "grafana", Name: "payments-viewer", Level: "read"},
			{Id: "grafana:admin", AppId: "grafana", Name: "admin", Level: "admin"},
			{Id: "snowflake:analyst", AppId: "snowflake", Name: "analyst", Level: "read"},
		},
	))
}

type received[T proto.Message] struct {
	meta bus.Meta
	body T
}

type harness struct {
	t       *testing.T
	ctx     context.Context
	bus     *bus.Bus
	svc     *intake.Service
	turns   chan received[*igav1.Turn]
	replies chan received[*igav1.Reply]
}

func newHarness(t *testing.T, cfg intake.Config) *harness {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	b := bustest.New(t)
	s, err := intake.New(svc.Env{Name: "intake", Bus: b, Dir: testDirectory(), Log: slog.New(slog.NewTextHandler(t.Output(), nil))}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return &harness{t: t, ctx: ctx, bus: b, svc: s}
}

// collect consumes a subject filter into a channel.
func collect[T proto.Message](h *harness, stream, filter string, newT func() T) chan received[T] {
	h.t.Helper()
	ch := make(chan received[T], 100)
	sub, err := h.bus.Consume(h.ctx, bus.ConsumerSpec{Stream: stream, Durable: "test-" + stream, Filters: []string{filter}},
		bus.Typed(newT, func(_ context.Context, m bus.Meta, v T) error { ch <- received[T]{m, v}; return nil }))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(sub.Stop)
	return ch
}

func (h *harness) collectTurns() {
	h.turns = collect(h, bus.StreamTurns, "iga.turn.>", func() *igav1.Turn { return &igav1.Turn{} })
}

func (h *harness) collectReplies() {
	h.replies = collect(h, bus.StreamReplies, "iga.reply.>", func() *igav1.Reply { return &igav1.Reply{} })
}

func next[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s within 20s", what)
	}
	var zero T
	return zero
}

// handled waits until intake has acknowledged every message published to it so far.
func (h *harness) handled() {
	h.t.Helper()
	st, err := h.bus.JetStream().Stream(h.ctx, bus.StreamIntake)
	if err != nil {
		h.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := st.Info(h.ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		// The intake stream is a work queue: handled messages are removed.
		c, cerr := h.bus.JetStream().Consumer(h.ctx, bus.StreamIntake, intake.DurableMessages)
		if cerr == nil {
			ci, ierr := c.Info(h.ctx)
			if ierr == nil && info.State.Msgs == 0 && ci.NumAckPending == 0 && ci.NumPending == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("intake did not handle its messages in time (%d left)", info.State.Msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// turnsPublished is how many turns were ever stored (the turns stream's last sequence).
func (h *harness) turnsPublished() uint64 {
	h.t.Helper()
	st, err := h.bus.JetStream().Stream(h.ctx, bus.StreamTurns)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.LastSeq
}

// grpcClient serves the service's gRPC APIs on a local port and dials it.
func (h *harness) grpcClient() *grpc.ClientConn {
	h.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	srv := grpc.NewServer()
	h.svc.RegisterGRPC(srv)
	go func() { _ = srv.Serve(l) }()
	h.t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// fakeAgent answers every turn with the given texts, as the agent service would.
func (h *harness) fakeAgent(texts ...string) {
	h.t.Helper()
	sub, err := h.bus.Consume(h.ctx, bus.ConsumerSpec{Stream: bus.StreamTurns, Durable: "fake-agent", Filters: []string{"iga.turn.>"}},
		bus.Typed(func() *igav1.Turn { return &igav1.Turn{} }, func(ctx context.Context, m bus.Meta, turn *igav1.Turn) error {
			for i, text := range texts {
				r := &igav1.Reply{
					ReplyId: turn.GetTurnId() + "-r" + string(rune('0'+i)), ConversationId: turn.GetConversationId(),
					Channel: turn.GetChannel(), ChannelUserId: turn.GetChannelUserId(), PersonEmail: turn.GetPersonEmail(),
					InReplyTo: turn.GetTurnId(), Kind: igav1.ReplyKind_REPLY_KIND_QUESTION, Text: text,
				}
				if _, err := h.bus.Publish(ctx, intake.ReplySubject(turn.GetChannel(), turn.GetConversationId()), r,
					bus.CausedBy(m), bus.WithID(r.GetReplyId())); err != nil {
					return err
				}
			}
			return nil
		}))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(sub.Stop)
}
