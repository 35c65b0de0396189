package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// TestBreakGlassReview drives an emergency through the public surface: chat in, access
// granted at once, the after-the-fact review in `iga approvals` for security, and a
// reviewer's rejection revoking the access at the SCIM target — or the review confirmed.
func TestBreakGlassReview(t *testing.T) {
	st := startTestStack(t)
	events := &eventLog{w: watchEvents(t, st)}
	// Priya is on call; Owen is in security; Michael is Priya's manager, whom the demo
	// policy's break_glass.review also asks.
	const priya, owen, michael = "priya.nair@acme.example", "owen.gallagher@acme.example", "michael.brandt@acme.example"
	const group = "aws-prod-admin"
	emergency := "Emergency: SEV1 payments outage INC-3001, I need aws prod admin for 1 hour to rotate the leaked credentials"

	reviewEvent := func(id string) func(bus.Msg) bool {
		return func(m bus.Msg) bool { return m.RequestID == id }
	}
	grantOf := func(t *testing.T, id string) *igav1.Grant {
		t.Helper()
		conn, err := (&globals{addr: st.GRPCAddr}).dial()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := igav1.NewEntitlementsServiceClient(conn).ListGrants(ctx, &igav1.ListGrantsRequest{PersonEmail: priya, IncludeInactive: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range resp.GetGrants() {
			if g.GetRequestId() == id {
				return g
			}
		}
		t.Fatalf("no grant for request %s in %v", id, resp.GetGrants())
		return nil
	}

	t.Run("granted at once, rejected in review, revoked at the target", func(t *testing.T) {
		conn, err := (&globals{addr: st.GRPCAddr}).dial()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		listening, stopListening := context.WithCancel(context.Background())
		defer stopListening()
		notices, err := igav1.NewIntakeServiceClient(conn).Notices(listening, &igav1.NoticesRequest{Channel: "cli", ChannelUserId: priya})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := notices.Header(); err != nil {
			t.Fatal(err)
		}

		id := askAndConfirm(t, st, priya, emergency)
		// Granted before anyone reviewed anything.
		events.waitFor(t, "iga.evt.grant.active", 30*time.Second, grantEventFor(id))
		waitMembership(t, st, group, priya, true, 10*time.Second)
		events.waitFor(t, "iga.evt.approval.review.requested", 30*time.Second, reviewEvent(id))

		// Security sees the review; it reads as a review, not an approval.
		out, err := run(t, st, "approvals", "--as", owen)
		if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "review pending") {
			t.Fatalf("approvals --as %s: %v\n%s", owen, err, out)
		}
		t.Logf("$ iga approvals --as %s\n%s", owen, out)
		// Priya can never review her own emergency, and does not see it as hers to decide.
		if out, err = run(t, st, "approvals", "--as", priya); err != nil || strings.Contains(out, id) {
			t.Fatalf("approvals --as %s: %v\n%s", priya, err, out)
		}
		if _, err = run(t, st, "approve", id, "--as", priya); err == nil || !strings.Contains(err.Error(), "someone else") {
			t.Fatalf("self-review: %v", err)
		}

		out, err = run(t, st, "deny", id, "--as", owen, "--reason", "no SEV1 on record for INC-3001")
		if err != nil || !strings.Contains(out, "rejected") {
			t.Fatalf("deny: %v\n%s", err, out)
		}
		t.Logf("$ iga deny %s --as %s --reason ...\n%s", id, owen, out)
		events.waitFor(t, "iga.evt.approval.review.decided", 30*time.Second, reviewEvent(id))
		events.waitFor(t, "iga.evt.grant.revoked", 30*time.Second, grantEventFor(id))
		waitMembership(t, st, group, priya, false, 10*time.Second)
		if g := grantOf(t, id); g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_REVOKED ||
			!strings.Contains(g.GetRevokeReason(), "break-glass review rejected by Owen Gallagher") {
			t.Fatalf("grant after rejection = %v", g)
		}
		// Priya is told, without asking: allowed, reviewed by whom, rejected, removed.
		var told []string
		for !slices.ContainsFunc(told, func(s string) bool { return strings.Contains(s, "was removed") }) {
			n, err := notices.Recv()
			if err != nil {
				t.Fatalf("notices so far %q: %v", told, err)
			}
			if n.GetReply().GetRequestId() == id {
				told = append(told, n.GetReply().GetText())
			}
		}
		t.Logf("notices to %s:\n%s", priya, strings.Join(told, "\n"))
		for _, want := range []string{"Allowed as an emergency", "reviewed after the fact by", "rejected in its after-the-fact review"} {
			if !slices.ContainsFunc(told, func(s string) bool { return strings.Contains(s, want) }) {
				t.Errorf("no notice saying %q in %q", want, told)
			}
		}
		if out, err = run(t, st, "events", "--last", "40", "--filter", "iga.evt.approval.review.>"); err != nil || !strings.Contains(out, "rejected") {
			t.Errorf("events: %v\n%s", err, out)
		}
		t.Logf("$ iga events --filter 'iga.evt.approval.review.>'\n%s", out)
	})

	t.Run("confirmed in review, the access stays", func(t *testing.T) {
		id := askAndConfirm(t, st, priya, emergency)
		events.waitFor(t, "iga.evt.grant.active", 30*time.Second, grantEventFor(id))
		waitMembership(t, st, group, priya, true, 10*time.Second)
		events.waitFor(t, "iga.evt.approval.review.requested", 30*time.Second, reviewEvent(id))
		out, err := run(t, st, "approve", id, "--as", owen)
		if err != nil || !strings.Contains(out, "review pending") {
			t.Fatalf("security confirms: %v\n%s (the manager has yet to)", err, out)
		}
		if out, err = run(t, st, "approve", id, "--as", michael); err != nil || !strings.Contains(out, "confirmed") {
			t.Fatalf("manager confirms: %v\n%s", err, out)
		}
		events.waitFor(t, "iga.evt.approval.review.decided", 30*time.Second, reviewEvent(id))
		if g := grantOf(t, id); g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE {
			t.Fatalf("grant after confirmation = %v", g)
		}
		if !slices.Contains(st.SCIM.Members(group), priya) {
			t.Fatal("the confirmed emergency access is gone from the target")
		}
		if out, err = run(t, st, "approvals", "--all"); err != nil || !strings.Contains(out, "confirmed") {
			t.Errorf("approvals --all: %v\n%s", err, out)
		}
	})
}

// eventLog keeps every event it has read, so events can be awaited in any order: a
// break-glass grant and its review are announced by two services at once.
type eventLog struct {
	w    *eventWatcher
	seen []bus.Msg
}

func (l *eventLog) waitFor(t *testing.T, subject string, within time.Duration, match func(bus.Msg) bool) bus.Msg {
	t.Helper()
	for _, m := range l.seen {
		if m.Subject == subject && match(m) {
			return m
		}
	}
	deadline := time.After(within)
	for {
		select {
		case m := <-l.w.ch:
			l.seen = append(l.seen, m)
			if m.Subject == subject && match(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s event within %s", subject, within)
		}
	}
}
