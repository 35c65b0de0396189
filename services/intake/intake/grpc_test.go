package intake_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/intake/intake"
)

func TestChatRoundTripWithTheAgent(t *testing.T) {
	h := newHarness(t, intake.Config{ChatGrace: 2 * time.Second})
	h.fakeAgent("Which Grafana access do you need?", "Options: payments-viewer or payments-editor.")
	client := igav1.NewIntakeServiceClient(h.grpcClient())

	resp, err := client.Chat(h.ctx, &igav1.ChatRequest{Message: &igav1.ChatMessage{
		Channel: "cli", ChannelUserId: dana, Text: "I need grafana",
	}})
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if len(resp.GetReplies()) != 2 || resp.GetReplies()[0].GetText() != "Which Grafana access do you need?" {
		t.Fatalf("replies = %v, want both answers of the agent", resp.GetReplies())
	}
	for _, r := range resp.GetReplies() {
		if r.GetConversationId() != resp.GetConversationId() || r.GetPersonEmail() != dana || r.GetInReplyTo() == "" {
			t.Fatalf("reply %v does not answer this turn of Dana's conversation %q", r, resp.GetConversationId())
		}
	}

	// The next message in the same conversation gets its own answer, not the old one.
	resp2, err := client.Chat(h.ctx, &igav1.ChatRequest{Message: &igav1.ChatMessage{
		Channel: "cli", ChannelUserId: dana, ConversationId: resp.GetConversationId(), OptionValue: "grafana:payments-viewer",
	}})
	if err != nil {
		t.Fatalf("second Chat: %v", err)
	}
	if resp2.GetConversationId() != resp.GetConversationId() || resp2.GetReplies()[0].GetInReplyTo() == resp.GetReplies()[0].GetInReplyTo() {
		t.Fatalf("second turn answered with %v", resp2.GetReplies())
	}
}

func TestChatWithoutAgentTimesOutClearly(t *testing.T) {
	h := newHarness(t, intake.Config{})
	client := igav1.NewIntakeServiceClient(h.grpcClient())
	_, err := client.Chat(h.ctx, &igav1.ChatRequest{
		Message: &igav1.ChatMessage{Channel: "cli", ChannelUserId: dana, Text: "hello"},
		Timeout: durationpb.New(time.Second),
	})
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "the agent did not answer in 1s; is the agent service running?") {
		t.Fatalf("err = %v, want DeadlineExceeded naming the agent", err)
	}
}

func TestSendAndItsRefusals(t *testing.T) {
	h := newHarness(t, intake.Config{})
	h.collectTurns()
	client := igav1.NewIntakeServiceClient(h.grpcClient())

	resp, err := client.Send(h.ctx, &igav1.SendRequest{Message: &igav1.ChatMessage{Channel: "web", ChannelUserId: dana, MessageId: "w-1", Text: "snowflake analyst for 2 weeks"}})
	if err != nil {
		t.Fatal(err)
	}
	turn := next(t, h.turns, "turn").body
	if resp.GetTurnId() != turn.GetTurnId() || resp.GetConversationId() != turn.GetConversationId() || turn.GetPersonEmail() != dana {
		t.Fatalf("Send = %v, turn = %v", resp, turn)
	}

	for _, tc := range []struct {
		msg  *igav1.ChatMessage
		code codes.Code
		text string
	}{
		{&igav1.ChatMessage{Channel: "slack", ChannelUserId: "U0NOBODY", Text: "hi"}, codes.NotFound, "I don't know who you are: nobody in the directory is linked to your slack account. Ask IT to link it"},
		{&igav1.ChatMessage{Channel: "web", ChannelUserId: dana}, codes.InvalidArgument, "Your message was empty"},
		{&igav1.ChatMessage{Channel: "web", ChannelUserId: dana, Text: strings.Repeat("x", 100<<10)}, codes.InvalidArgument, "Your message is too long (100 KB); keep it under 4 KB"},
		{&igav1.ChatMessage{Channel: "slack", ChannelUserId: "U0GONE", Text: "hi"}, codes.PermissionDenied, "terminated"},
		{&igav1.ChatMessage{Channel: "Web Chat", ChannelUserId: dana, Text: "hi"}, codes.InvalidArgument, "channel name"},
		{nil, codes.InvalidArgument, "message is required"},
	} {
		_, err := client.Send(h.ctx, &igav1.SendRequest{Message: tc.msg})
		if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.text) {
			t.Errorf("Send(%v) = %v, want %s %q", tc.msg, err, tc.code, tc.text)
		}
		_, err = client.Chat(h.ctx, &igav1.ChatRequest{Message: tc.msg})
		if status.Code(err) != tc.code {
			t.Errorf("Chat(%v) = %v, want %s", tc.msg, err, tc.code)
		}
	}
	if n := h.turnsPublished(); n != 1 {
		t.Fatalf("%d turns published, want only the accepted one", n)
	}
}

func TestWatchReturnsPublishedEvents(t *testing.T) {
	h := newHarness(t, intake.Config{})
	client := igav1.NewEventsServiceClient(h.grpcClient())
	grant := &igav1.Grant{Id: "g-1", PersonEmail: dana, EntitlementId: "grafana:payments-viewer", Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE}
	if _, err := h.bus.Publish(h.ctx, "iga.evt.request.submitted", &igav1.RequestSubmitted{Request: &igav1.AccessRequest{Id: "r-1"}}, bus.WithRequestID("r-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.bus.Publish(h.ctx, "iga.evt.grant.active", &igav1.GrantChanged{Grant: grant}, bus.WithRequestID("r-1"), bus.WithID("ev-grant-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.bus.Publish(h.ctx, "iga.evt.grant.revoked", &igav1.GrantChanged{Grant: grant}, bus.AsJSON()); err != nil {
		t.Fatal(err)
	}

	all := watch(t, client, &igav1.WatchRequest{})
	if len(all) != 3 || all[0].GetSubject() != "iga.evt.request.submitted" || all[2].GetSequence() != 3 {
		t.Fatalf("history = %v", all)
	}
	grants := watch(t, client, &igav1.WatchRequest{SubjectFilter: "iga.evt.grant.>", Last: 10})
	if len(grants) != 2 {
		t.Fatalf("grant events = %d, want 2", len(grants))
	}
	e := grants[0]
	if e.GetId() != "ev-grant-1" || e.GetType() != "iga.grant.active" || e.GetRequestId() != "r-1" || e.GetSource() != "iga/test" || e.GetTime() == nil {
		t.Fatalf("envelope = %v", e)
	}
	for _, e := range grants { // protobuf and JSON bodies both come back as a typed Any
		var g igav1.GrantChanged
		if err := e.GetData().UnmarshalTo(&g); err != nil || g.GetGrant().GetId() != "g-1" {
			t.Fatalf("event %s body: %v %v", e.GetSubject(), &g, err)
		}
	}
	if last := watch(t, client, &igav1.WatchRequest{Last: 1}); len(last) != 1 || last[0].GetSubject() != "iga.evt.grant.revoked" {
		t.Fatalf("last 1 = %v", last)
	}
	if none := watch(t, client, &igav1.WatchRequest{SubjectFilter: "iga.evt.approval.>"}); len(none) != 0 {
		t.Fatalf("approval events = %v, want none", none)
	}
	if bad, err := client.Watch(h.ctx, &igav1.WatchRequest{SubjectFilter: "iga.cmd.>"}); err == nil {
		if _, err := bad.Recv(); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("a filter outside the event history: %v, want InvalidArgument", err)
		}
	}

	// Following: the stream keeps delivering new events.
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	st, err := client.Watch(ctx, &igav1.WatchRequest{Follow: true, Last: 1, SubjectFilter: "iga.evt.grant.>"})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := st.Recv(); err != nil || ev.GetEvent().GetSubject() != "iga.evt.grant.revoked" {
		t.Fatalf("first followed event = %v, %v", ev, err)
	}
	if _, err := h.bus.Publish(h.ctx, "iga.evt.grant.active", &igav1.GrantChanged{Grant: grant}, bus.WithID("ev-new")); err != nil {
		t.Fatal(err)
	}
	if ev, err := st.Recv(); err != nil || ev.GetEvent().GetId() != "ev-new" {
		t.Fatalf("followed new event = %v, %v", ev, err)
	}
}

func watch(t *testing.T, client igav1.EventsServiceClient, req *igav1.WatchRequest) []*igav1.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := client.Watch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var out []*igav1.Envelope
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("watch %v: %v", req, err)
		}
		out = append(out, ev.GetEvent())
	}
}

func TestDirectory(t *testing.T) {
	h := newHarness(t, intake.Config{})
	client := igav1.NewDirectoryServiceClient(h.grpcClient())
	p, err := client.GetPerson(h.ctx, &igav1.GetPersonRequest{Email: "Dana.Reyes@acme.example"})
	if err != nil || p.GetPerson().GetTitle() != "Financial Analyst" {
		t.Fatalf("GetPerson = %v, %v", p, err)
	}
	if _, err := client.GetPerson(h.ctx, &igav1.GetPersonRequest{Email: "nobody@acme.example"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown person: %v", err)
	}
	ents, err := client.ListEntitlements(h.ctx, &igav1.ListEntitlementsRequest{AppId: "grafana"})
	if err != nil || len(ents.GetEntitlements()) != 2 || len(ents.GetApps()) != 1 || ents.GetEntitlements()[0].GetId() != "grafana:admin" {
		t.Fatalf("grafana entitlements = %v, %v", ents, err)
	}
	all, err := client.ListEntitlements(h.ctx, &igav1.ListEntitlementsRequest{})
	if err != nil || len(all.GetEntitlements()) != 3 || len(all.GetApps()) != 2 {
		t.Fatalf("all entitlements = %v, %v", all, err)
	}
	if _, err := client.ListEntitlements(h.ctx, &igav1.ListEntitlementsRequest{AppId: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown app: %v", err)
	}
}
