package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// CloudEvents attribute names used as NATS headers (the binary content mode of the
// CloudEvents NATS binding), so bridges can route without iga's protos.
const (
	HeaderID            = "ce-id"
	HeaderSpecVersion   = "ce-specversion"
	HeaderType          = "ce-type"
	HeaderSource        = "ce-source"
	HeaderTime          = "ce-time"
	HeaderSubject       = "ce-subject"
	HeaderDataSchema    = "ce-dataschema"
	HeaderContentType   = "Content-Type"
	HeaderRequestID     = "ce-igarequestid"
	HeaderCorrelationID = "ce-correlationid"
	HeaderCausationID   = "ce-causationid"
	HeaderTraceparent   = "traceparent"

	ContentTypeProto = "application/protobuf"
	ContentTypeJSON  = "application/json"
)

// Meta is the CloudEvents context of a message.
type Meta struct {
	ID            string
	Type          string
	Source        string
	Subject       string
	Time          time.Time
	RequestID     string
	CorrelationID string
	CausationID   string
	Traceparent   string
	// Set on consumed messages.
	Deliveries uint64
	Sequence   uint64
	Headers    nats.Header
}

// Config says how to reach NATS.
type Config struct {
	URL string
	// Name identifies the client to the server and is the default ce-source ("iga/agent").
	Name   string
	Logger *slog.Logger
	// Options are extra nats.Options (credentials, TLS).
	Options []nats.Option
}

// Bus is a connection to NATS with JetStream. Safe for concurrent use.
type Bus struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	source string
	log    *slog.Logger
}

// Connect dials NATS. It retries the first connection for a while so services can start
// before the server.
func Connect(ctx context.Context, cfg Config) (*Bus, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	opts := append([]nats.Option{
		nats.Name(cfg.Name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	}, cfg.Options...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", cfg.URL, err)
	}
	// RetryOnFailedConnect returns a connection that may not be up yet: wait for it.
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			nc.Close()
			return nil, fmt.Errorf("connect to NATS at %s: %w (is the server running? set --nats-url or IGA_NATS_URL)", cfg.URL, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	source := cfg.Name
	if source == "" {
		source = "iga"
	}
	return &Bus{nc: nc, js: js, source: source, log: log}, nil
}

// Conn is the underlying NATS connection (for core request/reply and subscriptions).
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the underlying JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Source is the ce-source this bus stamps on what it publishes.
func (b *Bus) Source() string { return b.source }

// Close drains the connection: in-flight handlers finish, buffered publishes are flushed.
func (b *Bus) Close() error {
	if b.nc.IsClosed() {
		return nil
	}
	return b.nc.Drain()
}

// Ready reports whether the connection is up and JetStream answers.
func (b *Bus) Ready(ctx context.Context) error {
	if !b.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	_, err := b.js.AccountInfo(ctx)
	return err
}

// PublishOption adjusts one publish.
type PublishOption func(*publishOptions)

type publishOptions struct {
	meta     Meta
	json     bool
	schedAt  time.Time
	schedTgt string
}

// WithID sets the event id, which is also the dedup key: derive it from the cause when a
// handler may run twice, so the second publish is dropped by the server.
func WithID(id string) PublishOption { return func(o *publishOptions) { o.meta.ID = id } }

// WithRequestID ties the event to an access request.
func WithRequestID(id string) PublishOption {
	return func(o *publishOptions) { o.meta.RequestID = id }
}

// CausedBy carries correlation, request id and trace of the message being handled.
func CausedBy(m Meta) PublishOption {
	return func(o *publishOptions) {
		o.meta.CausationID = m.ID
		o.meta.CorrelationID = m.CorrelationID
		if o.meta.CorrelationID == "" {
			o.meta.CorrelationID = m.ID
		}
		if o.meta.RequestID == "" {
			o.meta.RequestID = m.RequestID
		}
		o.meta.Traceparent = childTraceparent(m.Traceparent)
	}
}

// AsJSON encodes the body as protobuf JSON instead of binary protobuf.
func AsJSON() PublishOption { return func(o *publishOptions) { o.json = true } }

// NewID returns a new time-ordered event id (UUIDv7).
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// TypeOf names the CloudEvents type of a subject: "iga.evt.grant.active" -> "iga.grant.active".
func TypeOf(subject string) string {
	for _, p := range []string{"iga.evt.", "iga.cmd.", "iga.sched."} {
		if rest, ok := strings.CutPrefix(subject, p); ok {
			return "iga." + rest
		}
	}
	return subject
}

// Message builds the NATS message for a publish: headers and encoded body.
func (b *Bus) Message(subject string, body proto.Message, opts ...PublishOption) (*nats.Msg, Meta, error) {
	o := publishOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	m := o.meta
	if m.ID == "" {
		m.ID = NewID()
	}
	if m.CorrelationID == "" {
		m.CorrelationID = m.ID
	}
	if m.Traceparent == "" {
		m.Traceparent = childTraceparent("")
	}
	m.Type, m.Source, m.Subject, m.Time = TypeOf(subject), b.source, subject, time.Now().UTC()

	var data []byte
	var err error
	ct := ContentTypeProto
	if o.json {
		data, err = protojson.Marshal(body)
		ct = ContentTypeJSON
	} else {
		data, err = proto.Marshal(body)
	}
	if err != nil {
		return nil, m, fmt.Errorf("encode %s: %w", subject, err)
	}
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, m.ID)
	h.Set(HeaderID, m.ID)
	h.Set(HeaderSpecVersion, "1.0")
	h.Set(HeaderType, m.Type)
	h.Set(HeaderSource, m.Source)
	h.Set(HeaderTime, m.Time.Format(time.RFC3339Nano))
	h.Set(HeaderDataSchema, "type.googleapis.com/"+string(body.ProtoReflect().Descriptor().FullName()))
	h.Set(HeaderContentType, ct)
	h.Set(HeaderCorrelationID, m.CorrelationID)
	h.Set(HeaderTraceparent, m.Traceparent)
	if m.RequestID != "" {
		h.Set(HeaderRequestID, m.RequestID)
	}
	if m.CausationID != "" {
		h.Set(HeaderCausationID, m.CausationID)
	}
	m.Headers = h
	return &nats.Msg{Subject: subject, Header: h, Data: data}, m, nil
}

// Publish stores a message in its stream and waits for the server's acknowledgement.
// A duplicate id within the stream's dedup window is acknowledged without storing twice.
func (b *Bus) Publish(ctx context.Context, subject string, body proto.Message, opts ...PublishOption) (Meta, error) {
	msg, m, err := b.Message(subject, body, opts...)
	if err != nil {
		return m, err
	}
	ack, err := b.js.PublishMsg(ctx, msg)
	if err != nil {
		return m, fmt.Errorf("publish %s: %w", subject, err)
	}
	m.Sequence = ack.Sequence
	return m, nil
}

// Schedule stores a delayed message on subject (one schedule per subject: a new one
// replaces the old) that the server publishes to target at the given time. Past times fire
// at once. target must be a subject of the schedules stream (iga.sched.fire.>).
func (b *Bus) Schedule(ctx context.Context, subject, target string, at time.Time, body proto.Message, opts ...PublishOption) (Meta, error) {
	msg, m, err := b.Message(subject, body, opts...)
	if err != nil {
		return m, err
	}
	// The schedule message is replaced, not deduplicated, when an expiry moves.
	msg.Header.Del(jetstream.MsgIDHeader)
	_, err = b.js.PublishMsg(ctx, msg, jetstream.WithScheduleAt(at.UTC()), jetstream.WithScheduleTarget(target))
	if err != nil {
		return m, fmt.Errorf("schedule %s at %s: %w", subject, at.UTC().Format(time.RFC3339), err)
	}
	return m, nil
}

// CancelSchedule removes the pending schedule on subject, if any.
func (b *Bus) CancelSchedule(ctx context.Context, subject string) error {
	s, err := b.js.Stream(ctx, StreamSchedules)
	if err != nil {
		return fmt.Errorf("cancel schedule %s: %w", subject, err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return fmt.Errorf("cancel schedule %s: %w", subject, err)
	}
	return nil
}

// MetaOf reads the CloudEvents context from headers.
func MetaOf(subject string, h nats.Header) Meta {
	m := Meta{
		ID: h.Get(HeaderID), Type: h.Get(HeaderType), Source: h.Get(HeaderSource), Subject: subject,
		RequestID: h.Get(HeaderRequestID), CorrelationID: h.Get(HeaderCorrelationID),
		CausationID: h.Get(HeaderCausationID), Traceparent: h.Get(HeaderTraceparent), Headers: h,
	}
	if m.ID == "" {
		m.ID = h.Get(jetstream.MsgIDHeader)
	}
	if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderTime)); err == nil {
		m.Time = t
	}
	return m
}

// Decode fills body from a message's data, honouring its content type.
func Decode(h nats.Header, data []byte, body proto.Message) error {
	ct := h.Get(HeaderContentType)
	if strings.HasPrefix(ct, ContentTypeJSON) {
		return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, body)
	}
	return proto.Unmarshal(data, body)
}

// childTraceparent continues a W3C trace (same trace id, new span) or starts one.
func childTraceparent(parent string) string {
	span := make([]byte, 8)
	_, _ = rand.Read(span)
	parts := strings.Split(parent, "-")
	if len(parts) == 4 && len(parts[1]) == 32 {
		return fmt.Sprintf("00-%s-%s-%s", parts[1], hex.EncodeToString(span), parts[3])
	}
	trace := make([]byte, 16)
	_, _ = rand.Read(trace)
	return fmt.Sprintf("00-%s-%s-01", hex.EncodeToString(trace), hex.EncodeToString(span))
}
