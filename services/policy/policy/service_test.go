package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/bus/bustest"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
)

// testSnapshot is a small directory: the personas and entitlements the test policy names.
func testSnapshot() *directory.Snapshot {
	people := []*igav1.Person{
		{Email: "dana.reyes@acme.example", Department: "Finance", ManagerEmail: "marco.bianchi@acme.example",
			Groups: []string{"finance"}, EmploymentType: "employee", Status: "active", TimeZone: "America/New_York"},
		{Email: "marco.bianchi@acme.example", Department: "Finance", EmploymentType: "employee", Status: "active"},
		{Email: "sam.patel@acme.example", Department: "Engineering", ManagerEmail: "priya.nair@acme.example",
			Groups: []string{"engineering", "oncall"}, EmploymentType: "employee", Status: "active"},
		{Email: "priya.nair@acme.example", Department: "Engineering", EmploymentType: "employee", Status: "active"},
	}
	apps := []*igav1.App{
		{Id: "grafana", OwnerEmail: "marco.bianchi@acme.example"},
		{Id: "netsuite", OwnerEmail: "marco.bianchi@acme.example"},
		{Id: "aws-prod", OwnerEmail: "priya.nair@acme.example", Tags: []string{"prod"}},
		{Id: "snowflake", OwnerEmail: "priya.nair@acme.example"},
	}
	ents := []*igav1.Entitlement{
		{Id: "grafana:payments-viewer", AppId: "grafana", Level: "read", Risk: "low", MaxDuration: durationpb.New(90 * 24 * time.Hour)},
		{Id: "snowflake:analyst", AppId: "snowflake", Level: "read", Risk: "medium"},
		{Id: "netsuite:ap-clerk", AppId: "netsuite", Level: "write", Risk: "medium"},
		{Id: "netsuite:ap-approver", AppId: "netsuite", Level: "write", Risk: "medium"},
		{Id: "aws-prod:admin", AppId: "aws-prod", Level: "admin", Risk: "critical"},
	}
	return directory.NewSnapshot(people, apps, ents)
}

type harness struct {
	svc    *Service
	client igav1.PolicyServiceClient
	admin  igav1.PolicyAdminServiceClient
	bus    *bus.Bus
	file   string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	b := bustest.New(t)
	data, err := os.ReadFile("../engine/testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	env := svc.Env{Name: "policy", Bus: b, Dir: directory.New(testSnapshot()), Log: slog.New(slog.DiscardHandler)}
	s, err := New(env, Config{PolicyFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)

	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	s.RegisterGRPC(gs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &harness{svc: s, client: igav1.NewPolicyServiceClient(conn), admin: igav1.NewPolicyAdminServiceClient(conn), bus: b, file: file}
}

// events returns the messages stored on subject, oldest first.
func (h *harness) events(t *testing.T, subject string) []jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	st, err := h.bus.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		if m.Subject == subject {
			out = append(out, *m)
		}
	}
	return out
}

func TestEvaluateRecordsOnceAndPublishes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ar := &igav1.AccessRequest{Id: "req-1", RequesterEmail: "sam.patel@acme.example",
		BeneficiaryEmail: "sam.patel@acme.example", EntitlementId: "snowflake:analyst"}

	first, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: ar, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	d := first.GetDecision()
	if d.GetEffect() != igav1.Effect_EFFECT_REQUIRE_APPROVAL || len(d.GetApprovalSteps()) != 1 ||
		d.GetApprovalSteps()[0].GetKind() != igav1.ApproverKind_APPROVER_KIND_MANAGER {
		t.Fatalf("decision %v", d)
	}
	if d.GetGrantedDuration().AsDuration() != 8*time.Hour || d.GetPolicyVersion() == "" || d.GetRequestId() != "req-1" {
		t.Fatalf("granted %v version %q", d.GetGrantedDuration().AsDuration(), d.GetPolicyVersion())
	}
	if len(d.GetMatchedRules()) == 0 || !strings.Contains(d.GetMatchedRules()[0].GetSource(), "policy.yaml:") {
		t.Fatalf("matched rules %v", d.GetMatchedRules())
	}

	// A second evaluation of the same request, even asking differently, returns the record.
	again := proto.Clone(ar).(*igav1.AccessRequest)
	again.Duration = durationpb.New(time.Hour)
	second, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: again, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(second.GetDecision(), d) {
		t.Fatalf("second evaluation %v differs from the record %v", second.GetDecision(), d)
	}
	got, err := h.client.GetDecision(ctx, &igav1.GetDecisionRequest{RequestId: "req-1"})
	if err != nil || !proto.Equal(got.GetDecision(), d) {
		t.Fatalf("GetDecision = %v, %v", got.GetDecision(), err)
	}

	evs := h.events(t, SubjectDecided)
	if len(evs) != 1 {
		t.Fatalf("%d decided events, want exactly 1", len(evs))
	}
	if evs[0].Header.Get(bus.HeaderRequestID) != "req-1" || evs[0].Header.Get(bus.HeaderID) != "policy-decided-req-1" {
		t.Fatalf("event headers %v", evs[0].Header)
	}
	var ev igav1.PolicyDecided
	if err := bus.Decode(evs[0].Header, evs[0].Data, &ev); err != nil || !proto.Equal(ev.GetDecision(), d) {
		t.Fatalf("event body %v, %v", ev.GetDecision(), err)
	}
}

func TestEvaluateWithoutRecordStoresNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	resp, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: &igav1.AccessRequest{Id: "preview-1",
		RequesterEmail: "dana.reyes@acme.example", EntitlementId: "grafana:payments-viewer"}})
	if err != nil || resp.GetDecision().GetEffect() != igav1.Effect_EFFECT_ALLOW {
		t.Fatalf("preview %v, %v", resp.GetDecision(), err)
	}
	if _, err := h.client.GetDecision(ctx, &igav1.GetDecisionRequest{RequestId: "preview-1"}); status.Code(err) != codes.NotFound {
		t.Fatalf("preview recorded: %v", err)
	}
	if n := len(h.events(t, SubjectDecided)); n != 0 {
		t.Fatalf("%d events for a preview", n)
	}
}

func TestBadRequestsAreInvalidArgumentAndNeverRecorded(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tests := []struct {
		name string
		ar   *igav1.AccessRequest
		want string
	}{
		{"no request", nil, "request is missing"},
		{"unknown person", &igav1.AccessRequest{Id: "r1", RequesterEmail: "mallory@evil.example", EntitlementId: "grafana:payments-viewer"}, "mallory@evil.example is not in the directory"},
		{"unknown requester", &igav1.AccessRequest{Id: "r2", RequesterEmail: "mallory@evil.example", BeneficiaryEmail: "dana.reyes@acme.example", EntitlementId: "grafana:payments-viewer"}, "requester mallory@evil.example"},
		{"unknown entitlement", &igav1.AccessRequest{Id: "r3", RequesterEmail: "dana.reyes@acme.example", EntitlementId: "grafana:god-mode"}, "\"grafana:god-mode\" is not in the catalog"},
		{"no entitlement", &igav1.AccessRequest{Id: "r4", RequesterEmail: "dana.reyes@acme.example"}, "names no entitlement"},
		{"negative duration", &igav1.AccessRequest{Id: "r5", RequesterEmail: "dana.reyes@acme.example", EntitlementId: "grafana:payments-viewer", Duration: durationpb.New(-time.Hour)}, "not a positive duration"},
		{"record without id", &igav1.AccessRequest{RequesterEmail: "dana.reyes@acme.example", EntitlementId: "grafana:payments-viewer"}, "needs the request id"},
		{"id that cannot be a key", &igav1.AccessRequest{Id: "req 1/*", RequesterEmail: "dana.reyes@acme.example", EntitlementId: "grafana:payments-viewer"}, "may only contain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: tc.ar, Record: true})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Fatalf("err = %v, want InvalidArgument containing %q", err, tc.want)
			}
			if tc.ar.GetId() != "" {
				if _, err := h.client.GetDecision(ctx, &igav1.GetDecisionRequest{RequestId: tc.ar.GetId()}); status.Code(err) != codes.NotFound && status.Code(err) != codes.InvalidArgument {
					t.Fatalf("a decision was recorded: %v", err)
				}
			}
		})
	}
	if n := len(h.events(t, SubjectDecided)); n != 0 {
		t.Fatalf("%d events published for bad requests", n)
	}
}

func TestHeldAccessFromTheLedgerDrivesSoD(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	grants, err := bus.OpenStore(ctx, h.bus, bus.BucketGrants, func() *igav1.Grant { return &igav1.Grant{} })
	if err != nil {
		t.Fatal(err)
	}
	ar := &igav1.AccessRequest{Id: "req-sod", RequesterEmail: "dana.reyes@acme.example", EntitlementId: "netsuite:ap-approver"}
	before, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: ar})
	if err != nil || before.GetDecision().GetEffect() != igav1.Effect_EFFECT_REQUIRE_APPROVAL {
		t.Fatalf("before holding the clerk role: %v, %v", before.GetDecision(), err)
	}
	if _, err := grants.Put(ctx, "g-old", &igav1.Grant{Id: "g-old", PersonEmail: "dana.reyes@acme.example",
		EntitlementId: "netsuite:ap-clerk", Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE}); err != nil {
		t.Fatal(err)
	}
	var d *igav1.PolicyDecision
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: ar})
		if err != nil {
			t.Fatal(err)
		}
		if d = resp.GetDecision(); d.GetEffect() == igav1.Effect_EFFECT_DENY {
			break
		}
	}
	if d.GetEffect() != igav1.Effect_EFFECT_DENY || !strings.Contains(d.GetReason(), "netsuite:ap-clerk") ||
		!strings.Contains(d.GetReason(), "netsuite:ap-approver") || len(d.GetRemediation()) == 0 {
		t.Fatalf("with the clerk role held: %v", d)
	}
	if d.GetGrantedDuration() != nil {
		t.Fatalf("a denial grants %v", d.GetGrantedDuration().AsDuration())
	}

	// Revoked access no longer conflicts.
	if _, err := grants.Put(ctx, "g-old", &igav1.Grant{Id: "g-old", PersonEmail: "dana.reyes@acme.example",
		EntitlementId: "netsuite:ap-clerk", Status: igav1.GrantStatus_GRANT_STATUS_REVOKED}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: ar})
		if err != nil {
			t.Fatal(err)
		}
		if d = resp.GetDecision(); d.GetEffect() != igav1.Effect_EFFECT_DENY {
			break
		}
	}
	if d.GetEffect() != igav1.Effect_EFFECT_REQUIRE_APPROVAL {
		t.Fatalf("after revocation: %v", d)
	}
}

func TestPendingApprovalCountsForSoD(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	approvals, err := bus.OpenStore(ctx, h.bus, bus.BucketApprovals, func() *igav1.Approval { return &igav1.Approval{} })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := approvals.Put(ctx, "req-clerk", &igav1.Approval{Id: "req-clerk", RequestId: "req-clerk",
		BeneficiaryEmail: "dana.reyes@acme.example", EntitlementId: "netsuite:ap-clerk",
		Status: igav1.ApprovalStatus_APPROVAL_STATUS_PENDING}); err != nil {
		t.Fatal(err)
	}
	ar := &igav1.AccessRequest{Id: "req-approver", RequesterEmail: "dana.reyes@acme.example", EntitlementId: "netsuite:ap-approver"}
	var d *igav1.PolicyDecision
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: ar})
		if err != nil {
			t.Fatal(err)
		}
		if d = resp.GetDecision(); d.GetEffect() == igav1.Effect_EFFECT_DENY {
			break
		}
	}
	if d.GetEffect() != igav1.Effect_EFFECT_DENY || !strings.Contains(d.GetReason(), "waiting for") {
		t.Fatalf("with the clerk role pending: %v", d)
	}
	// The pending approval of the request itself is not a conflict with itself.
	own := &igav1.AccessRequest{Id: "req-clerk", RequesterEmail: "dana.reyes@acme.example", EntitlementId: "netsuite:ap-clerk"}
	resp, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: own})
	if err != nil || resp.GetDecision().GetEffect() != igav1.Effect_EFFECT_REQUIRE_APPROVAL {
		t.Fatalf("own request: %v, %v", resp.GetDecision(), err)
	}
}

func TestBreakGlassIsLoud(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ar := &igav1.AccessRequest{Id: "req-bg", RequesterEmail: "sam.patel@acme.example", EntitlementId: "aws-prod:admin",
		Emergency: true, Justification: "sev1 payments outage", TicketRef: "INC-77", Duration: durationpb.New(4 * time.Hour)}
	resp, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: ar, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetDecision()
	if d.GetEffect() != igav1.Effect_EFFECT_ALLOW || d.GetGrantedDuration().AsDuration() != time.Hour || !IsBreakGlass(d) {
		t.Fatalf("break-glass decision %v", d)
	}
	evs := h.events(t, SubjectBreakGlass)
	if len(evs) != 1 {
		t.Fatalf("%d break-glass events", len(evs))
	}
	var ev igav1.PolicyBreakGlass
	if err := bus.Decode(evs[0].Header, evs[0].Data, &ev); err != nil || !ev.GetReviewRequired() || ev.GetRequest().GetId() != "req-bg" {
		t.Fatalf("break-glass event %v, %v", &ev, err)
	}
}

func TestReloadKeepsAWorkingPolicy(t *testing.T) {
	h := newHarness(t)
	v1 := h.svc.Policy().Version
	info, err := h.admin.GetPolicy(context.Background(), &igav1.GetPolicyRequest{})
	if err != nil || info.GetVersion() != v1 || info.GetRules() != 8 || info.GetSodConstraints() != 2 || !info.GetBreakGlass() ||
		info.GetFile() != h.file || info.GetRefusedError() != "" {
		t.Fatalf("GetPolicy: %v, %v", info, err)
	}
	// The test directory has no Stripe: the policy's Stripe rules are flagged.
	if len(info.GetWarnings()) != 4 || !strings.Contains(info.GetWarnings()[0], "stripe:viewer is not in the catalog") {
		t.Fatalf("GetPolicy: %v, %v", info, err)
	}
	if h.svc.Reload() {
		t.Fatal("reloaded an unchanged file")
	}
	if err := os.WriteFile(h.file, []byte("rules:\n  - id: broken\n    effect: allow\n    when: person.shoe_size > 3\n    reason: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if h.svc.Reload() || h.svc.Policy().Version != v1 {
		t.Fatal("an invalid policy replaced the working one")
	}
	info, err = h.admin.GetPolicy(context.Background(), &igav1.GetPolicyRequest{})
	if err != nil || info.GetVersion() != v1 || !strings.Contains(info.GetRefusedError(), "policy.yaml:4:") || info.GetRefusedAt() == nil {
		t.Fatalf("GetPolicy after a refused change: %v, %v", info, err)
	}
	good := "rules:\n  - id: everything-denied\n    effect: deny\n    reason: Frozen for the audit.\n"
	if err := os.WriteFile(h.file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if !h.svc.Reload() || h.svc.Policy().Version == v1 {
		t.Fatal("a valid change was not put in force")
	}
	info, err = h.admin.GetPolicy(context.Background(), &igav1.GetPolicyRequest{})
	if err != nil || info.GetVersion() != h.svc.Policy().Version || info.GetRefusedError() != "" || info.GetRules() != 1 {
		t.Fatalf("GetPolicy after a valid change: %v, %v", info, err)
	}
	resp, err := h.client.Evaluate(context.Background(), &igav1.EvaluateRequest{Request: &igav1.AccessRequest{
		Id: "after-reload", RequesterEmail: "dana.reyes@acme.example", EntitlementId: "grafana:payments-viewer"}})
	if err != nil || resp.GetDecision().GetEffect() != igav1.Effect_EFFECT_DENY || resp.GetDecision().GetPolicyVersion() != h.svc.Policy().Version {
		t.Fatalf("after reload: %v, %v", resp.GetDecision(), err)
	}
}

func TestNewRefusesAnInvalidPolicy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(file, []byte("rules:\n  - id: r\n    effect: allow\n    reason: x\n    max_duration: forever\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(svc.Env{Dir: directory.New(testSnapshot())}, Config{PolicyFile: file})
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:5:") {
		t.Fatalf("New = %v, want an error naming bad.yaml:5", err)
	}
	if _, err := New(svc.Env{Dir: directory.New(testSnapshot())}, Config{PolicyFile: filepath.Join(t.TempDir(), "missing.yaml")}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestRecordedDecisionCountsAsPendingForSoD(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	// The clerk request is decided (needs approval) but approval has not recorded anything yet.
	clerk := &igav1.AccessRequest{Id: "req-clerk", RequesterEmail: "dana.reyes@acme.example", EntitlementId: "netsuite:ap-clerk"}
	resp, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: clerk, Record: true})
	if err != nil || resp.GetDecision().GetEffect() != igav1.Effect_EFFECT_REQUIRE_APPROVAL {
		t.Fatalf("clerk: %v, %v", resp.GetDecision(), err)
	}
	approver := &igav1.AccessRequest{Id: "req-approver", RequesterEmail: "dana.reyes@acme.example", EntitlementId: "netsuite:ap-approver"}
	var d *igav1.PolicyDecision
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Request: approver})
		if err != nil {
			t.Fatal(err)
		}
		if d = resp.GetDecision(); d.GetEffect() == igav1.Effect_EFFECT_DENY {
			break
		}
	}
	if d.GetEffect() != igav1.Effect_EFFECT_DENY || !strings.Contains(d.GetReason(), "waiting for") {
		t.Fatalf("approver while the clerk request is decided: %v", d)
	}
}

func TestConflictingRequestsDecidedAtOnce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	effects := make(chan igav1.Effect, 2)
	for i, ent := range []string{"netsuite:ap-clerk", "netsuite:ap-approver"} {
		go func() {
			resp, err := h.client.Evaluate(ctx, &igav1.EvaluateRequest{Record: true, Request: &igav1.AccessRequest{
				Id: fmt.Sprintf("req-%d", i), RequesterEmail: "dana.reyes@acme.example", EntitlementId: ent}})
			if err != nil {
				t.Error(err)
			}
			effects <- resp.GetDecision().GetEffect()
		}()
	}
	got := []igav1.Effect{<-effects, <-effects}
	if !slices.Contains(got, igav1.Effect_EFFECT_DENY) || !slices.Contains(got, igav1.Effect_EFFECT_REQUIRE_APPROVAL) {
		t.Fatalf("two conflicting requests decided at once: %v; want one to wait for approval and the other denied", got)
	}
}

func TestReloadLoopPicksUpChanges(t *testing.T) {
	ctx := context.Background()
	b := bustest.New(t)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(reason string) {
		if err := os.WriteFile(file, []byte("rules:\n  - id: r\n    effect: deny\n    reason: "+reason+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("First.")
	s, err := New(svc.Env{Bus: b, Dir: directory.New(testSnapshot()), Log: slog.New(slog.DiscardHandler)},
		Config{PolicyFile: file, ReloadInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	first := s.Policy().Version
	write("Second.")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && s.Policy().Version == first; {
		time.Sleep(10 * time.Millisecond)
	}
	d, err := s.Evaluate(ctx, &igav1.AccessRequest{RequesterEmail: "dana.reyes@acme.example", EntitlementId: "grafana:payments-viewer"}, false)
	if err != nil || s.Policy().Version == first || !strings.Contains(d.GetReason(), "Second.") {
		t.Fatalf("the changed file was not picked up: version %s, decision %v, %v", s.Policy().Version, d, err)
	}
}
