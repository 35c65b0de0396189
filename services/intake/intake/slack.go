package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// SlackChannel is the channel name of Slack users (their directory channel_ids key).
const SlackChannel = "slack"

// maxSlackBody bounds an Events API request body.
const maxSlackBody = 1 << 20

// slackAdapter is the Slack Events API adapter: signed event callbacks in, ChatMessages
// on the bus out; replies on iga.reply.slack.> posted back with the Web API.
//
// Subscribe the Slack app to message.im (direct messages) and app_mention (mentions in
// channels). A DM channel is one conversation; a mention starts (or continues) the
// conversation of its thread, and replies go to that thread.
type slackAdapter struct {
	s      *Service
	cfg    SlackConfig
	client *slack.Client
}

func newSlackAdapter(s *Service, cfg SlackConfig) *slackAdapter {
	a := &slackAdapter{s: s, cfg: cfg}
	if cfg.BotToken != "" {
		opts := []slack.Option{}
		if cfg.APIURL != "" {
			u := cfg.APIURL
			if !strings.HasSuffix(u, "/") {
				u += "/"
			}
			opts = append(opts, slack.OptionAPIURL(u))
		}
		a.client = slack.New(cfg.BotToken, opts...)
	}
	return a
}

// SlackConversationID is the conversation id of a Slack DM channel (thread empty) or of
// a thread in a channel; it is subject-token-safe and maps back to where to reply.
func SlackConversationID(channelID, threadTS string) string {
	if threadTS == "" {
		return "slack-" + channelID
	}
	return "slack-" + channelID + "-" + strings.ReplaceAll(threadTS, ".", "_")
}

var slackConversation = regexp.MustCompile(`^slack-([A-Z0-9]+)(?:-([0-9]+)_([0-9]+))?$`)

// parseSlackConversationID reverses SlackConversationID.
func parseSlackConversationID(id string) (channelID, threadTS string, ok bool) {
	m := slackConversation.FindStringSubmatch(id)
	if m == nil {
		return "", "", false
	}
	if m[2] != "" {
		threadTS = m[2] + "." + m[3]
	}
	return m[1], threadTS, true
}

var leadingMention = regexp.MustCompile(`^\s*<@[A-Z0-9]+>\s*`)

func (a *slackAdapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST Slack Events API callbacks here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSlackBody))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	if err := a.verify(r.Header, body); err != nil {
		a.s.log.Warn("slack request refused: bad signature", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "invalid Slack signature", http.StatusUnauthorized)
		return
	}
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		http.Error(w, "not a Slack Events API payload", http.StatusBadRequest)
		return
	}
	switch ev.Type {
	case slackevents.URLVerification:
		v, ok := ev.Data.(*slackevents.EventsAPIURLVerificationEvent)
		if !ok {
			http.Error(w, "malformed url_verification", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(slackevents.ChallengeResponse{Challenge: v.Challenge})
		return
	case slackevents.CallbackEvent:
		cb, _ := ev.Data.(*slackevents.EventsAPICallbackEvent)
		msg := a.chatMessage(ev.InnerEvent)
		if msg == nil || cb == nil {
			w.WriteHeader(http.StatusOK) // an event iga does not act on
			return
		}
		// Slack retries a callback it got no timely 200 for, with the same event id.
		if _, err := a.s.env.Bus.Publish(r.Context(), IntakeSubject(SlackChannel), msg, bus.WithID("slack-"+cb.EventID)); err != nil {
			a.s.log.Error("slack message not queued; Slack will retry", "err", err)
			http.Error(w, "could not queue the message", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// verify checks the v0 signature (HMAC-SHA256 of "v0:<timestamp>:<body>" with the
// signing secret) and that the timestamp is within five minutes.
func (a *slackAdapter) verify(h http.Header, body []byte) error {
	sv, err := slack.NewSecretsVerifier(h, a.cfg.SigningSecret)
	if err != nil {
		return err
	}
	if _, err := sv.Write(body); err != nil {
		return err
	}
	return sv.Ensure()
}

// chatMessage maps a DM or a mention to a ChatMessage; nil for anything else (bots,
// edits, joins, channel chatter).
func (a *slackAdapter) chatMessage(inner slackevents.EventsAPIInnerEvent) *igav1.ChatMessage {
	switch e := inner.Data.(type) {
	case *slackevents.MessageEvent:
		if e.BotID != "" || e.SubType != "" || e.User == "" || e.ChannelType != "im" {
			return nil
		}
		return &igav1.ChatMessage{
			Channel: SlackChannel, ChannelUserId: e.User, ConversationId: SlackConversationID(e.Channel, ""),
			MessageId: e.Channel + "-" + e.TimeStamp, Text: e.Text, SentAt: timestamppb.Now(),
		}
	case *slackevents.AppMentionEvent:
		if e.BotID != "" || e.User == "" {
			return nil
		}
		thread := e.ThreadTimeStamp
		if thread == "" {
			thread = e.TimeStamp
		}
		return &igav1.ChatMessage{
			Channel: SlackChannel, ChannelUserId: e.User, ConversationId: SlackConversationID(e.Channel, thread),
			MessageId: e.Channel + "-" + e.TimeStamp, Text: leadingMention.ReplaceAllString(e.Text, ""), SentAt: timestamppb.Now(),
		}
	}
	return nil
}

// postReply posts a reply to its Slack conversation (its DM, or its thread).
func (a *slackAdapter) postReply(ctx context.Context, _ bus.Meta, r *igav1.Reply) error {
	channelID, thread, ok := parseSlackConversationID(r.GetConversationId())
	if !ok {
		// Not a conversation Slack started (a notification): write to the user directly.
		if r.GetChannelUserId() == "" {
			a.s.log.Warn("slack reply dropped: no Slack conversation or user to post to", "conversation", r.GetConversationId(), "reply", r.GetReplyId())
			return nil
		}
		channelID = r.GetChannelUserId()
	}
	opts := []slack.MsgOption{slack.MsgOptionText(slackText(r), false)}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	if _, _, err := a.client.PostMessageContext(ctx, channelID, opts...); err != nil {
		var rl *slack.RateLimitedError
		if errors.As(err, &rl) {
			return fmt.Errorf("post reply %s: rate limited, retry after %s", r.GetReplyId(), rl.RetryAfter)
		}
		return fmt.Errorf("post reply %s to Slack: %w", r.GetReplyId(), err)
	}
	return nil
}

// slackText renders a reply; options become a list the user can answer with.
func slackText(r *igav1.Reply) string {
	var b strings.Builder
	if r.GetKind() == igav1.ReplyKind_REPLY_KIND_ERROR {
		b.WriteString(":warning: ")
	}
	b.WriteString(r.GetText())
	for _, o := range r.GetOptions() {
		fmt.Fprintf(&b, "\n• %s", o.GetLabel())
		if o.GetValue() != "" && o.GetValue() != o.GetLabel() {
			fmt.Fprintf(&b, " (reply `%s`)", o.GetValue())
		}
	}
	return b.String()
}
