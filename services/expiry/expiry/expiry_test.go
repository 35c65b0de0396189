package expiry_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/bus/bustest"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/expiry/expiry"
)

type harness struct {
	t       *testing.T
	ctx     context.Context
	bus     *bus.Bus
	ledger  *bus.Store[*igav1.Grant]
	revokes chan *igav1.ProvisionRevoke
}

func newHarness(t *testing.T) *harness {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	b := bustest.New(t)
	ledger, err := bus.OpenStore(ctx, b, bus.BucketGrants, func() *igav1.Grant { return &igav1.Grant{} })
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, bus: b, ledger: ledger, revokes: make(chan *igav1.ProvisionRevoke, 100)}
	sub, err := b.Consume(ctx, bus.ConsumerSpec{Stream: bus.StreamCommands, Durable: "test-provisioner", Filters: []string{expiry.SubjectRevoke}},
		bus.Typed(func() *igav1.ProvisionRevoke { return &igav1.ProvisionRevoke{} },
			func(_ context.Context, _ bus.Meta, r *igav1.ProvisionRevoke) error { h.revokes <- r; return nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
	return h
}

func (h *harness) start(cfg expiry.Config) *expiry.Service {
	h.t.Helper()
	s, err := expiry.New(svc.Env{Name: "expiry", Bus: h.bus, Dir: directory.New(demoDirectory()),
		Log: slog.New(slog.NewTextHandler(h.t.Output(), nil))}, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := s.Start(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(s.Stop)
	return s
}

// demoDirectory knows Dana (in Los Angeles) and the entitlement the tests grant her.
func demoDirectory() *directory.Snapshot {
	return directory.NewSnapshot(
		[]*igav1.Person{{Email: "dana.reyes@acme.example", Name: "Dana Reyes", TimeZone: "America/Los_Angeles"}},
		[]*igav1.App{{Id: "grafana", Name: "Grafana"}},
		[]*igav1.Entitlement{{Id: "grafana:payments-viewer", AppId: "grafana", Name: "payments-viewer"}})
}

func grant(id string, gen int64, expiresAt time.Time, status igav1.GrantStatus) *igav1.Grant {
	return &igav1.Grant{
		Id: id, RequestId: "r-" + id, PersonEmail: "dana.reyes@acme.example", EntitlementId: "grafana:payments-viewer",
		Status: status, Generation: gen, GrantedAt: timestamppb.Now(), ExpiresAt: timestamppb.New(expiresAt),
	}
}

// record writes g to the ledger and announces it, as the provisioner does.
func (h *harness) record(g *igav1.Grant) uint64 {
	h.t.Helper()
	if _, err := h.ledger.Put(h.ctx, g.GetId(), g); err != nil {
		h.t.Fatal(err)
	}
	subject := "iga.evt.grant.active"
	if g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_REVOKED {
		subject = "iga.evt.grant.revoked"
	}
	m, err := h.bus.Publish(h.ctx, subject, &igav1.GrantChanged{Grant: g})
	if err != nil {
		h.t.Fatal(err)
	}
	return m.Sequence
}

func (h *harness) nextRevoke(within time.Duration) *igav1.ProvisionRevoke {
	h.t.Helper()
	select {
	case r := <-h.revokes:
		return r
	case <-time.After(within):
		h.t.Fatalf("no revoke command within %s", within)
		return nil
	}
}

func (h *harness) noRevoke() {
	h.t.Helper()
	select {
	case r := <-h.revokes:
		h.t.Fatalf("unexpected revoke command %v", r)
	default:
	}
}

// handled waits until a consumer has acknowledged everything up to stream sequence seq.
func (h *harness) handled(stream, durable string, seq uint64) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := h.bus.JetStream().Consumer(h.ctx, stream, durable)
		if err == nil {
			info, err := c.Info(h.ctx)
			if err == nil && info.AckFloor.Stream >= seq && info.NumAckPending == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("consumer %s did not handle up to sequence %d in time", durable, seq)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// firesHandled waits until expiry has handled every expiry fire stored so far.
func (h *harness) firesHandled() {
	h.t.Helper()
	st, err := h.bus.JetStream().Stream(h.ctx, bus.StreamSchedules)
	if err != nil {
		h.t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(h.ctx, expiry.FireSubject(">"))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.handled(bus.StreamSchedules, expiry.DurableFires, m.Sequence)
}

func (h *harness) scheduled(subject string) bool {
	h.t.Helper()
	st, err := h.bus.JetStream().Stream(h.ctx, bus.StreamSchedules)
	if err != nil {
		h.t.Fatal(err)
	}
	_, err = st.GetLastMsgForSubject(h.ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return true
}

func quiet() expiry.Config { return expiry.Config{SweepInterval: time.Hour} }

func TestActiveGrantIsRevokedWhenItExpires(t *testing.T) {
	h := newHarness(t)
	h.start(quiet())
	h.record(grant("g-expires", 1, time.Now().Add(2*time.Second), igav1.GrantStatus_GRANT_STATUS_ACTIVE))

	r := h.nextRevoke(20 * time.Second)
	if r.GetGrantId() != "g-expires" || r.GetGeneration() != 1 || r.GetReason() != "expired" {
		t.Fatalf("revoke = %v, want g-expires generation 1 reason expired", r)
	}
}

func TestExtensionReplacesTheSchedule(t *testing.T) {
	h := newHarness(t)
	h.start(quiet())
	h.record(grant("g-ext", 1, time.Now().Add(2*time.Second), igav1.GrantStatus_GRANT_STATUS_ACTIVE))
	h.record(grant("g-ext", 2, time.Now().Add(5*time.Second), igav1.GrantStatus_GRANT_STATUS_ACTIVE))

	r := h.nextRevoke(30 * time.Second)
	if r.GetGrantId() != "g-ext" || r.GetGeneration() != 2 {
		t.Fatalf("revoke = %v, want generation 2 only", r)
	}
	// Every fire (including any of generation 1 that beat the replacement) is handled by now.
	h.firesHandled()
	h.noRevoke()
}

func TestRevokedGrantCancelsItsSchedule(t *testing.T) {
	h := newHarness(t)
	h.start(quiet())
	expires := time.Now().Add(4 * time.Second)
	seq := h.record(grant("g-gone", 1, expires, igav1.GrantStatus_GRANT_STATUS_ACTIVE))
	h.handled(bus.StreamEvents, expiry.DurableGrants, seq)
	if !h.scheduled(expiry.ScheduleSubject("g-gone")) || !h.scheduled(expiry.ReminderSubject("g-gone")) {
		t.Fatal("active grant has no expiry schedule and reminder")
	}

	revoked := grant("g-gone", 1, expires, igav1.GrantStatus_GRANT_STATUS_REVOKED)
	revoked.RevokeReason = "relinquished"
	seq = h.record(revoked)
	h.handled(bus.StreamEvents, expiry.DurableGrants, seq)
	if h.scheduled(expiry.ScheduleSubject("g-gone")) || h.scheduled(expiry.ReminderSubject("g-gone")) {
		t.Fatal("revoked grant still has an expiry schedule or reminder")
	}
	// Past the old expiry, nothing fires and nothing is revoked.
	for time.Now().Before(expires.Add(2 * time.Second)) {
		time.Sleep(100 * time.Millisecond)
	}
	st, _ := h.bus.JetStream().Stream(h.ctx, bus.StreamSchedules)
	if _, err := st.GetLastMsgForSubject(h.ctx, expiry.FireSubject("g-gone")); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("cancelled schedule fired anyway (err %v)", err)
	}
	h.noRevoke()
}

func TestStaleFiresAreIgnored(t *testing.T) {
	h := newHarness(t)
	h.start(quiet())
	// The ledger holds generation 2, due in an hour.
	if _, err := h.ledger.Put(h.ctx, "g-stale", grant("g-stale", 2, time.Now().Add(time.Hour), igav1.GrantStatus_GRANT_STATUS_ACTIVE)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ledger.Put(h.ctx, "g-old", grant("g-old", 1, time.Now().Add(-time.Minute), igav1.GrantStatus_GRANT_STATUS_REVOKED)); err != nil {
		t.Fatal(err)
	}
	fires := []*igav1.ProvisionRevoke{
		{GrantId: "g-stale", Reason: "expired", Generation: 1},   // older generation
		{GrantId: "g-stale", Reason: "expired", Generation: 2},   // not due
		{GrantId: "g-old", Reason: "expired", Generation: 1},     // already revoked
		{GrantId: "g-missing", Reason: "expired", Generation: 1}, // not in the ledger
	}
	var last uint64
	for _, f := range fires {
		m, err := h.bus.Publish(h.ctx, expiry.FireSubject(f.GetGrantId()), f)
		if err != nil {
			t.Fatal(err)
		}
		last = m.Sequence
	}
	h.handled(bus.StreamSchedules, expiry.DurableFires, last)
	h.noRevoke()
}

func TestSweepRevokesOverdueGrantWithoutSchedule(t *testing.T) {
	h := newHarness(t)
	if _, err := h.ledger.Put(h.ctx, "g-overdue", grant("g-overdue", 3, time.Now().Add(-time.Hour), igav1.GrantStatus_GRANT_STATUS_ACTIVE)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ledger.Put(h.ctx, "g-current", grant("g-current", 1, time.Now().Add(time.Hour), igav1.GrantStatus_GRANT_STATUS_ACTIVE)); err != nil {
		t.Fatal(err)
	}
	s := h.start(quiet())

	r := h.nextRevoke(20 * time.Second)
	if r.GetGrantId() != "g-overdue" || r.GetGeneration() != 3 || r.GetReason() != "expired" {
		t.Fatalf("revoke = %v, want g-overdue generation 3", r)
	}
	// A second sweep publishes the same command id: the server drops the duplicate.
	n, err := s.Sweep(h.ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1 overdue grant", n, err)
	}
	st, _ := h.bus.JetStream().Stream(h.ctx, bus.StreamCommands)
	info, err := st.Info(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.LastSeq != 1 {
		t.Fatalf("commands stream holds %d publishes, want 1 (repeats deduplicated)", info.State.LastSeq)
	}
	h.noRevoke()
}

func TestRestartResumesAndStillRevokes(t *testing.T) {
	h := newHarness(t)
	s := h.start(quiet())
	expires := time.Now().Add(3 * time.Second)
	seq := h.record(grant("g-restart", 1, expires, igav1.GrantStatus_GRANT_STATUS_ACTIVE))
	h.handled(bus.StreamEvents, expiry.DurableGrants, seq)
	s.Stop()

	// The schedule fires while expiry is down.
	for time.Now().Before(expires.Add(2 * time.Second)) {
		time.Sleep(100 * time.Millisecond)
	}
	h.noRevoke()
	h.start(quiet())

	r := h.nextRevoke(20 * time.Second)
	if r.GetGrantId() != "g-restart" || r.GetGeneration() != 1 {
		t.Fatalf("revoke = %v, want g-restart generation 1", r)
	}
	h.firesHandled()
	h.noRevoke() // the fire and the start-up sweep publish one command id
}

func TestUnsafeGrantIDIsDeadLettered(t *testing.T) {
	h := newHarness(t)
	dead := make(chan *igav1.DeadLetter, 1)
	sub, err := h.bus.Consume(h.ctx, bus.ConsumerSpec{Stream: bus.StreamEvents, Durable: "test-dlq", Filters: []string{bus.DeadLetterSubject(expiry.DurableGrants)}},
		bus.Typed(func() *igav1.DeadLetter { return &igav1.DeadLetter{} },
			func(_ context.Context, _ bus.Meta, d *igav1.DeadLetter) error { dead <- d; return nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
	h.start(quiet())
	if _, err := h.bus.Publish(h.ctx, "iga.evt.grant.active", &igav1.GrantChanged{
		Grant: grant("g.1 >", 1, time.Now().Add(time.Hour), igav1.GrantStatus_GRANT_STATUS_ACTIVE)}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-dead:
		if d.GetConsumer() != expiry.DurableGrants || d.GetReason() == "" {
			t.Fatalf("dead letter = %v", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("unsafe grant id was not dead-lettered")
	}
}

func TestValidGrantID(t *testing.T) {
	for id, ok := range map[string]bool{
		"g-0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b": true,
		"g_1":                                    true,
		"":                                       false, "g.1": false, "g 1": false, "g*": false, "g>": false, "-g": false,
	} {
		if err := expiry.ValidGrantID(id); (err == nil) != ok {
			t.Errorf("ValidGrantID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

func TestReminderBeforeExpiryOffersAnExtension(t *testing.T) {
	h := newHarness(t)
	requests, err := bus.OpenStore(h.ctx, h.bus, bus.BucketRequests, func() *igav1.AccessRequest { return &igav1.AccessRequest{} })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := requests.Create(h.ctx, "r-g-remind", &igav1.AccessRequest{Id: "r-g-remind", RequesterEmail: "dana.reyes@acme.example",
		BeneficiaryEmail: "dana.reyes@acme.example", EntitlementId: "grafana:payments-viewer", Channel: "cli", ConversationId: "cli-u-0a1b"}); err != nil {
		t.Fatal(err)
	}
	replies := make(chan *igav1.Reply, 10)
	sub, err := h.bus.Consume(h.ctx, bus.ConsumerSpec{Stream: bus.StreamReplies, Durable: "test-replies", Filters: []string{"iga.reply.cli.cli-u-0a1b"}},
		bus.Typed(func() *igav1.Reply { return &igav1.Reply{} }, func(_ context.Context, _ bus.Meta, r *igav1.Reply) error { replies <- r; return nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
	h.start(quiet())

	// A 15 s grant: reminded 3 s (20%) before it ends.
	g := grant("g-remind", 1, time.Now().Add(4*time.Second), igav1.GrantStatus_GRANT_STATUS_ACTIVE)
	g.RequestId = "r-g-remind"
	g.GrantedAt = timestamppb.New(time.Now().Add(-11 * time.Second))
	h.record(g)

	// Said in the words and the time zone of the person: Dana reads Pacific time.
	local := g.GetExpiresAt().AsTime().In(must(time.LoadLocation("America/Los_Angeles"))).Format("15:04 MST")
	select {
	case r := <-replies:
		if r.GetKind() != igav1.ReplyKind_REPLY_KIND_NOTICE || r.GetRequestId() != "r-g-remind" || r.GetPersonEmail() != "dana.reyes@acme.example" ||
			!strings.Contains(r.GetText(), "Your access to Grafana payments-viewer ends at "+local) || len(r.GetOptions()) == 0 ||
			r.GetOptions()[0].GetValue() != "extend grafana:payments-viewer for 1 week" {
			t.Fatalf("reminder = %v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no reminder before expiry")
	}
	if r := h.nextRevoke(20 * time.Second); r.GetGrantId() != "g-remind" {
		t.Fatalf("revoke = %v", r)
	}
}

func TestReminderAt(t *testing.T) {
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	at := func(granted, expires time.Duration) *igav1.Grant {
		return &igav1.Grant{GrantedAt: timestamppb.New(now.Add(granted)), ExpiresAt: timestamppb.New(now.Add(expires))}
	}
	for name, tc := range map[string]struct {
		g    *igav1.Grant
		want time.Time
		ok   bool
	}{
		"30 days: a day before":    {at(0, 30*24*time.Hour), now.Add(29 * 24 * time.Hour), true},
		"10 hours: 2 hours before": {at(0, 10*time.Hour), now.Add(8 * time.Hour), true},
		"no expiry":                {&igav1.Grant{GrantedAt: timestamppb.New(now)}, time.Time{}, false},
		"expires before granted":   {at(time.Hour, 0), time.Time{}, false},
	} {
		got, ok := expiry.ReminderAt(tc.g)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("%s: ReminderAt = %v %v, want %v %v", name, got, ok, tc.want, tc.ok)
		}
	}
}

// Imported access has no request: its reminder is acknowledged and sent to no one, never
// retried into a dead letter, and the grant still ends.
func TestReminderOfAGrantWithoutRequestIsSkipped(t *testing.T) {
	h := newHarness(t)
	h.start(quiet())
	g := grant("g-import-remind", 1, time.Now().Add(4*time.Second), igav1.GrantStatus_GRANT_STATUS_ACTIVE)
	g.RequestId = ""
	g.GrantedAt = timestamppb.New(time.Now().Add(-11 * time.Second))
	h.record(g)
	if r := h.nextRevoke(20 * time.Second); r.GetGrantId() != "g-import-remind" {
		t.Fatalf("revoke = %v", r)
	}
	st, err := h.bus.JetStream().Stream(h.ctx, bus.StreamSchedules)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(h.ctx, expiry.ReminderFireSubject("g-import-remind"))
	if err != nil {
		t.Fatalf("the reminder never fired: %v", err)
	}
	h.handled(bus.StreamSchedules, expiry.DurableReminders, m.Sequence)
	events, err := h.bus.JetStream().Stream(h.ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.GetLastMsgForSubject(h.ctx, bus.DeadLetterSubject(expiry.DurableReminders)); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("the reminder was dead-lettered (or the events could not be read: %v)", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
