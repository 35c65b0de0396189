package intake_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/intake/intake"
)

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// fakeSlack is Slack's Web API as far as replies go: it records chat.postMessage calls.
type fakeSlack struct {
	srv   *httptest.Server
	posts chan map[string]string
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{posts: make(chan map[string]string, 20)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/chat.postMessage" {
			http.Error(w, `{"ok":false,"error":"unknown_method"}`, http.StatusNotFound)
			return
		}
		if err := r.ParseForm(); err != nil {
			t.Errorf("fake slack: %v", err)
		}
		if got := r.Form.Get("token"); got != "xoxb-test" && r.Header.Get("Authorization") != "Bearer xoxb-test" {
			t.Errorf("fake slack: no bot token (form token %q)", got)
		}
		f.posts <- map[string]string{"channel": r.Form.Get("channel"), "text": r.Form.Get("text"), "thread_ts": r.Form.Get("thread_ts")}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":"1700000099.000100"}`, r.Form.Get("channel"))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func slackConfig(api *fakeSlack) intake.Config {
	return intake.Config{Slack: intake.SlackConfig{SigningSecret: signingSecret, BotToken: "xoxb-test", APIURL: api.srv.URL + "/api/"}}
}

// signed is an Events API request signed the way Slack does: v0, HMAC-SHA256 of
// "v0:<timestamp>:<body>" with the signing secret.
func signed(secret string, ts time.Time, body string) *http.Request {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + stamp + ":" + body))
	req := httptest.NewRequest(http.MethodPost, intake.SlackEventsPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Slack-Request-Timestamp", stamp)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return req
}

// deliver posts an Events API payload to the handler, signed with secret at time ts.
func deliver(h *harness, secret string, ts time.Time, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	rec := httptest.NewRecorder()
	h.svc.SlackHandler().ServeHTTP(rec, signed(secret, ts, body))
	return rec
}

func callback(eventID, event string) string {
	return `{"token":"t","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"` + eventID +
		`","event_time":1700000000,"event":` + event + `}`
}

func dm(user, text string) string {
	return `{"type":"message","channel":"D0DANA","channel_type":"im","user":"` + user + `","text":"` + text + `","ts":"1700000000.000100","event_ts":"1700000000.000100"}`
}

func (h *harness) intakePublished() uint64 {
	h.t.Helper()
	st, err := h.bus.JetStream().Stream(h.ctx, bus.StreamIntake)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.LastSeq
}

func TestSlackURLVerification(t *testing.T) {
	h := newHarness(t, slackConfig(newFakeSlack(t)))
	rec := deliver(h, signingSecret, time.Now(), `{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	var got struct{ Challenge string }
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got.Challenge != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("url_verification = %d %s", rec.Code, rec.Body)
	}
}

func TestSlackRefusesForgedAndReplayedRequests(t *testing.T) {
	h := newHarness(t, slackConfig(newFakeSlack(t)))
	body := callback("Ev1", dm("U0DANA", "give me grafana admin"))
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"wrong secret": deliver(h, "not-the-secret", time.Now(), body),
		"replayed":     deliver(h, signingSecret, time.Now().Add(-10*time.Minute), body),
	} {
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, rec.Code)
		}
	}
	unsigned := httptest.NewRequest(http.MethodPost, "/slack/events", strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.svc.SlackHandler().ServeHTTP(rec, unsigned)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("unsigned: status %d, want 401", rec.Code)
	}
	if n := h.intakePublished(); n != 0 {
		t.Fatalf("%d messages published from refused requests", n)
	}
}

func TestSlackDirectMessageRoundTrip(t *testing.T) {
	api := newFakeSlack(t)
	h := newHarness(t, slackConfig(api))
	h.fakeAgent("Which Grafana access do you need: payments-viewer or payments-editor?")

	body := callback("Ev100", dm("U0DANA", "I need to look at the payments dashboards"))
	for range 2 { // Slack retries a callback with the same event id
		if rec := deliver(h, signingSecret, time.Now(), body); rec.Code != http.StatusOK {
			t.Fatalf("event callback: %d %s", rec.Code, rec.Body)
		}
	}
	post := next(t, api.posts, "post to Slack")
	if post["channel"] != "D0DANA" || post["thread_ts"] != "" || !strings.Contains(post["text"], "payments-viewer or payments-editor") {
		t.Fatalf("posted %v, want the agent's question in Dana's DM", post)
	}
	h.handled()
	if n := h.turnsPublished(); n != 1 {
		t.Fatalf("%d turns for one Slack message delivered twice", n)
	}
}

func TestSlackMentionIsAnsweredInItsThread(t *testing.T) {
	api := newFakeSlack(t)
	h := newHarness(t, slackConfig(api))
	h.collectTurns()
	mention := `{"type":"app_mention","channel":"C0FIN","user":"U0DANA","text":"<@U0IGA> snowflake analyst please","ts":"1700000000.000300","event_ts":"1700000000.000300"}`
	if rec := deliver(h, signingSecret, time.Now(), callback("Ev200", mention)); rec.Code != http.StatusOK {
		t.Fatalf("event callback: %d", rec.Code)
	}
	turn := next(t, h.turns, "turn").body
	if turn.GetText() != "snowflake analyst please" || turn.GetPersonEmail() != dana ||
		turn.GetConversationId() != intake.SlackConversationID("C0FIN", "1700000000.000300") {
		t.Fatalf("turn = %v", turn)
	}
	// Whoever answers the conversation (the agent, approval, the provisioner) reaches the thread.
	r := &igav1.Reply{ReplyId: "r-1", ConversationId: turn.GetConversationId(), Channel: "slack", InReplyTo: turn.GetTurnId(),
		Kind: igav1.ReplyKind_REPLY_KIND_QUESTION, Text: "For how long?",
		Options: []*igav1.ReplyOption{{Label: "1 week", Value: "7d"}, {Label: "2 weeks", Value: "14d"}}}
	if _, err := h.bus.Publish(h.ctx, intake.ReplySubject("slack", turn.GetConversationId()), r); err != nil {
		t.Fatal(err)
	}
	post := next(t, api.posts, "post to Slack")
	if post["channel"] != "C0FIN" || post["thread_ts"] != "1700000000.000300" ||
		!strings.Contains(post["text"], "For how long?") || !strings.Contains(post["text"], "2 weeks (reply `14d`)") {
		t.Fatalf("posted %v, want the question with its options in the mention's thread", post)
	}
}

func TestSlackUnknownUserIsToldWhy(t *testing.T) {
	api := newFakeSlack(t)
	h := newHarness(t, slackConfig(api))
	if rec := deliver(h, signingSecret, time.Now(), callback("Ev300", dm("U0NOBODY", "grafana please"))); rec.Code != http.StatusOK {
		t.Fatalf("event callback: %d", rec.Code)
	}
	post := next(t, api.posts, "post to Slack")
	if post["channel"] != "D0DANA" || !strings.Contains(post["text"], "I don't know who you are: nobody in the directory is linked to your slack account. Ask IT to link it") {
		t.Fatalf("posted %v", post)
	}
	h.handled()
	if n := h.turnsPublished(); n != 0 {
		t.Fatalf("%d turns for an unknown Slack user", n)
	}
}

func TestSlackIgnoresBotsAndEdits(t *testing.T) {
	h := newHarness(t, slackConfig(newFakeSlack(t)))
	for i, ev := range []string{
		`{"type":"message","channel":"D0DANA","channel_type":"im","bot_id":"B1","user":"U0IGA","text":"echo","ts":"1.1"}`,
		`{"type":"message","subtype":"message_changed","channel":"D0DANA","channel_type":"im","ts":"1.2"}`,
		`{"type":"message","channel":"C0FIN","channel_type":"channel","user":"U0DANA","text":"lunch?","ts":"1.3"}`,
	} {
		if rec := deliver(h, signingSecret, time.Now(), callback(fmt.Sprintf("Ev4%d", i), ev)); rec.Code != http.StatusOK {
			t.Fatalf("event %d: %d", i, rec.Code)
		}
	}
	if n := h.intakePublished(); n != 0 {
		t.Fatalf("%d messages published for events iga does not act on", n)
	}
}

func TestSlackHandlerWithoutSecretSaysSo(t *testing.T) {
	h := newHarness(t, intake.Config{})
	rec := deliver(h, signingSecret, time.Now(), callback("Ev5", dm("U0DANA", "hi")))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "slack-signing-secret") {
		t.Fatalf("unconfigured adapter: %d %s", rec.Code, rec.Body)
	}
}

func TestSlackEventsAreServedOnTheHTTPMux(t *testing.T) {
	h := newHarness(t, slackConfig(newFakeSlack(t)))
	mux := http.NewServeMux()
	h.svc.RegisterHTTP(mux)
	req := signed(signingSecret, time.Now(), `{"token":"t","challenge":"c-123","type":"url_verification"}`)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "c-123") {
		t.Fatalf("POST %s = %d %s", intake.SlackEventsPath, rec.Code, rec.Body)
	}
}
