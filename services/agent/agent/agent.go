// Package agent is the IG agent service: it consumes chat turns, keeps each
// conversation's state in Redis, lets a planner reason with the agent's tools, and
// publishes replies and submitted requests.
package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/convstore"
	"github.com/agentic-iga/iga/services/agent/planner"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// Config is the agent's configuration.
type Config struct {
	// RedisURL locates the conversation store.
	RedisURL string
	// RedisPrefix starts every key the agent writes.
	RedisPrefix string
	// ConversationTTL is how long an idle conversation is remembered.
	ConversationTTL time.Duration
	// Planner is "builtin" (the default) or "gemini".
	Planner string
	// Workers is how many turns are handled at once (turns of one conversation are still
	// handled one at a time, in order).
	Workers int
	// TurnAckWait is how long a turn may be in hand before the server gives it to another
	// replica: a replica that died mid-turn is taken over after this long.
	TurnAckWait time.Duration
	// Gemini configures the gemini planner; its API key is a secret and never logged.
	Gemini planner.GeminiConfig
}

// Flags registers the agent's flags.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.RedisURL, "redis-url", "redis://127.0.0.1:6379", "Redis URL of the conversation store")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "iga:agent:", "prefix of the agent's Redis keys")
	fs.DurationVar(&c.ConversationTTL, "conversation-ttl", 24*time.Hour, "forget a conversation after this long idle")
	fs.StringVar(&c.Planner, "planner", "builtin", "planner: builtin (offline, deterministic) or gemini (falls back to builtin when unreachable)")
	fs.IntVar(&c.Workers, "workers", 4, "turns handled at once")
	fs.DurationVar(&c.TurnAckWait, "turn-ack-wait", time.Minute, "how long a turn may be in hand before another replica takes it over")
	// IGA_GEMINI_API_KEY sets the flag like every IGA_ variable; GEMINI_API_KEY, the name
	// Google's tools use, is the default beneath it.
	fs.StringVar(&c.Gemini.APIKey, "gemini-api-key", os.Getenv("GEMINI_API_KEY"), "Gemini API key (env IGA_GEMINI_API_KEY or GEMINI_API_KEY)")
	fs.StringVar(&c.Gemini.Model, "gemini-model", "gemini-2.5-flash", "Gemini model for the gemini planner")
	fs.StringVar(&c.Gemini.BaseURL, "gemini-base-url", "", "Gemini API base URL (empty: Google's endpoint)")
	fs.DurationVar(&c.Gemini.Timeout, "gemini-timeout", 20*time.Second, "time limit of one Gemini planning turn, model calls included")
}

// Consumer and stream names of the agent.
const (
	DurableTurns = "agent-turns"
	// maxAttempts bounds the failed attempts at one turn (counted in Redis, so waiting
	// behind an earlier turn is not an attempt); the last one answers with failedText.
	maxAttempts = 8
)

// orderRetry is how soon a turn waiting behind an earlier one of its conversation is
// looked at again: soon enough that a reply is not noticeably late.
func orderRetry(deliveries uint64) time.Duration {
	return min(time.Duration(deliveries)*100*time.Millisecond, time.Second)
}

// Reply texts for failures, told to the user instead of internals.
const (
	memoryDownText = "I can't reach my memory right now — please try again in a minute."
	failedText     = "Something went wrong on my side and nothing was submitted. Please try again in a minute."
)

// Service is the running agent. It implements svc.Component.
type Service struct {
	env     svc.Env
	cfg     Config
	rdb     *redis.Client
	ownsRDB bool
	store   *convstore.Store
	tools   *tools.Tools
	planner planner.Planner
	log     *slog.Logger

	mu    sync.Mutex
	sub   *bus.Subscription
	turns jetstream.Stream
	now   func() time.Time
}

// New builds the agent with its own Redis client from cfg.RedisURL.
func New(env svc.Env, cfg Config) (*Service, error) {
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.MaxRetries = 2*time.Second, 2*time.Second, 2*time.Second, 1
	s, err := NewWithRedis(env, cfg, redis.NewClient(opts))
	if err != nil {
		return nil, err
	}
	s.ownsRDB = true
	return s, nil
}

// NewWithRedis builds the agent on a Redis client the caller owns (`iga dev` passes one
// to an embedded Redis).
func NewWithRedis(env svc.Env, cfg Config, rdb *redis.Client) (*Service, error) {
	if env.Bus == nil || env.Dir == nil || env.Conn == nil {
		return nil, errors.New("agent needs the bus, the directory and a gRPC connection")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.TurnAckWait <= 0 {
		cfg.TurnAckWait = time.Minute
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = "iga:agent:"
	}
	log := env.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Service{env: env, cfg: cfg, rdb: rdb, log: log, now: time.Now,
		store: convstore.New(rdb, cfg.RedisPrefix, cfg.ConversationTTL)}
	s.tools = tools.New(tools.Deps{
		Directory: env.Dir.Snapshot,
		Policy:    policyClient{igav1.NewPolicyServiceClient(env.Conn)},
		Approvals: approvalsClient{igav1.NewApprovalServiceClient(env.Conn)},
		Grants:    grantsClient{igav1.NewEntitlementsServiceClient(env.Conn)},
		Actions:   &lazyActions{s: s},
		Decisions: decisionsClient{igav1.NewApprovalServiceClient(env.Conn)},
		Requests:  requestsClient{igav1.NewRequestsServiceClient(env.Conn)},
	})
	p, err := NewPlanner(cfg, s.tools, log)
	if err != nil {
		return nil, err
	}
	s.planner = p
	return s, nil
}

// Tools returns the agent's toolbox (for tests and tools built on the agent).
func (s *Service) Tools() *tools.Tools { return s.tools }

// NewPlanner builds the configured planner over a toolbox.
func NewPlanner(cfg Config, t *tools.Tools, log *slog.Logger) (planner.Planner, error) {
	switch strings.ToLower(cfg.Planner) {
	case "", "builtin":
		return planner.NewBuiltin(t), nil
	case "gemini":
		return planner.NewGemini(context.Background(), cfg.Gemini, t, log)
	}
	return nil, fmt.Errorf("planner %q: use builtin or gemini", cfg.Planner)
}

// lazyActions opens the requests bucket on first use (New must not do I/O).
type lazyActions struct {
	s    *Service
	once sync.Mutex
	a    *busActions
}

func (l *lazyActions) get(ctx context.Context) (*busActions, error) {
	l.once.Lock()
	defer l.once.Unlock()
	if l.a != nil {
		return l.a, nil
	}
	st, err := bus.OpenStore(ctx, l.s.env.Bus, bus.BucketRequests, func() *igav1.AccessRequest { return &igav1.AccessRequest{} })
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", bus.BucketRequests, err)
	}
	l.a = &busActions{b: l.s.env.Bus, requests: st}
	return l.a, nil
}

func (l *lazyActions) Submit(ctx context.Context, req *igav1.AccessRequest) error {
	a, err := l.get(ctx)
	if err != nil {
		return err
	}
	return a.Submit(ctx, req)
}

func (l *lazyActions) Revoke(ctx context.Context, grantID, reason string) error {
	a, err := l.get(ctx)
	if err != nil {
		return err
	}
	return a.Revoke(ctx, grantID, reason)
}

// Start implements svc.Component: it begins consuming turns.
func (s *Service) Start(ctx context.Context) error {
	st, err := s.env.Bus.JetStream().Stream(ctx, bus.StreamTurns)
	if err != nil {
		return fmt.Errorf("stream %s: %w", bus.StreamTurns, err)
	}
	// Unbounded deliveries: a turn may wait behind an earlier one of its conversation for
	// as long as that one takes (after an outage, a backlog), and HandleTurn decides its
	// own last attempt, so every turn is answered and leaves the stream.
	sub, err := s.env.Bus.Consume(ctx, bus.ConsumerSpec{
		Stream: bus.StreamTurns, Durable: DurableTurns, Filters: []string{"iga.turn.>"},
		MaxDeliver: -1, Workers: s.cfg.Workers, AckWait: s.cfg.TurnAckWait,
		Backoff: func(n uint64) time.Duration { return min(time.Duration(n)*250*time.Millisecond, 5*time.Second) },
	}, bus.Typed(func() *igav1.Turn { return &igav1.Turn{} }, s.HandleTurn))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.sub, s.turns = sub, st
	s.mu.Unlock()
	s.log.Info("agent consuming turns", "planner", s.planner.Name(), "workers", s.cfg.Workers)
	return nil
}

// Stop implements svc.Component.
func (s *Service) Stop() {
	s.mu.Lock()
	sub := s.sub
	s.sub = nil
	s.mu.Unlock()
	if sub != nil {
		sub.Stop()
	}
	if s.ownsRDB {
		_ = s.rdb.Close()
	}
}

// errWaitForEarlier asks for redelivery while an earlier turn of the conversation is
// still being handled.
var errWaitForEarlier = errors.New("an earlier turn of this conversation is still pending")

// HandleTurn handles one turn: it is idempotent (a redelivered turn republishes the same
// reply and submits nothing twice) and handles the turns of a conversation in order.
//
// Ordering across replicas: all replicas share the durable consumer, so two turns of one
// conversation could reach two replicas at once. IGA_TURNS is a work queue (a turn leaves
// the stream when acknowledged or dead-lettered) and each conversation has its own
// subject, so a turn first asks the stream for the oldest message on its subject: if that
// is an earlier turn, it is still to be answered and this one waits (bus.Later, which is
// not a failed attempt) however long that takes. The wait always ends: the consumer never
// gives up on a message (unbounded deliveries) and every turn is acknowledged in the end,
// answered or, after maxAttempts failures, told that it failed. The state itself is
// written by compare-and-set, so even a turn handled twice at once (after an ack timeout,
// say) can never overwrite another's update. This gives per-conversation order without
// repartitioning the stream as pcgroups would.
func (s *Service) HandleTurn(ctx context.Context, m bus.Meta, t *igav1.Turn) error {
	if t.GetTurnId() == "" || t.GetConversationId() == "" || t.GetPersonEmail() == "" {
		return bus.Permanent(fmt.Errorf("turn on %s lacks turn id, conversation or person", m.Subject))
	}
	log := s.log.With("turn_id", t.GetTurnId(), "conversation_id", t.GetConversationId(), "person", t.GetPersonEmail())
	if err := s.waitForEarlier(ctx, m); err != nil {
		return err
	}
	in := planner.Input{TurnID: t.GetTurnId(), Person: t.GetPersonEmail(), Text: t.GetText(),
		Option: t.GetOptionValue(), Now: s.now()}
	var reply conv.Reply
	var trail []string
	planned := false
	_, err := s.store.Update(ctx, t.GetConversationId(), func(st *conv.State) error {
		if r, ok := st.Reply(t.GetTurnId()); ok {
			reply, planned = r, true
			return convstore.ErrNoChange
		}
		if st.Person == "" {
			st.Person, st.Channel, st.ChannelUserID = t.GetPersonEmail(), t.GetChannel(), t.GetChannelUserId()
		}
		if !strings.EqualFold(st.Person, t.GetPersonEmail()) {
			// A conversation belongs to one person: someone else's turn starts nothing in it.
			reply, planned = conv.Reply{Kind: conv.ReplyError, Text: "This conversation belongs to someone else. Start a new one to ask for access."}, true
			st.Remember(t.GetTurnId(), "", reply, in.Now)
			return nil
		}
		r, err := s.planner.Plan(ctx, st, in)
		if err != nil {
			return err
		}
		reply, planned = r, true
		st.Remember(t.GetTurnId(), t.GetText()+t.GetOptionValue(), r, in.Now)
		trail = trail[:0]
		for _, tr := range st.Trails {
			if r.RequestID != "" && tr.RequestID == r.RequestID {
				for _, c := range tr.ToolCalls {
					trail = append(trail, c.Tool)
				}
			}
		}
		return nil
	})
	switch {
	case err == nil:
	case errors.Is(err, convstore.ErrUnavailable) && planned && reply.Kind == conv.ReplySubmitted:
		// The request went out even though the state could not be saved: say so truthfully.
		log.Warn("conversation state not saved after submit", "err", err)
	case errors.Is(err, convstore.ErrUnavailable):
		log.Error("conversation store unavailable", "err", err)
		reply = conv.Reply{Kind: conv.ReplyError, Text: memoryDownText}
	default:
		n, ferr := s.store.Failed(ctx, t.GetConversationId(), t.GetTurnId())
		if ferr == nil && n < maxAttempts {
			return fmt.Errorf("turn %s (attempt %d of %d): %w", t.GetTurnId(), n, maxAttempts, err)
		}
		log.Error("turn failed on its last attempt", "err", err, "attempts", n)
		reply = conv.Reply{Kind: conv.ReplyError, Text: failedText}
	}
	if reply.RequestID != "" {
		log.Info("request submitted", "request_id", reply.RequestID, "entitlement", reply.EntitlementID,
			"tool_calls", strings.Join(trail, ","))
	}
	return s.publish(ctx, m, t, reply)
}

// waitForEarlier asks for the turn again later (bus.Later) while the stream still holds
// an earlier turn on this turn's subject, however old: it is still to be answered.
func (s *Service) waitForEarlier(ctx context.Context, m bus.Meta) error {
	s.mu.Lock()
	st := s.turns
	s.mu.Unlock()
	if st == nil || m.Sequence == 0 {
		return nil
	}
	first, err := st.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(m.Subject))
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		return fmt.Errorf("check turn order: %w", err)
	}
	if first.Sequence < m.Sequence {
		return bus.Later(orderRetry(m.Deliveries), fmt.Errorf("%w (sequence %d before %d)", errWaitForEarlier, first.Sequence, m.Sequence))
	}
	return nil
}

// ReplyID derives the reply id from the turn, so a redelivered turn's reply is
// deduplicated by the server.
func ReplyID(turnID string) string { return "reply-" + turnID }

// ReplySubject is where replies to a conversation go.
func ReplySubject(channel, conversationID string) string {
	return "iga.reply." + channel + "." + conversationID
}

func (s *Service) publish(ctx context.Context, m bus.Meta, t *igav1.Turn, r conv.Reply) error {
	out := &igav1.Reply{
		ReplyId: ReplyID(t.GetTurnId()), ConversationId: t.GetConversationId(), Channel: t.GetChannel(),
		ChannelUserId: t.GetChannelUserId(), PersonEmail: t.GetPersonEmail(), InReplyTo: t.GetTurnId(),
		Kind: replyKind(r.Kind), Text: r.Text, RequestId: r.RequestID, SentAt: timestamppb.New(s.now()),
		Last: true, // the agent answers each turn with exactly one reply
	}
	for _, o := range r.Options {
		out.Options = append(out.Options, &igav1.ReplyOption{Label: o.Label, Value: o.Value})
	}
	opts := []bus.PublishOption{bus.WithID(out.GetReplyId()), bus.CausedBy(m)}
	if r.RequestID != "" {
		opts = append(opts, bus.WithRequestID(r.RequestID))
	}
	channel := t.GetChannel()
	if channel == "" {
		channel = "unknown"
	}
	if _, err := s.env.Bus.Publish(ctx, ReplySubject(channel, t.GetConversationId()), out, opts...); err != nil {
		return fmt.Errorf("reply to turn %s: %w", t.GetTurnId(), err)
	}
	return nil
}

func replyKind(k conv.ReplyKind) igav1.ReplyKind {
	switch k {
	case conv.ReplyQuestion:
		return igav1.ReplyKind_REPLY_KIND_QUESTION
	case conv.ReplyProposal:
		return igav1.ReplyKind_REPLY_KIND_PROPOSAL
	case conv.ReplySubmitted:
		return igav1.ReplyKind_REPLY_KIND_SUBMITTED
	case conv.ReplyError:
		return igav1.ReplyKind_REPLY_KIND_ERROR
	}
	return igav1.ReplyKind_REPLY_KIND_INFO
}
