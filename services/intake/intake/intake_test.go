package intake_test

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/intake/intake"
)

// publishRaw puts bytes on an intake subject the way any NATS client could.
func (h *harness) publishRaw(subject, contentType string, data []byte) {
	h.t.Helper()
	m := nats.NewMsg(subject)
	if contentType != "" {
		m.Header.Set("Content-Type", contentType)
	}
	m.Data = data
	if _, err := h.bus.JetStream().PublishMsg(h.ctx, m); err != nil {
		h.t.Fatal(err)
	}
}

func TestJSONMessageBecomesTurnForTheLinkedPerson(t *testing.T) {
	h := newHarness(t, intake.Config{})
	h.collectTurns()
	// Hand-written JSON, as a webhook or a script would send; the channel comes from the subject.
	h.publishRaw("iga.intake.slack", "application/json",
		[]byte(`{"channel_user_id":"U0DANA","message_id":"m-1","text":"I need to look at the payments dashboards"}`))

	got := next(t, h.turns, "turn")
	turn := got.body
	if turn.GetPersonEmail() != dana || turn.GetChannel() != "slack" || turn.GetChannelUserId() != "U0DANA" {
		t.Fatalf("turn = %v, want Dana on slack", turn)
	}
	if turn.GetText() != "I need to look at the payments dashboards" || turn.GetTurnId() != "turn-slack-m-1" || turn.GetMessageId() != "m-1" {
		t.Fatalf("turn = %v", turn)
	}
	wantConv := intake.ConversationID("slack", "U0DANA", "")
	if turn.GetConversationId() != wantConv || got.meta.Subject != intake.TurnSubject(wantConv) {
		t.Fatalf("turn on %s in conversation %q, want %s / %q", got.meta.Subject, turn.GetConversationId(), intake.TurnSubject(wantConv), wantConv)
	}
	if got.meta.ID != "turn-slack-m-1" {
		t.Fatalf("turn event id = %q, want the dedup id turn-slack-m-1", got.meta.ID)
	}
}

func TestProtobufMessageBecomesTurn(t *testing.T) {
	h := newHarness(t, intake.Config{})
	h.collectTurns()
	msg := &igav1.ChatMessage{Channel: "cli", ChannelUserId: "sam.patel@acme.example", ConversationId: "thread 1.2 *",
		Text: "need write on github"}
	if _, err := h.bus.Publish(h.ctx, intake.IntakeSubject("cli"), msg); err != nil {
		t.Fatal(err)
	}
	got := next(t, h.turns, "turn")
	if got.body.GetPersonEmail() != "sam.patel@acme.example" || got.body.GetChannel() != "cli" {
		t.Fatalf("turn = %v, want Sam on cli", got.body)
	}
	// A conversation id with dots, spaces and wildcards still makes one subject token.
	conv := got.body.GetConversationId()
	if conv != intake.Token("thread 1.2 *") || strings.ContainsAny(conv, ". *>") {
		t.Fatalf("conversation id %q is not the token-safe form", conv)
	}
	if got.meta.Subject != "iga.turn."+conv {
		t.Fatalf("turn subject %s", got.meta.Subject)
	}
}

func TestThreadlessMessagesOfOneUserShareAConversation(t *testing.T) {
	h := newHarness(t, intake.Config{})
	h.collectTurns()
	for _, text := range []string{"hi", "grafana please"} {
		if _, err := h.bus.Publish(h.ctx, "iga.intake.slack", &igav1.ChatMessage{ChannelUserId: "U0DANA", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := next(t, h.turns, "turn").body, next(t, h.turns, "turn").body
	if a.GetConversationId() != b.GetConversationId() || a.GetTurnId() == b.GetTurnId() {
		t.Fatalf("turns %v and %v: want one conversation, two turns", a, b)
	}
}

// refusal publishes msg and returns the ERROR reply it gets, checking no turn was made.
func refusal(t *testing.T, h *harness, subject string, publish func()) *igav1.Reply {
	t.Helper()
	publish()
	got := next(t, h.replies, "reply")
	if got.body.GetKind() != igav1.ReplyKind_REPLY_KIND_ERROR {
		t.Fatalf("reply kind = %v, want ERROR", got.body.GetKind())
	}
	if got.meta.Subject != intake.ReplySubject(got.body.GetChannel(), got.body.GetConversationId()) {
		t.Fatalf("reply on %s, want its conversation's reply subject", got.meta.Subject)
	}
	h.handled()
	if n := h.turnsPublished(); n != 0 {
		t.Fatalf("%d turns published for a refused message", n)
	}
	return got.body
}

func TestRefusedMessagesGetClearErrorRepliesAndNoTurn(t *testing.T) {
	// invalidUTF8 is a ChatMessage whose text is not UTF-8: Go's protobuf refuses to
	// encode it, so it is built from the wire format.
	var invalidUTF8 []byte
	invalidUTF8 = protowire.AppendTag(invalidUTF8, 2, protowire.BytesType)
	invalidUTF8 = protowire.AppendString(invalidUTF8, "U0DANA")
	invalidUTF8 = protowire.AppendTag(invalidUTF8, 5, protowire.BytesType)
	invalidUTF8 = protowire.AppendBytes(invalidUTF8, []byte("grafana \xff\xfe please"))

	cases := []struct {
		name     string
		data     []byte
		json     bool
		wantText string
		wantConv string
	}{
		{name: "unknown person", data: marshal(t, &igav1.ChatMessage{ChannelUserId: "U0NOBODY", Text: "grafana please", ConversationId: "c1"}),
			wantText: "I don't know who you are: nobody in the directory is linked to your slack account. Ask IT to link it", wantConv: "c1"},
		{name: "empty", data: marshal(t, &igav1.ChatMessage{ChannelUserId: "U0DANA", Text: "  \n "}),
			wantText: "Your message was empty — tell me what access you need, e.g. ", wantConv: intake.ConversationID("slack", "U0DANA", "")},
		{name: "100 KB", data: marshal(t, &igav1.ChatMessage{ChannelUserId: "U0DANA", Text: strings.Repeat("a", 100<<10)}),
			wantText: "Your message is too long (100 KB); keep it under 4 KB"},
		{name: "invalid UTF-8 protobuf", data: invalidUTF8, wantText: "not valid UTF-8"},
		{name: "invalid UTF-8 JSON", json: true, data: []byte("{\"channelUserId\":\"U0DANA\",\"text\":\"grafana \xff please\"}"),
			wantText: "not valid UTF-8"},
		{name: "person not active", data: marshal(t, &igav1.ChatMessage{ChannelUserId: "U0GONE", Text: "grafana please"}),
			wantText: `Your directory status is "terminated"`},
		{name: "no user", data: marshal(t, &igav1.ChatMessage{Text: "grafana please"}), wantText: "did not say who sent it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, intake.Config{})
			h.collectTurns()
			h.collectReplies()
			ct := "application/protobuf"
			if tc.json {
				ct = "application/json"
			}
			r := refusal(t, h, "iga.intake.slack", func() { h.publishRaw("iga.intake.slack", ct, tc.data) })
			if !strings.Contains(r.GetText(), tc.wantText) {
				t.Fatalf("reply %q does not say %q", r.GetText(), tc.wantText)
			}
			if r.GetChannel() != "slack" || r.GetInReplyTo() == "" {
				t.Fatalf("reply = %v", r)
			}
			if tc.wantConv != "" && r.GetConversationId() != tc.wantConv {
				t.Fatalf("reply in conversation %q, want %q", r.GetConversationId(), tc.wantConv)
			}
		})
	}
}

func marshal(t *testing.T, m *igav1.ChatMessage) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGarbageIsDeadLettered(t *testing.T) {
	for name, tc := range map[string]struct {
		ct   string
		data []byte
	}{
		"protobuf": {"", []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x01}},
		"json":     {"application/json", []byte(`{"text": "unterminated`)},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, intake.Config{})
			h.collectTurns()
			h.collectReplies()
			dead := collect(h, bus.StreamEvents, "iga.evt.intake-messages.failed", func() *igav1.DeadLetter { return &igav1.DeadLetter{} })
			h.publishRaw("iga.intake.web", tc.ct, tc.data)

			d := next(t, dead, "dead letter").body
			if d.GetConsumer() != intake.DurableMessages || d.GetSubject() != "iga.intake.web" ||
				!strings.Contains(d.GetReason(), "decode iga.v1.ChatMessage") || string(d.GetData()) != string(tc.data) {
				t.Fatalf("dead letter = %v", d)
			}
			h.handled()
			if n := h.turnsPublished(); n != 0 {
				t.Fatalf("%d turns from garbage", n)
			}
			select {
			case r := <-h.replies:
				t.Fatalf("garbage got a reply: %v", r.body)
			default:
			}
		})
	}
}

func TestDuplicateMessageIDMakesOneTurn(t *testing.T) {
	h := newHarness(t, intake.Config{})
	msg := &igav1.ChatMessage{ChannelUserId: "U0DANA", MessageId: "slack-msg-42", Text: "grafana please"}
	for range 3 { // a channel retrying: each publish is a new bus message with the same message id
		if _, err := h.bus.Publish(h.ctx, "iga.intake.slack", msg); err != nil {
			t.Fatal(err)
		}
	}
	h.handled()
	if n := h.turnsPublished(); n != 1 {
		t.Fatalf("%d turns for one message id, want 1", n)
	}
}

func TestOversizedLimitIsConfigurable(t *testing.T) {
	h := newHarness(t, intake.Config{MaxTextBytes: 10})
	h.collectReplies()
	r := refusal(t, h, "iga.intake.cli", func() {
		if _, err := h.bus.Publish(h.ctx, "iga.intake.cli", &igav1.ChatMessage{ChannelUserId: dana, Text: "grafana viewer for a week"}); err != nil {
			t.Fatal(err)
		}
	})
	if r.GetText() != "Your message is too long (25 bytes); keep it under 10 bytes." {
		t.Fatalf("reply = %q", r.GetText())
	}
}
