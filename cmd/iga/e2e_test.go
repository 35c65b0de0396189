package main

import (
	"context"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/redistest"
)

// repoDir is the repository root, for deploy/demo.
func repoDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// startTestStack runs `iga dev` in-process on free ports with a real Redis.
func startTestStack(t *testing.T) *devStack {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := startDev(ctx, devConfig{
		Host: "127.0.0.1", DataDir: t.TempDir(), SCIMToken: "test-token",
		DemoDir: filepath.Join(repoDir(t), "deploy", "demo"), LogLevel: "warn", LogFormat: "text",
		Redis: rdb, RedisPrefix: prefix,
	}, io.Discard)
	if err != nil {
		t.Fatalf("start the stack: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

// eventWatcher collects the bus's events from a consumer of its own, as an ITSM bridge would.
type eventWatcher struct {
	ch chan bus.Msg
}

func watchEvents(t *testing.T, st *devStack) *eventWatcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: st.NATSURL, Name: "iga/e2e-watcher"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	w := &eventWatcher{ch: make(chan bus.Msg, 1000)}
	sub, err := b.Consume(ctx, bus.ConsumerSpec{Stream: bus.StreamEvents, Durable: "e2e-watcher", Filters: []string{"iga.evt.>"}},
		func(_ context.Context, m bus.Msg) error { w.ch <- m; return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
	return w
}

// waitFor returns the first event on subject for which match says yes.
func (w *eventWatcher) waitFor(t *testing.T, subject string, within time.Duration, match func(bus.Msg) bool) bus.Msg {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-w.ch:
			if m.Subject == subject && match(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s event within %s", subject, within)
		}
	}
}

// chat sends one message as a person and returns the agent's replies.
func chat(t *testing.T, st *devStack, as, text, option string) []*igav1.Reply {
	t.Helper()
	conn, err := (&globals{addr: st.GRPCAddr}).dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := igav1.NewIntakeServiceClient(conn).Chat(ctx, &igav1.ChatRequest{
		Message: &igav1.ChatMessage{Channel: "cli", ChannelUserId: as, MessageId: bus.NewID(), Text: text, OptionValue: option},
		Timeout: durationpb.New(20 * time.Second),
	})
	if err != nil {
		t.Fatalf("chat %q as %s: %v", text, as, err)
	}
	for _, r := range resp.GetReplies() {
		t.Logf("%s> %s\niga> %s %v", as, text+option, r.GetText(), r.GetOptions())
	}
	return resp.GetReplies()
}

// askAndConfirm asks for access and confirms the agent's proposal; it returns the
// request id of the submitted request.
func askAndConfirm(t *testing.T, st *devStack, as, text string) string {
	t.Helper()
	replies := chat(t, st, as, text, "")
	for range 4 {
		last := replies[len(replies)-1]
		if id := last.GetRequestId(); id != "" && last.GetKind() == igav1.ReplyKind_REPLY_KIND_SUBMITTED {
			return id
		}
		switch last.GetKind() {
		case igav1.ReplyKind_REPLY_KIND_PROPOSAL, igav1.ReplyKind_REPLY_KIND_QUESTION:
			opt := pickOption(last.GetOptions())
			if opt == nil {
				t.Fatalf("the agent asked %q with no options", last.GetText())
			}
			replies = chat(t, st, as, opt.GetLabel(), opt.GetValue())
		default:
			t.Fatalf("unexpected reply %v: %q", last.GetKind(), last.GetText())
		}
	}
	t.Fatalf("no request was submitted; last reply %q", replies[len(replies)-1].GetText())
	return ""
}

func grantEventFor(requestID string) func(bus.Msg) bool {
	return func(m bus.Msg) bool {
		g := &igav1.GrantChanged{}
		return bus.Decode(m.Headers, m.Data, g) == nil && g.GetGrant().GetRequestId() == requestID
	}
}

func waitMembership(t *testing.T, st *devStack, group, email string, want bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if slices.Contains(st.SCIM.Members(group), email) == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("SCIM group %s membership of %s never became %v (members %v)", group, email, want, st.SCIM.Members(group))
}

// TestEndToEnd drives the whole loop through the public surface only: chat in, the
// approval API, the SCIM target and the event bus.
func TestEndToEnd(t *testing.T) {
	st := startTestStack(t)
	events := watchEvents(t, st)

	t.Run("auto-approved access lands in SCIM and is revoked when it expires", func(t *testing.T) {
		const dana = "dana.reyes@acme.example"
		id := askAndConfirm(t, st, dana, "I need to look at the payments dashboards for the audit, for 5 seconds")
		events.waitFor(t, "iga.evt.grant.active", 30*time.Second, grantEventFor(id))
		waitMembership(t, st, "grafana-payments-viewer", dana, true, 10*time.Second)
		events.waitFor(t, "iga.evt.grant.revoked", 30*time.Second, grantEventFor(id))
		waitMembership(t, st, "grafana-payments-viewer", dana, false, 10*time.Second)
	})

	t.Run("manager approval: self-approval refused, the manager approves, access expires", func(t *testing.T) {
		const sam, priya = "sam.patel@acme.example", "priya.nair@acme.example"
		id := askAndConfirm(t, st, sam, "I need read access to snowflake for 5 seconds")
		events.waitFor(t, "iga.evt.approval.requested", 30*time.Second, func(m bus.Msg) bool { return m.RequestID == id })
		conn, err := (&globals{addr: st.GRPCAddr}).dial()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		approvals := igav1.NewApprovalServiceClient(conn)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Sam listens for what happens to the request, as the chat channels do: a stream
		// with no deadline, as a person's session has none.
		listening, stopListening := context.WithCancel(context.Background())
		defer stopListening()
		notices, err := igav1.NewIntakeServiceClient(conn).Notices(listening, &igav1.NoticesRequest{Channel: "cli", ChannelUserId: sam})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := notices.Header(); err != nil {
			t.Fatal(err)
		}
		list, err := approvals.ListApprovals(ctx, &igav1.ListApprovalsRequest{ApproverEmail: priya,
			Statuses: []igav1.ApprovalStatus{igav1.ApprovalStatus_APPROVAL_STATUS_PENDING}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(list.GetApprovals(), func(a *igav1.Approval) bool { return a.GetRequestId() == id }) {
			t.Fatalf("priya's approvals %v lack request %s", list.GetApprovals(), id)
		}
		_, err = approvals.Decide(ctx, &igav1.DecideRequest{ApprovalId: id, ApproverEmail: sam, Approve: true})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("self-approval: %v, want PermissionDenied", err)
		}
		if slices.Contains(st.SCIM.Members("snowflake-analyst"), sam) {
			t.Fatal("access granted before approval")
		}
		if _, err := approvals.Decide(ctx, &igav1.DecideRequest{ApprovalId: id, ApproverEmail: priya, Approve: true, Reason: "audit"}); err != nil {
			t.Fatalf("manager approval: %v", err)
		}
		events.waitFor(t, "iga.evt.grant.active", 30*time.Second, grantEventFor(id))
		waitMembership(t, st, "snowflake-analyst", sam, true, 10*time.Second)
		// Sam is told, without asking, that the access was approved and granted.
		var told []string
		for !slices.ContainsFunc(told, func(s string) bool { return strings.Contains(strings.ToLower(s), "granted") }) {
			n, err := notices.Recv()
			if err != nil {
				t.Fatalf("notices so far %q: %v", told, err)
			}
			if n.GetReply().GetRequestId() == id {
				told = append(told, n.GetReply().GetText())
			}
		}
		events.waitFor(t, "iga.evt.grant.revoked", 30*time.Second, grantEventFor(id))
		waitMembership(t, st, "snowflake-analyst", sam, false, 10*time.Second)
	})
}
