package intake

import (
	"context"
	"errors"
	"slices"

	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// rejectionStatus maps a refused message to its gRPC status, keeping the user's sentence.
func rejectionStatus(err error) error {
	var rej *Rejection
	if !errors.As(err, &rej) {
		return status.Error(codes.Unavailable, "intake could not hand the message on; try again")
	}
	code := codes.InvalidArgument
	switch {
	case errors.Is(rej.Reason, ErrUnknownUser):
		code = codes.NotFound
	case errors.Is(rej.Reason, ErrInactiveUser):
		code = codes.PermissionDenied
	}
	return status.Error(code, rej.Text)
}

type intakeServer struct {
	igav1.UnimplementedIntakeServiceServer
	s *Service
}

// Send hands a message in and returns once its turn is on the bus.
func (g *intakeServer) Send(ctx context.Context, req *igav1.SendRequest) (*igav1.SendResponse, error) {
	msg := req.GetMessage()
	if msg == nil {
		return nil, status.Error(codes.InvalidArgument, "message is required")
	}
	turn, err := g.s.Submit(ctx, msg)
	if err != nil {
		g.s.log.Warn("send refused", "err", err)
		return nil, rejectionStatus(err)
	}
	return &igav1.SendResponse{TurnId: turn.GetTurnId(), ConversationId: turn.GetConversationId()}, nil
}

// maxChatTimeout bounds how long a caller may hold a Chat open.
const maxChatTimeout = 5 * time.Minute

// Chat hands a message in and waits for the replies that answer its turn. It listens on
// the conversation's reply subject before publishing the turn, so even an instant
// answer is seen.
func (g *intakeServer) Chat(ctx context.Context, req *igav1.ChatRequest) (*igav1.ChatResponse, error) {
	s := g.s
	msg := req.GetMessage()
	if msg == nil {
		return nil, status.Error(codes.InvalidArgument, "message is required")
	}
	timeout := s.cfg.ChatTimeout
	if d := req.GetTimeout(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			return nil, status.Error(codes.InvalidArgument, "timeout must be a positive duration")
		}
		timeout = min(d.AsDuration(), maxChatTimeout)
	}
	turn, rej := s.prepare(msg, turnIDFor(msg, bus.Meta{}))
	if rej != nil {
		return nil, rejectionStatus(rej)
	}

	replies := make(chan *igav1.Reply, 64)
	sub, err := s.env.Bus.Conn().Subscribe(ReplySubject(turn.GetChannel(), turn.GetConversationId()), func(m *nats.Msg) {
		r := &igav1.Reply{}
		if err := bus.Decode(m.Header, m.Data, r); err != nil {
			s.log.Warn("undecodable reply ignored", "subject", m.Subject, "err", err)
			return
		}
		if r.GetInReplyTo() != turn.GetTurnId() {
			return
		}
		select {
		case replies <- r:
		default:
		}
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, "cannot listen for the agent's reply: "+err.Error())
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The subscription must reach the server before the turn can be answered.
	if err := s.env.Bus.Conn().FlushWithContext(ctx); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	if err := s.publishTurn(ctx, turn); err != nil {
		s.log.Error("chat turn not published", "err", err)
		return nil, status.Error(codes.Unavailable, "intake could not hand the message to the agent; try again")
	}

	resp := &igav1.ChatResponse{ConversationId: turn.GetConversationId()}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var grace <-chan time.Time
	for {
		select {
		case r := <-replies:
			resp.Replies = append(resp.Replies, r)
			if r.GetLast() {
				return resp, nil
			}
			grace = time.After(s.cfg.ChatGrace)
		case <-grace:
			return resp, nil
		case <-deadline.C:
			if len(resp.Replies) > 0 {
				return resp, nil
			}
			return nil, status.Errorf(codes.DeadlineExceeded, "the agent did not answer in %s; is the agent service running?", timeout)
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

type eventsServer struct {
	igav1.UnimplementedEventsServiceServer
	s *Service
}

// Watch streams the event history: the last N events (by stream sequence) that match
// the filter, then, with follow, every new one until the caller goes away.
func (g *eventsServer) Watch(req *igav1.WatchRequest, stream igav1.EventsService_WatchServer) error {
	ctx := stream.Context()
	js := g.s.env.Bus.JetStream()
	filter := req.GetSubjectFilter()
	if filter == "" {
		filter = "iga.evt.>"
	}
	if filter != "iga.evt.>" && !strings.HasPrefix(filter, "iga.evt.") {
		return status.Errorf(codes.InvalidArgument, "subject filter %q must be within iga.evt.> (e.g. iga.evt.grant.>)", filter)
	}
	last := req.GetLast()
	if last == 0 {
		last = 50
	}
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return status.Errorf(codes.Unavailable, "event history unavailable: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return status.Errorf(codes.Unavailable, "event history unavailable: %v", err)
	}
	end := info.State.LastSeq
	start := uint64(1)
	if end >= last {
		start = end - last + 1
	}
	start = max(start, info.State.FirstSeq)
	if !req.GetFollow() && (info.State.Msgs == 0 || end < start) {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
	})
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "cannot read events matching %q: %v", filter, err)
	}
	send := func(m jetstream.Msg) (done bool, err error) {
		md, err := m.Metadata()
		if err != nil {
			return false, status.Errorf(codes.Internal, "event without metadata: %v", err)
		}
		if err := stream.Send(&igav1.WatchResponse{Event: envelope(m, md.Sequence.Stream)}); err != nil {
			return false, err
		}
		return !req.GetFollow() && (md.NumPending == 0 || md.Sequence.Stream >= end), nil
	}
	if !req.GetFollow() {
		for {
			batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				return status.Errorf(codes.Unavailable, "read events: %v", err)
			}
			n := 0
			for m := range batch.Messages() {
				n++
				done, err := send(m)
				if err != nil || done {
					return err
				}
			}
			if batch.Error() != nil && !errors.Is(batch.Error(), jetstream.ErrNoMessages) {
				return status.Errorf(codes.Unavailable, "read events: %v", batch.Error())
			}
			if n == 0 {
				return nil // nothing (more) matches the filter
			}
		}
	}
	it, err := cons.Messages()
	if err != nil {
		return status.Errorf(codes.Unavailable, "follow events: %v", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return status.Errorf(codes.Unavailable, "follow events: %v", err)
		}
		if _, err := send(m); err != nil {
			return err
		}
	}
}

// envelope renders a stored event as an Envelope: its CloudEvents headers as fields and
// its body as an Any typed by ce-dataschema (JSON bodies are re-encoded as protobuf when
// the type is known).
func envelope(m jetstream.Msg, seq uint64) *igav1.Envelope {
	meta := bus.MetaOf(m.Subject(), m.Headers())
	env := &igav1.Envelope{
		Id: meta.ID, Type: meta.Type, Source: meta.Source, Subject: meta.Subject,
		RequestId: meta.RequestID, CorrelationId: meta.CorrelationID, CausationId: meta.CausationID,
		Traceparent: meta.Traceparent, Sequence: seq,
	}
	if !meta.Time.IsZero() {
		env.Time = timestamppb.New(meta.Time)
	}
	typeURL := m.Headers().Get(bus.HeaderDataSchema)
	data := m.Data()
	if strings.HasPrefix(m.Headers().Get(bus.HeaderContentType), bus.ContentTypeJSON) {
		if mt, err := protoregistry.GlobalTypes.FindMessageByURL(typeURL); err == nil {
			v := mt.New().Interface()
			if protojson.Unmarshal(data, v) == nil {
				if b, err := proto.Marshal(v); err == nil {
					data = b
				}
			}
		}
	}
	if typeURL != "" || len(data) > 0 {
		env.Data = &anypb.Any{TypeUrl: typeURL, Value: data}
	}
	return env
}

type directoryServer struct {
	igav1.UnimplementedDirectoryServiceServer
	s *Service
}

func (g *directoryServer) GetPerson(_ context.Context, req *igav1.GetPersonRequest) (*igav1.GetPersonResponse, error) {
	snap := g.s.snapshot()
	if snap == nil {
		return nil, status.Error(codes.Unavailable, "the directory is not loaded yet")
	}
	email := strings.TrimSpace(req.GetEmail())
	if email == "" {
		return nil, status.Error(codes.InvalidArgument, "email is required")
	}
	p, ok := snap.Person(email)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no person %q in the directory", email)
	}
	return &igav1.GetPersonResponse{Person: p}, nil
}

func (g *directoryServer) ListEntitlements(_ context.Context, req *igav1.ListEntitlementsRequest) (*igav1.ListEntitlementsResponse, error) {
	snap := g.s.snapshot()
	if snap == nil {
		return nil, status.Error(codes.Unavailable, "the directory is not loaded yet")
	}
	resp := &igav1.ListEntitlementsResponse{}
	app := req.GetAppId()
	if app != "" {
		a, ok := snap.App(app)
		if !ok {
			return nil, status.Errorf(codes.NotFound, "no app %q in the catalog", app)
		}
		resp.Apps = []*igav1.App{a}
	} else {
		for _, id := range sortedKeys(snap.Apps) {
			resp.Apps = append(resp.Apps, snap.Apps[id])
		}
	}
	for _, e := range snap.EntitlementList() {
		if app == "" || e.GetAppId() == app {
			resp.Entitlements = append(resp.Entitlements, e)
		}
	}
	return resp, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Notices streams the replies of a conversation that answer no turn — decisions, grants,
// revocations, reminders — until the caller goes away.
func (g *intakeServer) Notices(req *igav1.NoticesRequest, stream igav1.IntakeService_NoticesServer) error {
	s := g.s
	channel, user := req.GetChannel(), req.GetChannelUserId()
	if !channelName.MatchString(channel) || strings.TrimSpace(user) == "" {
		return status.Error(codes.InvalidArgument, "a valid channel (e.g. cli, web, slack) and channel_user_id are required")
	}
	if _, ok := s.env.Dir.Snapshot().PersonByChannel(channel, user); !ok {
		return status.Errorf(codes.NotFound, "I don't know who %s is in %s; ask IT to link the account", user, channel)
	}
	notices := make(chan *igav1.Reply, 64)
	subject := ReplySubject(channel, ConversationID(channel, user, req.GetConversationId()))
	sub, err := s.env.Bus.Conn().Subscribe(subject, func(m *nats.Msg) {
		r := &igav1.Reply{}
		if err := bus.Decode(m.Header, m.Data, r); err != nil || r.GetInReplyTo() != "" {
			return
		}
		select {
		case notices <- r:
		default:
			s.log.Warn("notice dropped: the caller reads too slowly", "subject", m.Subject)
		}
	})
	if err != nil {
		return status.Error(codes.Unavailable, "cannot listen for notices: "+err.Error())
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The subscription must reach the server before the caller is told it listens (a
	// stream may have no deadline; the flush needs one).
	fctx, cancel := context.WithTimeout(stream.Context(), 5*time.Second)
	err = s.env.Bus.Conn().FlushWithContext(fctx)
	cancel()
	if err != nil {
		return status.Error(codes.Unavailable, "cannot listen for notices: "+err.Error())
	}
	// Headers go out now, so the caller knows it is listening before anything happens.
	if err := stream.SendHeader(metadata.Pairs("iga-notices", "listening")); err != nil {
		return err
	}
	for {
		select {
		case r := <-notices:
			if err := stream.Send(&igav1.NoticesResponse{Reply: r}); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}
