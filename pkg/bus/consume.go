package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// ErrPermanent marks a failure redelivery cannot fix (a malformed body, a command that
// policy never allowed): the message is dead-lettered at once instead of retried.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so the consumer dead-letters the message without retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// Later asks for the message again after a delay without counting it as a failure: the
// message is fine but cannot be handled yet (an earlier message must go first). With a
// bounded MaxDeliver the server still counts the delivery, so a consumer that waits
// this way should be unbounded (MaxDeliver < 0) and decide its own last attempt.
func Later(after time.Duration, cause error) error {
	return &laterError{after: after, cause: cause}
}

type laterError struct {
	after time.Duration
	cause error
}

func (e *laterError) Error() string { return "not yet: " + e.cause.Error() }
func (e *laterError) Unwrap() error { return e.cause }

// Msg is a delivered message: its context and raw body.
type Msg struct {
	Meta
	Data []byte
}

// Handler handles one delivery. Delivery is at-least-once, so a handler must be
// idempotent. Returning nil acknowledges the message, so return only once the handler's
// effects are durable; an error wrapping ErrPermanent dead-letters it; an error from
// Later redelivers it after that delay; any other error redelivers it with backoff until
// MaxDeliver, then dead-letters it.
type Handler func(ctx context.Context, m Msg) error

// Typed adapts a handler of one protobuf type; a body that does not decode is permanent.
func Typed[T proto.Message](newT func() T, fn func(ctx context.Context, m Meta, body T) error) Handler {
	return func(ctx context.Context, m Msg) error {
		body := newT()
		if err := Decode(m.Headers, m.Data, body); err != nil {
			return Permanent(fmt.Errorf("decode %T from %s: %w", body, m.Subject, err))
		}
		return fn(ctx, m.Meta, body)
	}
}

// ConsumerSpec declares a durable consumer. Replicas of a service share it by name.
type ConsumerSpec struct {
	Stream  string
	Durable string
	Filters []string
	// MaxDeliver bounds deliveries before dead-lettering; default 5. Negative means
	// unbounded: the server never gives up on a message, and only ErrPermanent
	// dead-letters it, so the handler decides when it has tried enough.
	MaxDeliver int
	// AckWait is how long a handler may take before the server redelivers; default 30s.
	AckWait time.Duration
	// Workers is how many messages are handled at once; default 1 (in order).
	Workers int
	// Backoff is the delay before redelivery attempt n (1-based); default 0.5s doubling to 30s.
	Backoff func(attempt uint64) time.Duration
	// DeliverNew starts a new consumer at the end of the stream instead of the start.
	DeliverNew bool
}

func defaultBackoff(n uint64) time.Duration {
	d := 500 * time.Millisecond
	for i := uint64(1); i < n && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// Subscription is a running consumer.
type Subscription struct {
	cc     jetstream.ConsumeContext
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Stop stops pulling and waits for in-flight handlers to finish.
func (s *Subscription) Stop() {
	s.cc.Stop()
	s.wg.Wait()
	s.cancel()
}

// Consume creates (or updates) the durable consumer and handles its messages until Stop.
func (b *Bus) Consume(ctx context.Context, spec ConsumerSpec, h Handler) (*Subscription, error) {
	if spec.MaxDeliver == 0 {
		spec.MaxDeliver = 5
	}
	if spec.MaxDeliver < 0 {
		spec.MaxDeliver = -1
	}
	if spec.AckWait <= 0 {
		spec.AckWait = 30 * time.Second
	}
	if spec.Workers <= 0 {
		spec.Workers = 1
	}
	if spec.Backoff == nil {
		spec.Backoff = defaultBackoff
	}
	cfg := jetstream.ConsumerConfig{
		Durable:        spec.Durable,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        spec.AckWait,
		MaxDeliver:     spec.MaxDeliver,
		MaxAckPending:  max(spec.Workers*4, 16),
		FilterSubjects: spec.Filters,
	}
	if spec.DeliverNew {
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, spec.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", spec.Durable, spec.Stream, err)
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Subscription{cancel: cancel}
	slots := make(chan struct{}, spec.Workers)
	cc, err := cons.Consume(func(jm jetstream.Msg) {
		slots <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() { <-slots; s.wg.Done() }()
			b.deliver(hctx, spec, jm, h)
		}()
	}, jetstream.PullMaxMessages(max(spec.Workers*2, 8)))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("consume %s: %w", spec.Durable, err)
	}
	s.cc = cc
	return s, nil
}

func (b *Bus) deliver(ctx context.Context, spec ConsumerSpec, jm jetstream.Msg, h Handler) {
	md, err := jm.Metadata()
	if err != nil {
		b.log.Error("message without metadata", "consumer", spec.Durable, "err", err)
		_ = jm.Term()
		return
	}
	m := Msg{Meta: MetaOf(jm.Subject(), jm.Headers()), Data: jm.Data()}
	m.Deliveries, m.Sequence = md.NumDelivered, md.Sequence.Stream
	hctx, cancel := context.WithTimeout(ctx, spec.AckWait)
	err = safeHandle(hctx, h, m)
	cancel()
	log := b.log.With("consumer", spec.Durable, "subject", m.Subject, "id", m.ID, "request_id", m.RequestID, "delivery", m.Deliveries)
	var later *laterError
	switch {
	case err == nil:
		if aerr := jm.DoubleAck(ctx); aerr != nil {
			log.Warn("ack failed; the message will be redelivered", "err", aerr)
		}
	case errors.As(err, &later) && !errors.Is(err, ErrPermanent):
		log.Debug("message not ready; redelivering", "reason", later.cause, "in", later.after)
		_ = jm.NakWithDelay(later.after)
	case errors.Is(err, ErrPermanent) || spec.MaxDeliver > 0 && m.Deliveries >= uint64(spec.MaxDeliver):
		log.Error("dead-lettering message", "err", err)
		if derr := b.deadLetter(ctx, spec, m, err); derr != nil {
			log.Error("dead-letter publish failed; retrying later", "err", derr)
			_ = jm.NakWithDelay(spec.Backoff(m.Deliveries))
			return
		}
		_ = jm.Term()
	default:
		log.Warn("handler failed; redelivering", "err", err, "in", spec.Backoff(m.Deliveries))
		_ = jm.NakWithDelay(spec.Backoff(m.Deliveries))
	}
}

func safeHandle(ctx context.Context, h Handler, m Msg) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Permanent(fmt.Errorf("handler panicked: %v", r))
		}
	}()
	return h(ctx, m)
}

// DeadLetterSubject is where a consumer's failures are reported: iga.evt.<consumer>.failed.
func DeadLetterSubject(durable string) string {
	return "iga.evt." + strings.ReplaceAll(durable, ".", "_") + ".failed"
}

func (b *Bus) deadLetter(ctx context.Context, spec ConsumerSpec, m Msg, cause error) error {
	hdr := map[string]string{}
	for k, v := range m.Headers {
		if len(v) > 0 {
			hdr[k] = v[0]
		}
	}
	data := m.Data
	if len(data) > 64<<10 {
		data = data[:64<<10]
	}
	dl := &igav1.DeadLetter{
		Subject: m.Subject, Consumer: spec.Durable, Reason: cause.Error(), Deliveries: m.Deliveries,
		Headers: hdr, Data: data, FailedAt: timestamppb.Now(),
	}
	_, err := b.Publish(ctx, DeadLetterSubject(spec.Durable), dl,
		WithID(fmt.Sprintf("dlq-%s-%d", spec.Stream, m.Sequence)), CausedBy(m.Meta))
	return err
}
