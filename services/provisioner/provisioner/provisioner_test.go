package provisioner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/bus/bustest"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/scim"
	"github.com/agentic-iga/iga/pkg/scimtarget"
	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/provisioner/connector"
	"github.com/agentic-iga/iga/services/provisioner/provisioner"
)

const (
	dana   = "dana.reyes@acme.example"
	marco  = "marco.bianchi@acme.example"
	olivia = "olivia.chen@acme.example"
	viewer = "grafana:payments-viewer"
	editor = "grafana:payments-editor"
	clerk  = "netsuite:ap-clerk"
	group  = "grafana-payments-viewer"
	token  = "test-token"

	stripeViewer  = "stripe:viewer"
	webhookSecret = "hook-secret"
)

func snapshot() *directory.Snapshot {
	people := []*igav1.Person{
		{Email: dana, Name: "Dana Reyes", ManagerEmail: marco, Status: "active", TimeZone: "UTC"},
		{Email: marco, Name: "Marco Bianchi", ManagerEmail: olivia, Status: "active"},
		{Email: olivia, Name: "Olivia Chen", Status: "active"},
		{Email: "gone@acme.example", Name: "Gone", Status: "terminated"},
	}
	apps := []*igav1.App{
		{Id: "grafana", Name: "Grafana", OwnerEmail: olivia, Provisioning: igav1.ProvisioningMethod_PROVISIONING_METHOD_SCIM},
		{Id: "netsuite", Name: "NetSuite", OwnerEmail: marco, Provisioning: igav1.ProvisioningMethod_PROVISIONING_METHOD_MANUAL},
		{Id: "stripe", Name: "Stripe", OwnerEmail: olivia, Provisioning: igav1.ProvisioningMethod_PROVISIONING_METHOD_WEBHOOK},
	}
	ents := []*igav1.Entitlement{
		{Id: viewer, AppId: "grafana", Name: "payments-viewer", ScimGroup: group, Provisioning: igav1.ProvisioningMethod_PROVISIONING_METHOD_SCIM},
		{Id: editor, AppId: "grafana", Name: "payments-editor", ScimGroup: "grafana-payments-editor", Provisioning: igav1.ProvisioningMethod_PROVISIONING_METHOD_SCIM},
		{Id: clerk, AppId: "netsuite", Name: "ap-clerk", Provisioning: igav1.ProvisioningMethod_PROVISIONING_METHOD_MANUAL},
		{Id: stripeViewer, AppId: "stripe", Name: "viewer", Provisioning: igav1.ProvisioningMethod_PROVISIONING_METHOD_WEBHOOK},
	}
	return directory.NewSnapshot(people, apps, ents)
}

// flaky fails the next n requests with 503, as a target in an outage would.
type flaky struct {
	next  http.Handler
	fail  atomic.Int32
	count atomic.Int32
	// after, when set, sees each request once the target has served it (its body
	// already read), to act at an exact point of a connector's sequence.
	after atomic.Pointer[func(r *http.Request, body []byte)]
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.fail.Add(-1) >= 0 {
		f.count.Add(1)
		http.Error(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"503","detail":"maintenance"}`, http.StatusServiceUnavailable)
		return
	}
	f.fail.Store(0)
	after := f.after.Load()
	if after == nil {
		f.next.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.next.ServeHTTP(w, r)
	(*after)(r, body)
}

type env struct {
	t       *testing.T
	ctx     context.Context
	bus     *bus.Bus
	svc     *provisioner.Service
	target  *scimtarget.Target
	flaky   *flaky
	scimURL string

	requests  *bus.Store[*igav1.AccessRequest]
	decisions *bus.Store[*igav1.PolicyDecision]
	approvals *bus.Store[*igav1.Approval]
	grants    *bus.Store[*igav1.Grant]

	mu     sync.Mutex
	events []bus.Msg
	hooks  []connector.WebhookEvent
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	b := bustest.New(t)
	e := &env{t: t, ctx: ctx, bus: b, target: scimtarget.New(token)}
	e.flaky = &flaky{next: e.target.Handler()}
	srv := httptest.NewServer(e.flaky)
	t.Cleanup(srv.Close)
	e.scimURL = srv.URL + "/scim/v2"
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !connector.VerifySignature([]byte(webhookSecret), body, r.Header.Get(connector.HeaderSignature)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev connector.WebhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		e.hooks = append(e.hooks, ev)
		e.mu.Unlock()
		_, _ = w.Write([]byte(`{"ref":"CHG-1"}`))
	}))
	t.Cleanup(hooks.Close)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := provisioner.New(svc.Env{Name: "provisioner", Bus: b, Dir: directory.New(snapshot()), Log: log},
		provisioner.Config{SCIMURL: e.scimURL, SCIMToken: token, SCIMTimeout: 5 * time.Second, MaxAttempts: 4,
			WebhookURL: hooks.URL, WebhookSecret: webhookSecret,
			Backoff: func(uint64) time.Duration { return 100 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	e.svc = s

	open := func(bucket string) jetstream.KeyValue {
		kv, err := b.KV(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		return kv
	}
	e.requests = bus.NewStore(open(bus.BucketRequests), func() *igav1.AccessRequest { return &igav1.AccessRequest{} })
	e.decisions = bus.NewStore(open(bus.BucketDecisions), func() *igav1.PolicyDecision { return &igav1.PolicyDecision{} })
	e.approvals = bus.NewStore(open(bus.BucketApprovals), func() *igav1.Approval { return &igav1.Approval{} })
	e.grants = bus.NewStore(open(bus.BucketGrants), func() *igav1.Grant { return &igav1.Grant{} })

	for _, sp := range []bus.ConsumerSpec{
		{Stream: bus.StreamEvents, Durable: "test-events", Filters: []string{"iga.evt.>"}},
		{Stream: bus.StreamReplies, Durable: "test-replies", Filters: []string{"iga.reply.>"}},
	} {
		sub, err := b.Consume(ctx, sp, func(_ context.Context, m bus.Msg) error {
			e.mu.Lock()
			e.events = append(e.events, m)
			e.mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sub.Stop)
	}
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// record writes a request and its decision (and approval, when given) as the agent,
// policy and approval services would.
func (e *env) record(req *igav1.AccessRequest, dec *igav1.PolicyDecision, ap *igav1.Approval) {
	e.t.Helper()
	if _, err := e.requests.Create(e.ctx, req.GetId(), req); err != nil {
		e.t.Fatal(err)
	}
	if dec != nil {
		if _, err := e.decisions.Create(e.ctx, req.GetId(), dec); err != nil {
			e.t.Fatal(err)
		}
	}
	if ap != nil {
		if _, err := e.approvals.Create(e.ctx, req.GetId(), ap); err != nil {
			e.t.Fatal(err)
		}
	}
}

func request(id, email, ent string) *igav1.AccessRequest {
	return &igav1.AccessRequest{Id: id, RequesterEmail: email, BeneficiaryEmail: email, EntitlementId: ent,
		Duration: durationpb.New(4 * time.Hour), Justification: "quarterly close", Channel: "slack",
		ConversationId: "C-" + id, CreatedAt: timestamppb.Now()}
}

func decision(req *igav1.AccessRequest, effect igav1.Effect, d time.Duration) *igav1.PolicyDecision {
	return &igav1.PolicyDecision{RequestId: req.GetId(), Effect: effect, GrantedDuration: durationpb.New(d),
		BeneficiaryEmail: req.GetBeneficiaryEmail(), EntitlementId: req.GetEntitlementId(), DecidedAt: timestamppb.Now(),
		Reason: "test"}
}

func (e *env) grantCmd(requestID, msgID string) {
	e.t.Helper()
	if _, err := e.bus.Publish(e.ctx, provisioner.SubjectGrantCmd, &igav1.ProvisionGrant{RequestId: requestID}, bus.WithID(msgID)); err != nil {
		e.t.Fatal(err)
	}
}

// atTarget adds the person to the group or removes them, straight at the target (an
// admin at the IdP, or another writer), not through the provisioner.
func (e *env) atTarget(email string, add bool) error {
	srv := httptest.NewServer(e.target.Handler())
	defer srv.Close()
	c, err := scim.New(srv.URL+"/scim/v2", token)
	if err != nil {
		return err
	}
	u, err := c.FindUser(e.ctx, email)
	if err != nil {
		return err
	}
	g, err := c.FindGroup(e.ctx, group)
	if err != nil {
		return err
	}
	if add {
		return c.AddMember(e.ctx, g.ID, u.ID)
	}
	return c.RemoveMember(e.ctx, g.ID, u.ID)
}

func (e *env) removeAtTarget(email string) {
	e.t.Helper()
	if err := e.atTarget(email, false); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) revokeCmd(grantID, reason string, gen int64) {
	e.t.Helper()
	if _, err := e.bus.Publish(e.ctx, provisioner.SubjectRevokeCmd,
		&igav1.ProvisionRevoke{GrantId: grantID, Reason: reason, Generation: gen}); err != nil {
		e.t.Fatal(err)
	}
}

// waitFor returns the first message on subject satisfying ok, decoded into T.
func waitFor[T proto.Message](e *env, subject string, newT func() T, ok func(T) bool) T {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.snapshot() {
			if m.Subject != subject {
				continue
			}
			v := newT()
			if err := bus.Decode(m.Headers, m.Data, v); err != nil {
				e.t.Fatalf("decode %s: %v", subject, err)
			}
			if ok(v) {
				return v
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("no matching message on %s within 20s; saw %v", subject, e.subjects())
	var zero T
	return zero
}

func (e *env) snapshot() []bus.Msg {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

func (e *env) subjects() []string {
	var out []string
	for _, m := range e.snapshot() {
		out = append(out, m.Subject)
	}
	return out
}

func (e *env) count(subject string) int {
	n := 0
	for _, m := range e.snapshot() {
		if m.Subject == subject {
			n++
		}
	}
	return n
}

// drained waits until the provisioner has acknowledged every command (the commands
// stream is a work queue: acknowledged messages leave it).
func (e *env) drained() {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s, err := e.bus.JetStream().Stream(e.ctx, bus.StreamCommands)
		if err != nil {
			e.t.Fatal(err)
		}
		info, err := s.Info(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatal("commands were not all handled within 20s")
}

func (e *env) grant(id string) *igav1.Grant {
	e.t.Helper()
	g, _, err := e.grants.Get(e.ctx, id)
	if err != nil {
		e.t.Fatalf("ledger %s: %v", id, err)
	}
	return g
}

func active(id string) func(*igav1.GrantChanged) bool {
	return func(g *igav1.GrantChanged) bool { return g.GetGrant().GetId() == id }
}

func newGrantChanged() *igav1.GrantChanged { return &igav1.GrantChanged{} }
func newReply() *igav1.Reply               { return &igav1.Reply{} }
func newDeadLetter() *igav1.DeadLetter     { return &igav1.DeadLetter{} }

func TestAllowedRequestLandsInSCIM(t *testing.T) {
	e := setup(t)
	req := request("r1", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, 2*time.Hour), nil)
	before := time.Now()
	e.grantCmd("r1", "grant-cmd-r1")

	ev := waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r1"))
	g := ev.GetGrant()
	if g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE || g.GetGeneration() != 1 || g.GetPersonEmail() != dana ||
		g.GetEntitlementId() != viewer || g.GetRequestId() != "r1" || g.GetExternalRef() == "" {
		t.Fatalf("grant.active = %v", g)
	}
	if got := g.GetExpiresAt().AsTime().Sub(g.GetGrantedAt().AsTime()); got != 2*time.Hour {
		t.Fatalf("expires %s after granted, want the granted duration 2h", got)
	}
	if g.GetGrantedAt().AsTime().Before(before.Add(-time.Second)) {
		t.Fatalf("granted_at %s is before the command", g.GetGrantedAt().AsTime())
	}
	if m := e.target.Members(group); !slices.Equal(m, []string{dana}) {
		t.Fatalf("SCIM group %s members = %v", group, m)
	}
	reply := waitFor(e, "iga.reply.slack.C-r1", newReply, func(r *igav1.Reply) bool { return true })
	if reply.GetKind() != igav1.ReplyKind_REPLY_KIND_NOTICE || reply.GetRequestId() != "r1" ||
		!strings.HasPrefix(reply.GetText(), "Granted Grafana payments-viewer until ") || !strings.Contains(reply.GetText(), "UTC") {
		t.Fatalf("reply = %v", reply)
	}
	if led := e.grant("g-r1"); led.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE || !proto.Equal(led.GetExpiresAt(), g.GetExpiresAt()) {
		t.Fatalf("ledger = %v", led)
	}

	// EntitlementsService answers from the ledger view.
	eventually(t, func() bool {
		r, err := e.svc.CheckAccess(e.ctx, &igav1.CheckAccessRequest{PersonEmail: "Dana.Reyes@acme.example", EntitlementId: viewer})
		return err == nil && r.GetHasAccess() && r.GetGrant().GetId() == "g-r1"
	})
	if r, _ := e.svc.CheckAccess(e.ctx, &igav1.CheckAccessRequest{PersonEmail: dana, EntitlementId: editor}); r.GetHasAccess() {
		t.Fatal("access to an entitlement never granted")
	}
	if _, err := e.svc.CheckAccess(e.ctx, &igav1.CheckAccessRequest{PersonEmail: dana}); err == nil {
		t.Fatal("CheckAccess without an entitlement should be InvalidArgument")
	}
	list, err := e.svc.ListGrants(e.ctx, &igav1.ListGrantsRequest{PersonEmail: dana})
	if err != nil || len(list.GetGrants()) != 1 || list.GetGrants()[0].GetId() != "g-r1" {
		t.Fatalf("ListGrants = %v, %v", list, err)
	}
}

func TestApprovedRequestIsGranted(t *testing.T) {
	e := setup(t)
	req := request("r2", dana, editor)
	ap := &igav1.Approval{Id: "r2", RequestId: "r2", BeneficiaryEmail: dana, EntitlementId: editor,
		Status: igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED, DecidedAt: timestamppb.Now()}
	e.record(req, decision(req, igav1.Effect_EFFECT_REQUIRE_APPROVAL, time.Hour), ap)
	e.grantCmd("r2", "grant-cmd-r2")
	waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r2"))
	if m := e.target.Members("grafana-payments-editor"); !slices.Equal(m, []string{dana}) {
		t.Fatalf("members = %v", m)
	}
}

func TestCommandsTheRecordsDoNotAllowAreDeadLettered(t *testing.T) {
	e := setup(t)
	pending := &igav1.Approval{Id: "r-pending", RequestId: "r-pending", BeneficiaryEmail: dana, EntitlementId: viewer,
		Status: igav1.ApprovalStatus_APPROVAL_STATUS_PENDING}
	cases := []struct {
		id, want string
		write    func(req *igav1.AccessRequest)
	}{
		{"r-unknown", "is not recorded", func(*igav1.AccessRequest) {}},
		{"r-nodecision", "no recorded policy decision", func(req *igav1.AccessRequest) { e.record(req, nil, nil) }},
		{"r-deny", "policy decided DENY", func(req *igav1.AccessRequest) {
			e.record(req, decision(req, igav1.Effect_EFFECT_DENY, time.Hour), nil)
		}},
		{"r-pending", "its approval is pending", func(req *igav1.AccessRequest) {
			e.record(req, decision(req, igav1.Effect_EFFECT_REQUIRE_APPROVAL, time.Hour), pending)
		}},
		{"r-noapproval", "none is recorded", func(req *igav1.AccessRequest) {
			e.record(req, decision(req, igav1.Effect_EFFECT_REQUIRE_APPROVAL, time.Hour), nil)
		}},
		{"r-otherent", "the decision is about \"grafana:payments-editor\"", func(req *igav1.AccessRequest) {
			d := decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour)
			d.EntitlementId = editor // the decision allowed something else
			e.record(req, d, nil)
		}},
		{"r-otherperson", "the decision is about \"marco.bianchi@acme.example\"", func(req *igav1.AccessRequest) {
			d := decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour)
			d.BeneficiaryEmail = marco
			e.record(req, d, nil)
		}},
	}
	for _, c := range cases {
		if c.id != "r-unknown" {
			c.write(request(c.id, dana, viewer))
		}
		e.grantCmd(c.id, "grant-cmd-"+c.id)
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			dl := waitFor(e, "iga.evt.provisioner-grant.failed", newDeadLetter, func(d *igav1.DeadLetter) bool {
				var cmd igav1.ProvisionGrant
				_ = proto.Unmarshal(d.GetData(), &cmd)
				return cmd.GetRequestId() == c.id
			})
			if !strings.Contains(dl.GetReason(), c.want) || dl.GetDeliveries() != 1 {
				t.Errorf("dead letter reason %q (deliveries %d), want it to say %q at once", dl.GetReason(), dl.GetDeliveries(), c.want)
			}
			if _, _, err := e.grants.Get(e.ctx, "g-"+c.id); err == nil {
				t.Errorf("a ledger entry was written for a refused command")
			}
		})
	}
	if m := e.target.Members(group); len(m) != 0 {
		t.Fatalf("refused commands put %v in the SCIM group", m)
	}
	if n := e.count(provisioner.SubjectGrantActive); n != 0 {
		t.Fatalf("%d grant.active events for refused commands", n)
	}
}

func TestTerminatedBeneficiaryIsRefused(t *testing.T) {
	e := setup(t)
	req := request("r-gone", "gone@acme.example", viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r-gone", "grant-cmd-r-gone")
	dl := waitFor(e, "iga.evt.provisioner-grant.failed", newDeadLetter, func(*igav1.DeadLetter) bool { return true })
	if !strings.Contains(dl.GetReason(), "is terminated") {
		t.Fatalf("reason = %q", dl.GetReason())
	}
}

func TestDuplicateCommandGrantsOnce(t *testing.T) {
	e := setup(t)
	req := request("r3", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r3", "grant-cmd-r3")
	first := waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r3")).GetGrant()
	// The same command again under other message ids, as a replay outside the dedup
	// window would deliver it.
	e.grantCmd("r3", "grant-cmd-r3-replay-1")
	e.grantCmd("r3", "grant-cmd-r3-replay-2")
	e.drained()
	g := e.grant("g-r3")
	if g.GetGeneration() != 1 || !proto.Equal(g.GetExpiresAt(), first.GetExpiresAt()) {
		t.Fatalf("ledger changed by a repeated command: %v", g)
	}
	if m := e.target.Members(group); !slices.Equal(m, []string{dana}) {
		t.Fatalf("members = %v", m)
	}
	time.Sleep(200 * time.Millisecond) // let the event consumer catch up before counting
	if n := e.count(provisioner.SubjectGrantActive); n != 1 {
		t.Fatalf("%d grant.active events, want 1 (republished with the same id)", n)
	}
	if n := e.count("iga.reply.slack.C-r3"); n != 1 {
		t.Fatalf("%d notices to the requester, want 1", n)
	}
}

func TestRevokeRemovesAccess(t *testing.T) {
	e := setup(t)
	req := request("r4", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r4", "grant-cmd-r4")
	waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r4"))

	e.revokeCmd("g-r4", "expired", 1)
	ev := waitFor(e, provisioner.SubjectGrantRevoked, newGrantChanged, active("g-r4")).GetGrant()
	if ev.GetStatus() != igav1.GrantStatus_GRANT_STATUS_REVOKED || ev.GetRevokeReason() != "expired" || ev.GetRevokedAt() == nil {
		t.Fatalf("grant.revoked = %v", ev)
	}
	if m := e.target.Members(group); len(m) != 0 {
		t.Fatalf("still in the SCIM group: %v", m)
	}
	reply := waitFor(e, "iga.reply.slack.C-r4", newReply, func(r *igav1.Reply) bool { return strings.HasPrefix(r.GetText(), "Your access") })
	if reply.GetText() != "Your access to Grafana payments-viewer was removed: expired." {
		t.Fatalf("reply = %q", reply.GetText())
	}
	eventually(t, func() bool {
		r, _ := e.svc.CheckAccess(e.ctx, &igav1.CheckAccessRequest{PersonEmail: dana, EntitlementId: viewer})
		return !r.GetHasAccess()
	})

	// Revoking again is a no-op; granting the same request again does not re-grant.
	e.revokeCmd("g-r4", "expired", 1)
	e.grantCmd("r4", "grant-cmd-r4-again")
	e.drained()
	if m := e.target.Members(group); len(m) != 0 {
		t.Fatalf("a repeated command re-granted revoked access: %v", m)
	}
}

func TestStaleRevokeIsIgnored(t *testing.T) {
	e := setup(t)
	req := request("r5", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r5", "grant-cmd-r5")
	waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r5"))

	e.revokeCmd("g-r5", "expired", 7) // an expiry fire for a generation the grant never had
	e.drained()
	if g := e.grant("g-r5"); g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE {
		t.Fatalf("stale revoke changed the ledger: %v", g)
	}
	if m := e.target.Members(group); !slices.Equal(m, []string{dana}) {
		t.Fatalf("stale revoke removed access: %v", m)
	}
	if n := e.count(provisioner.SubjectGrantRevoked); n != 0 {
		t.Fatalf("%d grant.revoked events for a stale revoke", n)
	}
}

func TestTargetOutageIsRetried(t *testing.T) {
	e := setup(t)
	e.flaky.fail.Store(2) // the first two SCIM calls fail
	req := request("r6", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r6", "grant-cmd-r6")
	waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r6"))
	if e.flaky.count.Load() != 2 {
		t.Fatalf("target failed %d calls, want 2", e.flaky.count.Load())
	}
	if m := e.target.Members(group); !slices.Equal(m, []string{dana}) {
		t.Fatalf("members = %v", m)
	}
}

func TestTargetDownForGoodFailsTheGrant(t *testing.T) {
	e := setup(t)
	e.flaky.fail.Store(1 << 20)
	req := request("r7", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r7", "grant-cmd-r7")
	failed := waitFor(e, provisioner.SubjectGrantFailed, newGrantChanged, active("g-r7")).GetGrant()
	if failed.GetStatus() != igav1.GrantStatus_GRANT_STATUS_FAILED || !strings.Contains(failed.GetFailure(), "maintenance") {
		t.Fatalf("grant.failed = %v", failed)
	}
	dl := waitFor(e, "iga.evt.provisioner-grant.failed", newDeadLetter, func(*igav1.DeadLetter) bool { return true })
	if dl.GetDeliveries() != 4 {
		t.Fatalf("dead-lettered after %d deliveries, want MaxAttempts 4", dl.GetDeliveries())
	}
	reply := waitFor(e, "iga.reply.slack.C-r7", newReply, func(*igav1.Reply) bool { return true })
	if !strings.Contains(reply.GetText(), "couldn't grant") {
		t.Fatalf("reply = %q", reply.GetText())
	}
}

func TestExtensionMovesExpiryOnce(t *testing.T) {
	e := setup(t)
	req := request("r8", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r8", "grant-cmd-r8")
	first := waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r8")).GetGrant()

	ext := request("r9", dana, viewer)
	ext.ExtendsGrantId = "g-r8"
	e.record(ext, decision(ext, igav1.Effect_EFFECT_ALLOW, 8*time.Hour), nil)
	e.grantCmd("r9", "grant-cmd-r9")
	ev := waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, func(g *igav1.GrantChanged) bool {
		return g.GetGrant().GetId() == "g-r8" && g.GetGrant().GetGeneration() == 2
	}).GetGrant()
	if !ev.GetExpiresAt().AsTime().After(first.GetExpiresAt().AsTime().Add(6 * time.Hour)) {
		t.Fatalf("extended expiry %s, first %s", ev.GetExpiresAt().AsTime(), first.GetExpiresAt().AsTime())
	}
	e.grantCmd("r9", "grant-cmd-r9-replay")
	e.drained()
	if g := e.grant("g-r8"); g.GetGeneration() != 2 || !proto.Equal(g.GetExpiresAt(), ev.GetExpiresAt()) {
		t.Fatalf("replayed extension changed the grant: %v", g)
	}
	if _, _, err := e.grants.Get(e.ctx, "g-r9"); err == nil {
		t.Fatal("an extension of an active grant made a second grant")
	}
	// The expiry scheduled for generation 1 is now stale.
	e.revokeCmd("g-r8", "expired", 1)
	e.drained()
	if m := e.target.Members(group); !slices.Equal(m, []string{dana}) {
		t.Fatalf("stale expiry removed extended access: %v", m)
	}
}

func TestManualGrantCompletesByTask(t *testing.T) {
	e := setup(t)
	req := request("r10", dana, clerk)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, 24*time.Hour), nil)
	e.grantCmd("r10", "grant-cmd-r10")
	task := waitFor(e, provisioner.SubjectTaskCreated, func() *igav1.ManualTask { return &igav1.ManualTask{} },
		func(*igav1.ManualTask) bool { return true })
	if task.GetAssigneeEmail() != marco || task.GetAction() != "grant" || task.GetPersonEmail() != dana || task.GetEntitlementId() != clerk {
		t.Fatalf("task = %v", task)
	}
	e.drained()
	if g := e.grant("g-r10"); g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_PENDING || g.GetExternalRef() != task.GetTaskId() {
		t.Fatalf("ledger before completion = %v", g)
	}
	if n := e.count(provisioner.SubjectGrantActive); n != 0 {
		t.Fatalf("manual grant active before its task was done")
	}
	waitFor(e, "iga.reply.slack.C-r10", newReply, func(r *igav1.Reply) bool { return strings.Contains(r.GetText(), "by hand") })

	done := &igav1.ManualTask{TaskId: task.GetTaskId(), Action: "grant", PersonEmail: dana, EntitlementId: clerk}
	if _, err := e.bus.Publish(e.ctx, provisioner.SubjectTaskCompleted, done); err != nil {
		t.Fatal(err)
	}
	g := waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r10")).GetGrant()
	if g.GetExpiresAt().AsTime().Sub(g.GetGrantedAt().AsTime()) != 24*time.Hour {
		t.Fatalf("manual grant = %v", g)
	}
}

func TestReconcileReportsUnmanagedMembers(t *testing.T) {
	e := setup(t)
	// Someone added marco to the group at the target, outside iga.
	c, err := scim.New(e.scimURL, token)
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.CreateUser(e.ctx, scim.User{UserName: marco})
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.CreateGroup(e.ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddMember(e.ctx, g.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	drifts, err := e.svc.Reconcile(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(drifts) != 1 || drifts[0].Kind != "unmanaged_member" || drifts[0].PersonEmail != marco || drifts[0].EntitlementID != viewer {
		t.Fatalf("drifts = %+v", drifts)
	}
	ev := waitFor(e, provisioner.SubjectDrift, newDrift, func(*igav1.ReconcileDrift) bool { return true })
	if ev.GetKind() != igav1.DriftKind_DRIFT_KIND_UNMANAGED_MEMBER || ev.GetPersonEmail() != marco || ev.GetGroup() != group {
		t.Fatalf("drift event = %v", ev)
	}
	if m := e.target.Members(group); !slices.Equal(m, []string{marco}) {
		t.Fatalf("reconciliation removed access it did not grant: %v", m)
	}
	// Reported once, not every round.
	if _, err := e.svc.Reconcile(e.ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := e.count(provisioner.SubjectDrift); n != 1 {
		t.Fatalf("%d drift events for one unmanaged member, want 1", n)
	}
}

func newDrift() *igav1.ReconcileDrift { return &igav1.ReconcileDrift{} }

func TestReconcileRevokesAccessHeldPastExpiry(t *testing.T) {
	e := setup(t)
	req := request("r11", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Second), nil)
	e.grantCmd("r11", "grant-cmd-r11")
	g := waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r11")).GetGrant()
	// No expiry service runs here: the grant lapses in the ledger but stays at the target.
	time.Sleep(time.Until(g.GetExpiresAt().AsTime()) + 100*time.Millisecond)
	drifts, err := e.svc.Reconcile(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(drifts) != 1 || drifts[0].Kind != provisioner.DriftExpiredPresent || drifts[0].GrantID != "g-r11" {
		t.Fatalf("drifts = %+v", drifts)
	}
	rev := waitFor(e, provisioner.SubjectGrantRevoked, newGrantChanged, active("g-r11")).GetGrant()
	if rev.GetRevokeReason() != "expired" {
		t.Fatalf("revoked = %v", rev)
	}
	if m := e.target.Members(group); len(m) != 0 {
		t.Fatalf("expired access still at the target: %v", m)
	}
	d := waitFor(e, provisioner.SubjectDrift, newDrift, func(*igav1.ReconcileDrift) bool { return true })
	if d.GetKind() != igav1.DriftKind_DRIFT_KIND_EXPIRED_PRESENT || d.GetGrantId() != "g-r11" {
		t.Fatalf("drift event = %v", d)
	}
}

// Access a current grant gives that the target lost (removed by hand at the IdP) is put
// back, and the difference is an event naming the grant.
func TestReconcileRestoresMissingAccess(t *testing.T) {
	e := setup(t)
	req := request("r13", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r13", "grant-cmd-r13")
	waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r13"))
	e.removeAtTarget(dana)

	drifts, err := e.svc.Reconcile(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(drifts) != 1 || drifts[0].Kind != provisioner.DriftMissingMember || drifts[0].GrantID != "g-r13" || drifts[0].PersonEmail != dana {
		t.Fatalf("drifts = %+v", drifts)
	}
	if m := e.target.Members(group); !slices.Equal(m, []string{dana}) {
		t.Fatalf("members after reconciliation = %v, want dana's access restored", m)
	}
	d := waitFor(e, provisioner.SubjectDrift, newDrift, func(*igav1.ReconcileDrift) bool { return true })
	if d.GetKind() != igav1.DriftKind_DRIFT_KIND_MISSING_MEMBER || d.GetGrantId() != "g-r13" || d.GetGroup() != group {
		t.Fatalf("drift event = %v", d)
	}
	if g := e.grant("g-r13"); g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE {
		t.Fatalf("ledger = %v", g)
	}
	// Nothing differs now.
	if drifts, err := e.svc.Reconcile(e.ctx); err != nil || len(drifts) != 0 {
		t.Fatalf("second round: %+v, %v", drifts, err)
	}
}

// A provisioner starting up reconciles at once: a target that lost its state while the
// service was down gets the access of current grants back without waiting an interval.
func TestStartUpReconcilesAtOnce(t *testing.T) {
	e := setup(t)
	req := request("r16", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r16", "grant-cmd-r16")
	waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r16"))
	e.removeAtTarget(dana)

	replica, err := provisioner.New(svc.Env{Name: "provisioner", Bus: e.bus, Dir: directory.New(snapshot()), Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		provisioner.Config{SCIMURL: e.scimURL, SCIMToken: token, SCIMTimeout: 5 * time.Second, MaxAttempts: 4, ReconcileInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := replica.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(replica.Stop)
	eventually(t, func() bool { return slices.Equal(e.target.Members(group), []string{dana}) })
	waitFor(e, provisioner.SubjectDrift, newDrift, func(d *igav1.ReconcileDrift) bool {
		return d.GetKind() == igav1.DriftKind_DRIFT_KIND_MISSING_MEMBER && d.GetGrantId() == "g-r16"
	})
}

// A restore that races the grant's revoke never leaves access behind: when the grant
// ends while its access is being put back, the restore takes it away again.
func TestRestoreRacingARevokeLeavesNoAccess(t *testing.T) {
	e := setup(t)
	req := request("r14", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r14", "grant-cmd-r14")
	waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r14"))
	e.removeAtTarget(dana)

	// The revoke finishes (the access is already gone; the ledger records REVOKED) just
	// as the restore's re-add reaches the target.
	var once sync.Once
	hook := func(r *http.Request, body []byte) {
		if r.Method == http.MethodPatch && bytes.Contains(body, []byte(`"add"`)) {
			once.Do(func() {
				if _, err := e.grants.Update(e.ctx, "g-r14", false, func(g *igav1.Grant) (*igav1.Grant, error) {
					g.Status, g.RevokeReason = igav1.GrantStatus_GRANT_STATUS_REVOKED, "relinquished"
					return g, nil
				}); err != nil {
					t.Error(err)
				}
			})
		}
	}
	e.flaky.after.Store(&hook)
	drifts, err := e.svc.Reconcile(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(drifts) != 1 || drifts[0].Kind != provisioner.DriftMissingMember {
		t.Fatalf("drifts = %+v", drifts)
	}
	if m := e.target.Members(group); len(m) != 0 {
		t.Fatalf("access restored for a grant that ended meanwhile: %v", m)
	}
}

// A revoke that races a restore never leaves access behind: access put back between
// the revoke's removal and its ledger record is found and removed after the record.
func TestRevokeRacingARestoreLeavesNoAccess(t *testing.T) {
	e := setup(t)
	req := request("r15", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r15", "grant-cmd-r15")
	waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r15"))

	// Right after the revoke has removed the membership and read the group back (so it
	// confirms the removal), a restore puts it back.
	var removed, once atomic.Bool
	hook := func(r *http.Request, body []byte) {
		switch {
		case r.Method == http.MethodPatch && bytes.Contains(body, []byte(`"remove"`)):
			removed.Store(true)
		case r.Method == http.MethodGet && removed.Load() && strings.Contains(r.URL.Path, "/Groups/") && once.CompareAndSwap(false, true):
			if err := e.atTarget(dana, true); err != nil {
				t.Error(err)
			}
		}
	}
	e.flaky.after.Store(&hook)
	e.revokeCmd("g-r15", "relinquished", 1)
	waitFor(e, provisioner.SubjectGrantRevoked, newGrantChanged, active("g-r15"))
	if !once.Load() {
		t.Fatal("the restore was never simulated")
	}
	if m := e.target.Members(group); len(m) != 0 {
		t.Fatalf("access left at the target after its grant was revoked: %v", m)
	}
}

func eventually(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 10s")
}

func TestWebhookGrantAndRevoke(t *testing.T) {
	e := setup(t)
	req := request("r12", dana, stripeViewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r12", "grant-cmd-r12")
	g := waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r12")).GetGrant()
	if g.GetExternalRef() != "CHG-1" || g.GetConnector() != igav1.ProvisioningMethod_PROVISIONING_METHOD_WEBHOOK {
		t.Fatalf("grant = %v", g)
	}
	e.revokeCmd("g-r12", "relinquished", 1)
	waitFor(e, provisioner.SubjectGrantRevoked, newGrantChanged, active("g-r12"))
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.hooks) != 2 || e.hooks[0].Action != "grant" || e.hooks[1].Action != "revoke" ||
		e.hooks[0].Person.Email != dana || e.hooks[0].Entitlement.ID != stripeViewer {
		t.Fatalf("webhook received %+v", e.hooks)
	}
}

// EntitlementsService over a real gRPC connection, as the agent calls it.
func TestEntitlementsServiceOverGRPC(t *testing.T) {
	e := setup(t)
	req := request("r13", dana, viewer)
	e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
	e.grantCmd("r13", "grant-cmd-r13")
	waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-r13"))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	e.svc.RegisterGRPC(srv)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := igav1.NewEntitlementsServiceClient(conn)

	eventually(t, func() bool {
		r, err := client.CheckAccess(e.ctx, &igav1.CheckAccessRequest{PersonEmail: dana, EntitlementId: viewer})
		return err == nil && r.GetHasAccess() && r.GetGrant().GetExpiresAt() != nil
	})
	_, err = client.CheckAccess(e.ctx, &igav1.CheckAccessRequest{EntitlementId: viewer})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("missing person: %v, want InvalidArgument", err)
	}
	e.revokeCmd("g-r13", "relinquished", 0)
	waitFor(e, provisioner.SubjectGrantRevoked, newGrantChanged, active("g-r13"))
	eventually(t, func() bool {
		r, err := client.ListGrants(e.ctx, &igav1.ListGrantsRequest{PersonEmail: dana})
		return err == nil && len(r.GetGrants()) == 0
	})
	all, err := client.ListGrants(e.ctx, &igav1.ListGrantsRequest{PersonEmail: dana, IncludeInactive: true})
	if err != nil || len(all.GetGrants()) != 1 || all.GetGrants()[0].GetStatus() != igav1.GrantStatus_GRANT_STATUS_REVOKED ||
		all.GetGrants()[0].GetRevokeReason() != "relinquished" {
		t.Fatalf("ListGrants(include_inactive) = %v, %v", all, err)
	}
}

func TestRevokingOneOfTwoGrantsKeepsTheAccess(t *testing.T) {
	e := setup(t)
	for _, id := range []string{"r14", "r15"} {
		req := request(id, dana, viewer)
		e.record(req, decision(req, igav1.Effect_EFFECT_ALLOW, time.Hour), nil)
		e.grantCmd(id, "grant-cmd-"+id)
		waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active("g-"+id))
	}
	eventually(t, func() bool {
		l, _ := e.svc.ListGrants(e.ctx, &igav1.ListGrantsRequest{PersonEmail: dana})
		return len(l.GetGrants()) == 2
	})
	e.revokeCmd("g-r14", "relinquished", 1)
	first := waitFor(e, provisioner.SubjectGrantRevoked, newGrantChanged, active("g-r14")).GetGrant()
	if first.GetRevokeReason() != "relinquished (access continues under grant g-r15)" {
		t.Fatalf("revoke reason = %q", first.GetRevokeReason())
	}
	if m := e.target.Members(group); !slices.Equal(m, []string{dana}) {
		t.Fatalf("revoking one grant removed access another still gives: %v", m)
	}
	e.revokeCmd("g-r15", "expired", 1)
	waitFor(e, provisioner.SubjectGrantRevoked, newGrantChanged, active("g-r15"))
	if m := e.target.Members(group); len(m) != 0 {
		t.Fatalf("members after both revoked = %v", m)
	}
}
