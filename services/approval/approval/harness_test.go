package approval_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/bus/bustest"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/approval/approval"
)

const (
	dana   = "dana.reyes@acme.example"
	marco  = "marco.bianchi@acme.example"
	olivia = "olivia.chen@acme.example"
	sam    = "sam.patel@acme.example"
	priya  = "priya.nair@acme.example"
	lee    = "lee.kim@acme.example"
	kai    = "kai.tanaka@acme.example"
	ivy    = "ivy.owens@acme.example"
)

func testDirectory() *directory.Directory {
	person := func(email, name, manager string, groups ...string) *igav1.Person {
		return &igav1.Person{Email: email, Name: name, ManagerEmail: manager, Groups: groups, Status: "active"}
	}
	people := []*igav1.Person{
		person(dana, "Dana Reyes", marco, "finance", "all-staff"),
		person(marco, "Marco Bianchi", olivia, "finance"),
		person(olivia, "Olivia Chen", "", "finance"),
		person(sam, "Sam Patel", priya, "engineering"),
		person(priya, "Priya Nair", "", "engineering"),
		person(lee, "Lee Kim", priya, "security"),
		person(kai, "Kai Tanaka", priya, "security"),
		person(ivy, "Ivy Owens", "", "finance"),
	}
	apps := []*igav1.App{
		{Id: "grafana", Name: "Grafana", OwnerEmail: marco},
		{Id: "snowflake", Name: "Snowflake", OwnerEmail: olivia},
		{Id: "aws-prod", Name: "AWS production", OwnerEmail: priya},
		{Id: "stripe", Name: "Stripe", OwnerEmail: olivia},
		{Id: "netsuite", Name: "NetSuite", OwnerEmail: marco},
		{Id: "vault", Name: "Vault", OwnerEmail: priya},
	}
	ents := []*igav1.Entitlement{
		{Id: "grafana:payments-viewer", AppId: "grafana", Name: "payments-viewer", Level: "read", Risk: "low"},
		{Id: "snowflake:analyst", AppId: "snowflake", Name: "analyst", Level: "read", Risk: "medium"},
		{Id: "aws-prod:poweruser", AppId: "aws-prod", Name: "poweruser", Level: "write", Risk: "high"},
		{Id: "aws-prod:admin", AppId: "aws-prod", Name: "admin", Level: "admin", Risk: "critical"},
		{Id: "stripe:admin", AppId: "stripe", Name: "admin", Level: "admin", Risk: "critical"},
		{Id: "netsuite:ap-approver", AppId: "netsuite", Name: "ap-approver", Level: "write", Risk: "high"},
		{Id: "vault:root", AppId: "vault", Name: "root", Level: "admin", Risk: "critical"},
		{Id: "vault:break-glass", AppId: "vault", Name: "break-glass", Level: "admin", Risk: "critical"},
		{Id: "vault:unreviewable", AppId: "vault", Name: "unreviewable", Level: "admin", Risk: "critical"},
	}
	return directory.New(directory.NewSnapshot(people, apps, ents))
}

func approvalStep(kind igav1.ApproverKind, stage int32) *igav1.ApprovalStep {
	return &igav1.ApprovalStep{Kind: kind, Stage: stage}
}

// policyRules is the fake policy: one decision per entitlement.
var policyRules = map[string]*igav1.PolicyDecision{
	"grafana:payments-viewer": {Effect: igav1.Effect_EFFECT_ALLOW, Reason: "read access to low-risk dashboards is pre-approved"},
	"stripe:admin": {Effect: igav1.Effect_EFFECT_DENY, Reason: "Stripe admin is reserved for the payments platform team.",
		Remediation: []string{"join the payments-platform group"}},
	"snowflake:analyst": {Effect: igav1.Effect_EFFECT_REQUIRE_APPROVAL, Reason: "Snowflake analyst needs manager approval",
		ApprovalSteps: []*igav1.ApprovalStep{approvalStep(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1)}},
	"netsuite:ap-approver": {Effect: igav1.Effect_EFFECT_REQUIRE_APPROVAL, Reason: "NetSuite AP approver needs manager approval",
		ApprovalSteps: []*igav1.ApprovalStep{approvalStep(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1)}},
	"aws-prod:poweruser": {Effect: igav1.Effect_EFFECT_REQUIRE_APPROVAL, Reason: "two security engineers must agree",
		ApprovalSteps: []*igav1.ApprovalStep{{Kind: igav1.ApproverKind_APPROVER_KIND_SECURITY, Stage: 1, Quorum: 2}}},
	"aws-prod:admin": {Effect: igav1.Effect_EFFECT_REQUIRE_APPROVAL, Reason: "production admin needs the manager, then security",
		ApprovalSteps: []*igav1.ApprovalStep{
			approvalStep(igav1.ApproverKind_APPROVER_KIND_SECURITY, 2),
			approvalStep(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1),
		}},
	// Break-glass allows: reviewed by security (a decision recorded before policy named
	// reviewers), by security and the manager, and by a group nobody is in.
	"vault:root": {Effect: igav1.Effect_EFFECT_ALLOW, Reason: "Allowed as an emergency (break-glass) for at most 1h: on call. The grant will be reviewed after the fact.",
		MatchedRules: []*igav1.RuleMatch{{RuleId: "break-glass", Effect: igav1.Effect_EFFECT_ALLOW}}},
	"vault:break-glass": {Effect: igav1.Effect_EFFECT_ALLOW, Reason: "Allowed as an emergency (break-glass) for at most 1h: on call. The grant will be reviewed after the fact.",
		MatchedRules: []*igav1.RuleMatch{{RuleId: "break-glass", Effect: igav1.Effect_EFFECT_ALLOW}},
		ReviewSteps:  []*igav1.ApprovalStep{approvalStep(igav1.ApproverKind_APPROVER_KIND_SECURITY, 1), approvalStep(igav1.ApproverKind_APPROVER_KIND_MANAGER, 1)}},
	"vault:unreviewable": {Effect: igav1.Effect_EFFECT_ALLOW, Reason: "Allowed as an emergency (break-glass) for at most 1h: on call.",
		MatchedRules: []*igav1.RuleMatch{{RuleId: "break-glass", Effect: igav1.Effect_EFFECT_ALLOW}},
		ReviewSteps:  []*igav1.ApprovalStep{{Kind: igav1.ApproverKind_APPROVER_KIND_GROUP, Group: "nobody", Stage: 1}}},
}

// fakePolicy is a PolicyService over real gRPC that records decisions like the real one:
// once per request in iga_decisions.
type fakePolicy struct {
	igav1.UnimplementedPolicyServiceServer
	decisions *bus.Store[*igav1.PolicyDecision]
	// down makes this many calls fail with Unavailable.
	down  atomic.Int32
	calls atomic.Int32
}

func (f *fakePolicy) Evaluate(ctx context.Context, in *igav1.EvaluateRequest) (*igav1.EvaluateResponse, error) {
	f.calls.Add(1)
	if f.down.Add(-1) >= 0 {
		return nil, status.Error(codes.Unavailable, "policy is restarting")
	}
	req := in.GetRequest()
	rule, ok := policyRules[req.GetEntitlementId()]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "entitlement %q is not in the catalog", req.GetEntitlementId())
	}
	d := proto.Clone(rule).(*igav1.PolicyDecision)
	d.RequestId, d.BeneficiaryEmail, d.EntitlementId = req.GetId(), req.GetBeneficiaryEmail(), req.GetEntitlementId()
	d.GrantedDuration, d.DecidedAt = req.GetDuration(), timestamppb.Now()
	if in.GetRecord() {
		if _, err := f.decisions.Create(ctx, req.GetId(), d); errors.Is(err, bus.ErrExists) {
			d, _, err = f.decisions.Get(ctx, req.GetId())
			if err != nil {
				return nil, status.Error(codes.Internal, err.Error())
			}
		} else if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
	}
	return &igav1.EvaluateResponse{Decision: d}, nil
}

type harness struct {
	bus        *bus.Bus
	svc        *approval.Service
	policy     *fakePolicy
	approvals  igav1.ApprovalServiceClient
	requests   igav1.RequestsServiceClient
	delegation igav1.ApprovalDelegationServiceClient
	reqStore   *bus.Store[*igav1.AccessRequest]
	grants     *bus.Store[*igav1.Grant]
	apprStore  *bus.Store[*igav1.Approval]
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newHarness runs the approval service on an embedded NATS with a fake policy, both
// served on one real gRPC listener as in `iga dev`.
func newHarness(t *testing.T, cfg ...approval.Config) *harness {
	t.Helper()
	ctx := ctxT(t)
	b := bustest.New(t)
	h := &harness{bus: b, policy: &fakePolicy{}}
	var err error
	if h.policy.decisions, err = bus.OpenStore(ctx, b, bus.BucketDecisions, func() *igav1.PolicyDecision { return &igav1.PolicyDecision{} }); err != nil {
		t.Fatal(err)
	}
	if h.reqStore, err = bus.OpenStore(ctx, b, bus.BucketRequests, func() *igav1.AccessRequest { return &igav1.AccessRequest{} }); err != nil {
		t.Fatal(err)
	}
	if h.grants, err = bus.OpenStore(ctx, b, bus.BucketGrants, func() *igav1.Grant { return &igav1.Grant{} }); err != nil {
		t.Fatal(err)
	}
	if h.apprStore, err = bus.OpenStore(ctx, b, bus.BucketApprovals, func() *igav1.Approval { return &igav1.Approval{} }); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := svc.DialUpstream(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	env := svc.Env{Name: "approval", Bus: b, Dir: testDirectory(), Conn: conn,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c := approval.Config{PolicyTimeout: 5 * time.Second, Workers: 2}
	if len(cfg) > 0 {
		c = cfg[0]
	}
	h.svc, err = approval.New(env, c)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	igav1.RegisterPolicyServiceServer(g, h.policy)
	h.svc.RegisterGRPC(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	if err := h.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.svc.Stop)
	h.approvals = igav1.NewApprovalServiceClient(conn)
	h.requests = igav1.NewRequestsServiceClient(conn)
	h.delegation = igav1.NewApprovalDelegationServiceClient(conn)
	return h
}

func newRequest(id, requester, beneficiary, ent string) *igav1.AccessRequest {
	return &igav1.AccessRequest{
		Id: id, RequesterEmail: requester, BeneficiaryEmail: beneficiary, EntitlementId: ent,
		Duration: durationpb.New(8 * time.Hour), Justification: "month-end close",
		Channel: "slack", ConversationId: "conv-" + id, CreatedAt: timestamppb.Now(),
	}
}

// submit stores the request as the agent does and publishes request.submitted with the
// given event id.
func (h *harness) submit(t *testing.T, req *igav1.AccessRequest, eventID string) {
	t.Helper()
	ctx := ctxT(t)
	if _, err := h.reqStore.Create(ctx, req.GetId(), req); err != nil && !errors.Is(err, bus.ErrExists) {
		t.Fatal(err)
	}
	if _, err := h.bus.Publish(ctx, approval.SubjectRequestSubmitted, &igav1.RequestSubmitted{Request: req},
		bus.WithID(eventID), bus.WithRequestID(req.GetId())); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or 15s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// last waits for the newest message on subject in stream and decodes it into body.
func (h *harness) last(t *testing.T, stream, subject string, body proto.Message) bus.Meta {
	t.Helper()
	ctx := ctxT(t)
	s, err := h.bus.JetStream().Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var msg *jetstream.RawStreamMsg
	eventually(t, "a message on "+subject, func() bool {
		msg, err = s.GetLastMsgForSubject(ctx, subject)
		return err == nil
	})
	if err := bus.Decode(msg.Header, msg.Data, body); err != nil {
		t.Fatalf("decode %s: %v", subject, err)
	}
	return bus.MetaOf(subject, msg.Header)
}

// count is how many messages stream holds on subject.
func (h *harness) count(t *testing.T, stream, subject string) uint64 {
	t.Helper()
	ctx := ctxT(t)
	s, err := h.bus.JetStream().Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// idle waits until the service has handled (acknowledged) every submitted request.
func (h *harness) idle(t *testing.T) {
	t.Helper()
	ctx := ctxT(t)
	eventually(t, "the approval-requests consumer to drain", func() bool {
		c, err := h.bus.JetStream().Consumer(ctx, bus.StreamEvents, approval.DurableRequests)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Consumer > 0
	})
}

// approval waits for the request's approval record to exist and returns it.
func (h *harness) approval(t *testing.T, id string) *igav1.Approval {
	t.Helper()
	ctx := ctxT(t)
	var a *igav1.Approval
	eventually(t, "approval "+id, func() bool {
		var err error
		a, _, err = h.apprStore.Get(ctx, id)
		return err == nil
	})
	return a
}

func (h *harness) decide(t *testing.T, id, who string, approve bool) (*igav1.Approval, error) {
	t.Helper()
	resp, err := h.approvals.Decide(ctxT(t), &igav1.DecideRequest{ApprovalId: id, ApproverEmail: who, Approve: approve, Reason: "checked the ticket"})
	return resp.GetApproval(), err
}

func replySubject(id string) string { return "iga.reply.slack.conv-" + id }
