// Package intake is where chat enters iga: it takes messages from channels (the bus,
// gRPC, Slack), checks them, maps the channel user to a directory person, and hands the
// agent one Turn per message. It also serves the read-only gRPC APIs chat clients use
// alongside: the event history and the directory.
package intake

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
)

// Durable consumer names, shared by every replica.
const (
	DurableMessages     = "intake-messages"
	DurableSlackReplies = "intake-slack-replies"
)

// Config tunes intake.
type Config struct {
	// MaxTextBytes bounds a message's text (plus option value); longer ones get an ERROR
	// reply. The stream itself takes messages up to the server's max payload (1 MB).
	MaxTextBytes int
	// Workers is how many channel messages are handled at once. With more than one, two
	// messages of one conversation arriving within milliseconds may become turns in
	// either order (people do not type that fast; scripts should wait for the reply).
	Workers int
	// ChatTimeout is how long Chat waits for the agent when the caller gives no timeout.
	ChatTimeout time.Duration
	// ChatGrace is how long Chat keeps collecting after a reply, for agents that answer
	// one turn with several replies.
	ChatGrace time.Duration

	Slack SlackConfig
}

// SlackConfig enables the Slack Events API adapter (see SlackHandler).
type SlackConfig struct {
	// SigningSecret verifies requests from Slack; empty disables the adapter.
	SigningSecret string
	// BotToken posts replies back; empty means replies are not relayed to Slack.
	BotToken string
	// APIURL is Slack's Web API base URL ("https://slack.com/api/"); tests point it at a fake.
	APIURL string
}

// Flags registers the configuration flags with their defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.IntVar(&c.MaxTextBytes, "max-text-bytes", 4096, "longest message text accepted, in bytes")
	fs.IntVar(&c.Workers, "workers", 8, "channel messages handled at once")
	fs.DurationVar(&c.ChatTimeout, "chat-timeout", 10*time.Second, "how long Chat waits for the agent's reply by default")
	fs.DurationVar(&c.ChatGrace, "chat-grace", 500*time.Millisecond, "how long Chat keeps collecting replies after one arrives")
	fs.StringVar(&c.Slack.SigningSecret, "slack-signing-secret", "", "Slack app signing secret; enables the Slack Events API adapter")
	fs.StringVar(&c.Slack.BotToken, "slack-bot-token", "", "Slack bot token (xoxb-...) used to post replies")
	fs.StringVar(&c.Slack.APIURL, "slack-api-url", "https://slack.com/api/", "Slack Web API base URL")
}

func (c Config) withDefaults() Config {
	if c.MaxTextBytes <= 0 {
		c.MaxTextBytes = 4096
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.ChatTimeout <= 0 {
		c.ChatTimeout = 10 * time.Second
	}
	if c.ChatGrace <= 0 {
		c.ChatGrace = 500 * time.Millisecond
	}
	return c
}

// Service is the intake component.
type Service struct {
	env   svc.Env
	cfg   Config
	log   *slog.Logger
	slack *slackAdapter

	mu   sync.Mutex
	subs []*bus.Subscription
}

var (
	_ svc.Component   = (*Service)(nil)
	_ svc.GRPCService = (*Service)(nil)
)

// New builds the service; Start begins consuming. It opens no ports: RegisterGRPC and
// SlackHandler hand the runtime what to serve.
func New(env svc.Env, cfg Config) (*Service, error) {
	if env.Bus == nil {
		return nil, errors.New("intake: no bus")
	}
	if env.Log == nil {
		env.Log = slog.Default()
	}
	s := &Service{env: env, cfg: cfg.withDefaults(), log: env.Log}
	if s.cfg.Slack.SigningSecret != "" {
		s.slack = newSlackAdapter(s, s.cfg.Slack)
	}
	return s, nil
}

// Start consumes channel messages (and Slack replies when the adapter posts them).
func (s *Service) Start(ctx context.Context) error {
	sub, err := s.env.Bus.Consume(ctx, bus.ConsumerSpec{
		Stream: bus.StreamIntake, Durable: DurableMessages, Filters: []string{intakePrefix + ">"},
		Workers: s.cfg.Workers,
	}, s.handleMessage)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	if s.slack != nil && s.cfg.Slack.BotToken != "" {
		rsub, err := s.env.Bus.Consume(ctx, bus.ConsumerSpec{
			Stream: bus.StreamReplies, Durable: DurableSlackReplies, Filters: []string{replyPrefix + "slack.>"},
			DeliverNew: true,
		}, bus.Typed(func() *igav1.Reply { return &igav1.Reply{} }, s.slack.postReply))
		if err != nil {
			s.Stop()
			return err
		}
		s.mu.Lock()
		s.subs = append(s.subs, rsub)
		s.mu.Unlock()
	}
	return nil
}

// Stop stops consuming and waits for in-flight messages.
func (s *Service) Stop() {
	s.mu.Lock()
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	for _, sub := range subs {
		sub.Stop()
	}
}

// RegisterGRPC registers IntakeService, EventsService and DirectoryService.
func (s *Service) RegisterGRPC(g *grpc.Server) {
	igav1.RegisterIntakeServiceServer(g, &intakeServer{s: s})
	igav1.RegisterEventsServiceServer(g, &eventsServer{s: s})
	igav1.RegisterDirectoryServiceServer(g, &directoryServer{s: s})
}

// SlackEventsPath is where RegisterHTTP mounts the Slack Events API endpoint.
const SlackEventsPath = "/slack/events"

// RegisterHTTP mounts intake's HTTP endpoints (the Slack Events API) on mux.
func (s *Service) RegisterHTTP(mux *http.ServeMux) {
	mux.Handle("POST "+SlackEventsPath, s.SlackHandler())
}

// SlackHandler is the Slack Events API endpoint (mount it at e.g. /slack/events). It
// answers 404 when no signing secret is configured.
func (s *Service) SlackHandler() http.Handler {
	if s.slack == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "the Slack adapter is not configured (set --slack-signing-secret)", http.StatusNotFound)
		})
	}
	return s.slack
}

// handleMessage turns one channel message from the bus into a turn, or into an ERROR
// reply telling the user why not. Bytes that are not a ChatMessage are dead-lettered.
func (s *Service) handleMessage(ctx context.Context, m bus.Msg) error {
	msg, err := decodeChatMessage(m.Headers, m.Data)
	if err != nil {
		return bus.Permanent(fmt.Errorf("decode iga.v1.ChatMessage from %s: %w", m.Subject, err))
	}
	subjectChannel := lastToken(m.Subject)
	if msg.GetChannel() == "" {
		msg.Channel = subjectChannel
	}
	turnID := turnIDFor(msg, m.Meta)
	turn, rej := s.prepare(msg, turnID)
	if rej != nil {
		replyChannel := msg.GetChannel()
		if !channelName.MatchString(replyChannel) {
			replyChannel = subjectChannel
		}
		return s.replyRejection(ctx, msg, replyChannel, turnID, rej, bus.CausedBy(m.Meta))
	}
	return s.publishTurn(ctx, turn, bus.CausedBy(m.Meta))
}

// turnIDFor names the turn of a message so a redelivered or resent message maps to the
// same turn (and the server drops the duplicate): the channel's message id when there is
// one, else the bus message's own id, else its stream sequence.
func turnIDFor(msg *igav1.ChatMessage, m bus.Meta) string {
	switch {
	case msg.GetMessageId() != "":
		return strings.ToValidUTF8("turn-"+msg.GetChannel()+"-"+msg.GetMessageId(), "\uFFFD")
	case m.ID != "":
		return "turn-" + m.ID
	case m.Sequence > 0:
		return "turn-" + bus.StreamIntake + "-" + strconv.FormatUint(m.Sequence, 10)
	default:
		return "turn-" + bus.NewID()
	}
}

// prepare checks a message and builds its turn. msg.Channel must be set.
func (s *Service) prepare(msg *igav1.ChatMessage, turnID string) (*igav1.Turn, *Rejection) {
	p, rej := check(msg, s.cfg.MaxTextBytes, s.snapshot())
	if rej != nil {
		return nil, rej
	}
	return &igav1.Turn{
		TurnId:         turnID,
		ConversationId: ConversationID(msg.GetChannel(), msg.GetChannelUserId(), msg.GetConversationId()),
		Channel:        msg.GetChannel(),
		ChannelUserId:  msg.GetChannelUserId(),
		PersonEmail:    strings.ToLower(p.GetEmail()),
		Text:           msg.GetText(),
		OptionValue:    msg.GetOptionValue(),
		MessageId:      msg.GetMessageId(),
		ReceivedAt:     timestamppb.Now(),
	}, nil
}

func (s *Service) publishTurn(ctx context.Context, turn *igav1.Turn, opts ...bus.PublishOption) error {
	opts = append(opts, bus.WithID(turn.GetTurnId()))
	if _, err := s.env.Bus.Publish(ctx, TurnSubject(turn.GetConversationId()), turn, opts...); err != nil {
		return fmt.Errorf("hand turn %s to the agent: %w", turn.GetTurnId(), err)
	}
	s.log.Info("turn accepted", "turn", turn.GetTurnId(), "conversation", turn.GetConversationId(),
		"channel", turn.GetChannel(), "person", turn.GetPersonEmail())
	return nil
}

// replyRejection tells the user why their message went nowhere.
func (s *Service) replyRejection(ctx context.Context, msg *igav1.ChatMessage, channel, turnID string, rej *Rejection, opts ...bus.PublishOption) error {
	conv := ConversationID(channel, strings.ToValidUTF8(msg.GetChannelUserId(), "\uFFFD"), msg.GetConversationId())
	reply := &igav1.Reply{
		ReplyId:        "reply-" + turnID,
		ConversationId: conv,
		Channel:        channel,
		ChannelUserId:  strings.ToValidUTF8(msg.GetChannelUserId(), "\uFFFD"),
		InReplyTo:      turnID,
		Kind:           igav1.ReplyKind_REPLY_KIND_ERROR,
		Text:           rej.Text,
		SentAt:         timestamppb.Now(),
	}
	opts = append(opts, bus.WithID(reply.GetReplyId()))
	if _, err := s.env.Bus.Publish(ctx, ReplySubject(channel, conv), reply, opts...); err != nil {
		return fmt.Errorf("reply to rejected message: %w", err)
	}
	s.log.Info("message rejected", "reason", rej.Reason, "channel", channel, "conversation", conv, "turn", turnID)
	return nil
}

// Submit checks a message and hands its turn to the agent: the path of IntakeService.Send,
// for in-process channels too. A refused message returns a *Rejection (errors.As) whose
// Reason is one of the Err* sentinels; nothing is published then.
func (s *Service) Submit(ctx context.Context, msg *igav1.ChatMessage) (*igav1.Turn, error) {
	turn, rej := s.prepare(msg, turnIDFor(msg, bus.Meta{}))
	if rej != nil {
		return nil, rej
	}
	if err := s.publishTurn(ctx, turn); err != nil {
		return nil, err
	}
	return turn, nil
}

func (s *Service) snapshot() *directory.Snapshot {
	if s.env.Dir == nil {
		return nil
	}
	return s.env.Dir.Snapshot()
}
