package workbench_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/bus/bustest"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/policy/policy"
	"github.com/agentic-iga/iga/services/policy/policytest"
	"github.com/agentic-iga/iga/services/policy/workbench"
)

const demo = "../../../deploy/demo"

type stack struct {
	bus      *bus.Bus
	policy   *policy.Service
	admin    igav1.PolicyAdminServiceClient
	decide   igav1.PolicyServiceClient
	requests *bus.Store[*igav1.AccessRequest]
}

// newStack runs the policy service with its workbench, the demo policy and directory, on
// an embedded NATS, over real gRPC.
func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	b := bustest.New(t)
	snap, err := directory.LoadDir(demo)
	if err != nil {
		t.Fatal(err)
	}
	env := svc.Env{Name: "policy", Bus: b, Dir: directory.New(snap), Log: slog.New(slog.DiscardHandler)}
	p, err := workbench.NewPolicyService(env, policy.Config{PolicyFile: filepath.Join(demo, "policy.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	p.RegisterGRPC(gs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &stack{bus: b, policy: p, admin: igav1.NewPolicyAdminServiceClient(conn), decide: igav1.NewPolicyServiceClient(conn)}
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The server runs the demo tests against the policy in force and answers what an
// offline run prints.
func TestTestPolicyAgainstThePolicyInForce(t *testing.T) {
	s := newStack(t)
	tests := filepath.Join(demo, "policy_test.yaml")
	resp, err := s.admin.TestPolicy(ctxT(t), &igav1.TestPolicyRequest{TestsYaml: read(t, tests), TestsName: "policy_test.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	offline, err := policytest.RunFile(tests, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetFailed() != 0 || int(resp.GetPassed()) != len(offline.Results) || len(resp.GetResults()) != len(offline.Results) {
		t.Fatalf("server: %d passed, %d failed of %d; offline ran %d", resp.GetPassed(), resp.GetFailed(), len(resp.GetResults()), len(offline.Results))
	}
	if resp.GetPolicyVersion() != s.policy.Policy().Version || resp.GetPolicyVersion() != offline.PolicyVersion || resp.GetTests() != "policy_test.yaml" {
		t.Errorf("answer names policy %s %s, tests %s; in force %s", resp.GetPolicy(), resp.GetPolicyVersion(), resp.GetTests(), s.policy.Policy().Version)
	}
	for i, r := range resp.GetResults() {
		want := offline.Results[i]
		if r.GetName() != want.Case.Name || int(r.GetLine()) != want.Case.Line || r.GetDecision().GetEffect() != want.Decision.GetEffect() {
			t.Errorf("result %d = %s:%d %v, offline %s:%d %v", i, r.GetName(), r.GetLine(), r.GetDecision().GetEffect(),
				want.Case.Name, want.Case.Line, want.Decision.GetEffect())
		}
	}
}

func TestTestPolicyAgainstACandidate(t *testing.T) {
	s := newStack(t)
	candidate := `rules:
  - id: read-only
    match: {levels: [read]}
    effect: allow
    reason: Reading is fine.
`
	tests := `tests:
  - name: reading is allowed
    person: dana.reyes@acme.example
    entitlement: grafana:payments-viewer
    expect: {effect: allow}
  - name: writing needs the manager
    person: dana.reyes@acme.example
    entitlement: github:write
    expect: {effect: require_approval, approvals: [manager]}
`
	resp, err := s.admin.TestPolicy(ctxT(t), &igav1.TestPolicyRequest{TestsYaml: tests, PolicyYaml: candidate, PolicyName: "new.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPassed() != 1 || resp.GetFailed() != 1 || resp.GetPolicy() != "new.yaml" || resp.GetTests() != "tests.yaml" {
		t.Fatalf("answer = %v", resp)
	}
	failed := resp.GetResults()[1]
	if failed.GetPassed() || failed.GetLine() != 6 || len(failed.GetFailures()) == 0 ||
		!strings.Contains(failed.GetFailures()[0], "effect: got deny, want require_approval") || failed.GetDecision().GetEffect() != igav1.Effect_EFFECT_DENY {
		t.Errorf("failing case = %v", failed)
	}
	// The candidate was only tested: the policy in force is unchanged.
	if s.policy.Policy().Rules() < 10 {
		t.Errorf("the policy in force has %d rules: the candidate replaced it", s.policy.Policy().Rules())
	}
}

func TestBadInputIsInvalidArgumentWithLines(t *testing.T) {
	s := newStack(t)
	const oneTest = "tests:\n  - name: t\n    person: dana.reyes@acme.example\n    entitlement: grafana:payments-viewer\n    expect: {effect: allow}\n"
	huge := strings.Repeat("#", workbench.MaxInput+1)
	tests := []struct {
		name  string
		call  func(context.Context) error
		field string
		want  []string
	}{
		{"policy that does not validate", func(ctx context.Context) error {
			_, err := s.admin.TestPolicy(ctx, &igav1.TestPolicyRequest{TestsYaml: oneTest, PolicyName: "bad.yaml",
				PolicyYaml: "rules:\n  - id: r1\n    effect: maybe\n    reason: x\n  - id: r2\n    effect: allow\n    when: person.shoe_size > 3\n    reason: y\n"})
			return err
		}, "policy_yaml", []string{"bad.yaml:3:", "bad.yaml:7:"}},
		{"tests with an unknown field", func(ctx context.Context) error {
			_, err := s.admin.TestPolicy(ctx, &igav1.TestPolicyRequest{TestsYaml: oneTest + "    colour: blue\n", TestsName: "t.yaml"})
			return err
		}, "tests_yaml", []string{"t.yaml", "line 6", "colour"}},
		{"no tests", func(ctx context.Context) error {
			_, err := s.admin.TestPolicy(ctx, &igav1.TestPolicyRequest{TestsYaml: "  \n"})
			return err
		}, "tests_yaml", []string{"tests_yaml is empty"}},
		{"oversized tests", func(ctx context.Context) error {
			_, err := s.admin.TestPolicy(ctx, &igav1.TestPolicyRequest{TestsYaml: huge})
			return err
		}, "tests_yaml", []string{"at most 1048576"}},
		{"oversized candidate", func(ctx context.Context) error {
			_, err := s.admin.SimulatePolicy(ctx, &igav1.SimulatePolicyRequest{PolicyYaml: huge})
			return err
		}, "policy_yaml", []string{"at most 1048576"}},
		{"simulation without a policy", func(ctx context.Context) error {
			_, err := s.admin.SimulatePolicy(ctx, &igav1.SimulatePolicyRequest{})
			return err
		}, "policy_yaml", []string{"policy_yaml is empty"}},
		{"simulation of a policy that does not validate", func(ctx context.Context) error {
			_, err := s.admin.SimulatePolicy(ctx, &igav1.SimulatePolicyRequest{PolicyYaml: "rules: [ {id: r1", PolicyName: "broken.yaml"})
			return err
		}, "policy_yaml", []string{"broken.yaml"}},
		{"negative limit", func(ctx context.Context) error {
			_, err := s.admin.SimulatePolicy(ctx, &igav1.SimulatePolicyRequest{PolicyYaml: read(t, filepath.Join(demo, "policy.yaml")), Limit: -1})
			return err
		}, "limit", []string{"negative"}},
		{"limit above the bound", func(ctx context.Context) error {
			_, err := s.admin.SimulatePolicy(ctx, &igav1.SimulatePolicyRequest{PolicyYaml: read(t, filepath.Join(demo, "policy.yaml")), Limit: workbench.MaxReplay + 1})
			return err
		}, "limit", []string{"more than the 10000"}},
		{"since out of range", func(ctx context.Context) error {
			_, err := s.admin.SimulatePolicy(ctx, &igav1.SimulatePolicyRequest{PolicyYaml: read(t, filepath.Join(demo, "policy.yaml")),
				Since: &timestamppb.Timestamp{Seconds: -1 << 40}})
			return err
		}, "since", []string{"not a valid time"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(ctxT(t))
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("%v, want InvalidArgument", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("message %q lacks %q", st.Message(), w)
				}
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if len(fields) == 0 || fields[0] != tc.field {
				t.Errorf("details name fields %v, want %s", fields, tc.field)
			}
		})
	}
}

// submit records a request as the agent would and has policy decide it (recorded).
func (s *stack) submit(t *testing.T, ar *igav1.AccessRequest) {
	t.Helper()
	ctx := ctxT(t)
	if _, err := s.bus.Publish(ctx, "iga.evt.request.submitted", &igav1.RequestSubmitted{Request: ar}, bus.WithID("submitted-"+ar.GetId())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.decide.Evaluate(ctx, &igav1.EvaluateRequest{Request: ar, Record: true}); err != nil {
		t.Fatal(err)
	}
}

func TestSimulatePolicyReportsFlipsWithWhy(t *testing.T) {
	s := newStack(t)
	created := timestamppb.New(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	for _, ar := range []*igav1.AccessRequest{
		{Id: "r1", RequesterEmail: "dana.reyes@acme.example", BeneficiaryEmail: "dana.reyes@acme.example", EntitlementId: "stripe:viewer", CreatedAt: created},
		{Id: "r2", RequesterEmail: "dana.reyes@acme.example", BeneficiaryEmail: "dana.reyes@acme.example", EntitlementId: "grafana:payments-viewer", CreatedAt: created},
		{Id: "r3", RequesterEmail: "sam.patel@acme.example", BeneficiaryEmail: "sam.patel@acme.example", EntitlementId: "snowflake:analyst", CreatedAt: created},
	} {
		s.submit(t, ar)
	}
	// One without a decision of record: its "before" is the policy in force's.
	if _, err := s.bus.Publish(ctxT(t), "iga.evt.request.submitted", &igav1.RequestSubmitted{Request: &igav1.AccessRequest{Id: "r4",
		RequesterEmail: "dana.reyes@acme.example", EntitlementId: "stripe:viewer", CreatedAt: created}}, bus.WithID("submitted-r4")); err != nil {
		t.Fatal(err)
	}
	candidate := read(t, filepath.Join(demo, "policy.yaml")) + `
---
rules:
  - id: stripe-frozen
    match: {apps: [stripe]}
    effect: deny
    reason: Stripe access is frozen during the audit.
`
	resp, err := s.admin.SimulatePolicy(ctxT(t), &igav1.SimulatePolicyRequest{PolicyYaml: candidate, PolicyName: "frozen.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRequests() != 4 || resp.GetFlips() != 2 || resp.GetTruncated() || resp.GetPolicy() != "frozen.yaml" ||
		resp.GetCurrentVersion() != s.policy.Policy().Version || resp.GetPolicyVersion() == resp.GetCurrentVersion() {
		t.Fatalf("answer = %v", resp)
	}
	for _, c := range resp.GetChanges() {
		if c.GetEntitlementId() != "stripe:viewer" || !c.GetFlipped() || c.GetChange() != "allow → deny" ||
			!strings.Contains(c.GetAfter().GetReason(), "frozen during the audit") || c.GetBefore().GetEffect() != igav1.Effect_EFFECT_ALLOW ||
			c.GetBeneficiaryEmail() != "dana.reyes@acme.example" {
			t.Errorf("change = %v", c)
		}
	}
	// Bounded: only the newest two are replayed, and the answer says it left some out.
	resp, err = s.admin.SimulatePolicy(ctxT(t), &igav1.SimulatePolicyRequest{PolicyYaml: candidate, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRequests() != 2 || !resp.GetTruncated() || resp.GetFlips() != 1 || resp.GetChanges()[0].GetRequestId() != "r4" {
		t.Errorf("limited answer = %v", resp)
	}
	resp, err = s.admin.SimulatePolicy(ctxT(t), &igav1.SimulatePolicyRequest{PolicyYaml: candidate, Since: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil || resp.GetRequests() != 0 {
		t.Errorf("simulation of the future: %v, %v", resp, err)
	}
}
