// Package workbench runs policy tests and simulations on the policy server, for operators
// who reach iga only through its gRPC ingress: PolicyAdminService's TestPolicy and
// SimulatePolicy. It builds on packages policytest and simulate, which build on package
// policy, so the policy service is handed a Workbench instead of importing this package.
package workbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/policy/engine"
	"github.com/agentic-iga/iga/services/policy/policy"
	"github.com/agentic-iga/iga/services/policy/policytest"
	"github.com/agentic-iga/iga/services/policy/simulate"
)

// Limits bound what one call may ask of the server.
const (
	// MaxInput is the largest policy or test file accepted (the demo policy is ~15 KiB).
	MaxInput = 1 << 20
	// DefaultReplay and MaxReplay bound how many recorded requests a simulation replays.
	DefaultReplay = 1000
	MaxReplay     = 10000
)

// Policy is what the workbench needs of the policy service. *policy.Service is one.
type Policy interface {
	// Policy is the policy in force.
	Policy() *engine.Policy
	// Decision is a request's decision of record (bus.ErrNotFound when it has none).
	Decision(ctx context.Context, requestID string) (*igav1.PolicyDecision, error)
}

// Workbench answers TestPolicy and SimulatePolicy. Safe for concurrent use.
type Workbench struct {
	policy Policy
	dir    *directory.Directory
	bus    *bus.Bus
	log    *slog.Logger
}

// New builds a workbench over the policy service, the directory it decides with, and the
// bus whose event history and grants ledger simulations read.
func New(p Policy, dir *directory.Directory, b *bus.Bus, log *slog.Logger) *Workbench {
	if log == nil {
		log = slog.Default()
	}
	return &Workbench{policy: p, dir: dir, bus: b, log: log}
}

var _ policy.Workbench = (*Workbench)(nil)

// TestPolicy runs the test cases it is sent against the candidate policy it is sent, or
// the policy in force, with the server's directory.
func (w *Workbench) TestPolicy(_ context.Context, in *igav1.TestPolicyRequest) (*igav1.TestPolicyResponse, error) {
	testsName := nameOr(in.GetTestsName(), "tests.yaml")
	if err := checkSize("tests_yaml", in.GetTestsYaml(), true); err != nil {
		return nil, err
	}
	if err := checkSize("policy_yaml", in.GetPolicyYaml(), false); err != nil {
		return nil, err
	}
	suite, err := policytest.Parse(testsName, []byte(in.GetTestsYaml()))
	if err != nil {
		return nil, invalid("tests_yaml", "the tests do not load", err)
	}
	pol, policyName := w.policy.Policy(), ""
	if in.GetPolicyYaml() != "" {
		policyName = nameOr(in.GetPolicyName(), "candidate.yaml")
		if pol, err = engine.Parse(policyName, []byte(in.GetPolicyYaml())); err != nil {
			return nil, invalid("policy_yaml", "the policy does not validate", err)
		}
	}
	rep := policytest.Run(suite, pol, w.dir.Snapshot())
	out := &igav1.TestPolicyResponse{Tests: testsName, Policy: pol.Name, PolicyVersion: pol.Version,
		Failed: int32(rep.Failed()), Passed: int32(len(rep.Results) - rep.Failed()), Warnings: rep.Warnings}
	if policyName != "" {
		out.Policy = policyName
	}
	for _, r := range rep.Results {
		out.Results = append(out.Results, &igav1.PolicyTestResult{Name: r.Case.Name, Line: int32(r.Case.Line),
			Passed: r.Passed, Failures: r.Failures, Decision: r.Decision})
	}
	return out, nil
}

// SimulatePolicy replays the newest recorded requests (from since, up to limit) against a
// candidate policy and reports whose outcome would change. The "before" is each request's
// decision of record, or the policy in force's for a request without one; access held is
// the grants ledger's now.
func (w *Workbench) SimulatePolicy(ctx context.Context, in *igav1.SimulatePolicyRequest) (*igav1.SimulatePolicyResponse, error) {
	if err := checkSize("policy_yaml", in.GetPolicyYaml(), true); err != nil {
		return nil, err
	}
	limit := int(in.GetLimit())
	switch {
	case limit < 0:
		return nil, badField("limit", fmt.Sprintf("limit %d is negative; give how many of the newest requests to replay (0 for %d)", limit, DefaultReplay))
	case limit == 0:
		limit = DefaultReplay
	case limit > MaxReplay:
		return nil, badField("limit", fmt.Sprintf("limit %d is more than the %d requests one simulation replays; narrow it with since", limit, MaxReplay))
	}
	var since time.Time
	if in.GetSince() != nil {
		if err := in.GetSince().CheckValid(); err != nil {
			return nil, badField("since", "since is not a valid time: "+err.Error())
		}
		since = in.GetSince().AsTime()
	}
	name := nameOr(in.GetPolicyName(), "candidate.yaml")
	after, err := engine.Parse(name, []byte(in.GetPolicyYaml()))
	if err != nil {
		return nil, invalid("policy_yaml", "the policy does not validate", err)
	}
	reqs, truncated, err := simulate.ReadSubmitted(ctx, w.bus.JetStream(), simulate.Window{Since: since, Limit: limit})
	if err != nil {
		return nil, w.unavailable(ctx, "read the event history", err)
	}
	held, err := simulate.Held(ctx, w.bus)
	if err != nil {
		return nil, w.unavailable(ctx, "read the grants ledger", err)
	}
	current, snap := w.policy.Policy(), w.dir.Snapshot()
	before := func(ar *igav1.AccessRequest) (*igav1.PolicyDecision, error) {
		d, err := w.policy.Decision(ctx, ar.GetId())
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, bus.ErrNotFound) {
			return nil, err
		}
		return policy.Decide(current, snap, ar, held(simulate.Beneficiary(ar)), nil, ar.GetCreatedAt().AsTime())
	}
	rep := simulate.Replay(reqs, simulate.Inputs{Before: before, After: after, Snap: snap, Held: held})
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	out := &igav1.SimulatePolicyResponse{Policy: name, PolicyVersion: after.Version, CurrentVersion: current.Version,
		Requests: int32(rep.Requests), Flips: int32(rep.Flips()), Skipped: rep.Skipped, Truncated: truncated}
	for _, c := range rep.Changes {
		r := c.Request
		out.Changes = append(out.Changes, &igav1.PolicyChange{RequestId: r.GetId(), RequesterEmail: r.GetRequesterEmail(),
			BeneficiaryEmail: simulate.Beneficiary(r), EntitlementId: r.GetEntitlementId(), CreatedAt: r.GetCreatedAt(),
			Before: c.Before, After: c.After, Flipped: c.Flipped, Change: c.What})
	}
	return out, nil
}

func nameOr(name, fallback string) string {
	if name = strings.TrimSpace(name); name == "" || len(name) > 256 || strings.ContainsAny(name, "\r\n") {
		return fallback
	}
	return name
}

// checkSize refuses a missing (when required) or oversized input before any parsing.
func checkSize(field, text string, required bool) error {
	switch {
	case required && strings.TrimSpace(text) == "":
		return badField(field, field+" is empty; send the file's contents")
	case len(text) > MaxInput:
		return badField(field, fmt.Sprintf("%s is %d bytes; at most %d (1 MiB) are accepted", field, len(text), MaxInput))
	}
	return nil
}

// invalid is InvalidArgument for a file that does not load: the message says every
// problem with its file:line, and the details list them one by one for programs.
func invalid(field, what string, err error) error {
	problems := strings.Split(strings.TrimSpace(strings.TrimPrefix(err.Error(), engine.ErrInvalid.Error()+": ")), "\n")
	st := status.New(codes.InvalidArgument, what+":\n"+strings.Join(problems, "\n"))
	br := &errdetails.BadRequest{}
	for _, p := range problems {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: field, Description: p})
	}
	if withDetails, derr := st.WithDetails(br); derr == nil {
		st = withDetails
	}
	return st.Err()
}

func badField(field, msg string) error {
	st := status.New(codes.InvalidArgument, msg)
	if withDetails, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}}); err == nil {
		st = withDetails
	}
	return st.Err()
}

// unavailable reports a store the simulation could not read; the cause is logged, not
// told.
func (w *Workbench) unavailable(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	w.log.Error("policy simulation failed", "step", what, "err", err)
	return status.Errorf(codes.Unavailable, "the simulation could not %s; try again", what)
}

// NewPolicyService builds the policy service with its workbench: what `policy` and `iga
// dev` run.
func NewPolicyService(env svc.Env, cfg policy.Config) (*policy.Service, error) {
	p, err := policy.New(env, cfg)
	if err != nil {
		return nil, err
	}
	p.UseWorkbench(New(p, env.Dir, env.Bus, env.Log))
	return p, nil
}
