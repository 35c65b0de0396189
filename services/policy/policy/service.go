// Package policy is the policy service: it decides access requests with the policy file
// (see package engine for the language and how rules combine), records each request's
// decision once in the iga_decisions bucket and announces it on iga.evt.policy.decided.
// The policy file is reloaded when it changes; a file that fails validation never
// replaces a working policy.
package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/policy/engine"
)

// Subjects policy publishes on.
const (
	SubjectDecided    = "iga.evt.policy.decided"
	SubjectBreakGlass = "iga.evt.policy.breakglass"
)

// Config is the policy service's own configuration.
type Config struct {
	// PolicyFile is the YAML policy to decide with.
	PolicyFile string
	// ReloadInterval is how often the file is checked for changes; zero never reloads.
	ReloadInterval time.Duration
}

// Flags registers the service's flags on fs with defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.PolicyFile, "policy-file", "deploy/demo/policy.yaml", "policy file (YAML rules with CEL conditions)")
	fs.DurationVar(&c.ReloadInterval, "policy-reload-interval", 5*time.Second, "how often to check the policy file for changes (0: never)")
}

// Service decides requests. It implements svc.Component and svc.GRPCService.
type Service struct {
	env      svc.Env
	cfg      Config
	log      *slog.Logger
	policy   atomic.Pointer[engine.Policy]
	reloadMu sync.Mutex
	fileSum  [sha256.Size]byte // of the file last read, valid or not; under reloadMu
	status   atomic.Pointer[Status]

	decisions *bus.Store[*igav1.PolicyDecision]
	holdings  *holdings
	// deciding serialises recorded decisions per beneficiary (striped), so two
	// conflicting requests decided at once still see each other.
	deciding [64]sync.Mutex
	now      func() time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup

	workbench Workbench
}

// Workbench runs policy tests and simulations on the server: PolicyAdminService's
// TestPolicy and SimulatePolicy (package workbench). It builds on packages that build on
// this one, so it is handed in with UseWorkbench; without one those calls answer
// Unimplemented.
type Workbench interface {
	TestPolicy(context.Context, *igav1.TestPolicyRequest) (*igav1.TestPolicyResponse, error)
	SimulatePolicy(context.Context, *igav1.SimulatePolicyRequest) (*igav1.SimulatePolicyResponse, error)
}

// UseWorkbench serves w's TestPolicy and SimulatePolicy. Call it before RegisterGRPC.
func (s *Service) UseWorkbench(w Workbench) { s.workbench = w }

// Status is what an operator needs to know about the policy in force.
type Status struct {
	File     string
	Policy   *engine.Policy
	LoadedAt time.Time
	// Warnings name catalog ids the policy uses that the directory lacks.
	Warnings []string
	// RefusedError says why the latest change of the file was refused (empty if none).
	RefusedError string
	RefusedAt    time.Time
}

// Status describes the policy in force and the last refused change.
func (s *Service) Status() Status { return *s.status.Load() }

// New loads the policy file; a service never starts without a valid policy.
func New(env svc.Env, cfg Config) (*Service, error) {
	if cfg.PolicyFile == "" {
		return nil, errors.New("policy: no policy file configured (--policy-file)")
	}
	if env.Dir == nil {
		return nil, errors.New("policy: no directory to read people and entitlements from")
	}
	log := env.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Service{env: env, cfg: cfg, log: log, now: time.Now}
	s.holdings = newHoldings(func() time.Time { return s.now() })
	data, err := os.ReadFile(cfg.PolicyFile)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	pol, err := engine.Parse(cfg.PolicyFile, data)
	if err != nil {
		return nil, err
	}
	s.policy.Store(pol)
	s.fileSum = sha256.Sum256(data)
	log.Info("policy loaded", "file", cfg.PolicyFile, "version", pol.Version, "rules", pol.Rules())
	s.status.Store(&Status{File: cfg.PolicyFile, Policy: pol, LoadedAt: time.Now().UTC(), Warnings: s.warnUnknown(pol)})
	return s, nil
}

// warnUnknown logs the catalog ids the policy names that the directory lacks: a typo
// there makes a rule or an SoD constraint silently never apply.
func (s *Service) warnUnknown(pol *engine.Policy) []string {
	warnings := UnknownReferences(pol, s.env.Dir.Snapshot())
	for _, w := range warnings {
		s.log.Warn("policy names something the catalog lacks", "file", s.cfg.PolicyFile, "problem", w)
	}
	return warnings
}

// Policy is the policy in force.
func (s *Service) Policy() *engine.Policy { return s.policy.Load() }

// RegisterGRPC serves PolicyService and PolicyAdminService.
func (s *Service) RegisterGRPC(g *grpc.Server) {
	igav1.RegisterPolicyServiceServer(g, &server{s: s})
	igav1.RegisterPolicyAdminServiceServer(g, &adminServer{s: s, workbench: s.workbench})
}

// Start opens the decisions bucket, loads what people hold and wait for, and starts
// watching the policy file.
func (s *Service) Start(ctx context.Context) error {
	var err error
	if s.decisions, err = bus.OpenStore(ctx, s.env.Bus, bus.BucketDecisions, func() *igav1.PolicyDecision { return &igav1.PolicyDecision{} }); err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for _, b := range []struct {
		bucket string
		read   func(string, []byte) fact
	}{{bus.BucketGrants, grantFact}, {bus.BucketApprovals, approvalFact}, {bus.BucketDecisions, decisionFact}} {
		kv, err := s.env.Bus.KV(ctx, b.bucket)
		if err != nil {
			cancel()
			return err
		}
		if err := s.holdings.watch(wctx, kv, b.read, s.log, &s.wg); err != nil {
			cancel()
			return err
		}
	}
	if s.cfg.ReloadInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t := time.NewTicker(s.cfg.ReloadInterval)
			defer t.Stop()
			for {
				select {
				case <-wctx.Done():
					return
				case <-t.C:
					s.Reload()
				}
			}
		}()
	}
	return nil
}

// Stop ends the watches and the reload loop.
func (s *Service) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// Reload reads the policy file again and, if it changed and validates, puts it in force.
// A file that does not validate is logged and ignored: the working policy stays. It
// reports whether a new policy is in force.
func (s *Service) Reload() bool {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	data, err := os.ReadFile(s.cfg.PolicyFile)
	if err != nil {
		s.log.Error("policy file unreadable; keeping the policy in force", "file", s.cfg.PolicyFile, "err", err)
		return false
	}
	sum := sha256.Sum256(data)
	if bytes.Equal(sum[:], s.fileSum[:]) {
		return false
	}
	s.fileSum = sum
	pol, err := engine.Parse(s.cfg.PolicyFile, data)
	if err != nil {
		s.log.Error("policy file does not validate; keeping the policy in force",
			"file", s.cfg.PolicyFile, "version", s.Policy().Version, "err", err)
		st := s.Status()
		st.RefusedError, st.RefusedAt = err.Error(), time.Now().UTC()
		s.status.Store(&st)
		return false
	}
	old := s.policy.Swap(pol)
	s.log.Info("policy reloaded", "file", s.cfg.PolicyFile, "version", pol.Version, "previous", old.Version, "rules", pol.Rules())
	s.status.Store(&Status{File: s.cfg.PolicyFile, Policy: pol, LoadedAt: time.Now().UTC(), Warnings: s.warnUnknown(pol)})
	return true
}

// Evaluate decides a request with the policy in force. With record, the decision is
// stored as the request's decision of record unless one exists (then that one is
// returned) and announced.
func (s *Service) Evaluate(ctx context.Context, ar *igav1.AccessRequest, record bool) (*igav1.PolicyDecision, error) {
	if ar == nil {
		return nil, fmt.Errorf("%w: the request is missing", ErrBadRequest)
	}
	if record {
		if ar.GetId() == "" {
			return nil, fmt.Errorf("%w: a recorded decision needs the request id", ErrBadRequest)
		}
		if !requestIDPattern.MatchString(ar.GetId()) {
			return nil, fmt.Errorf("%w: request id %q may only contain letters, digits, '-', '_', '=' and '.'", ErrBadRequest, ar.GetId())
		}
		recorded, _, err := s.decisions.Get(ctx, ar.GetId())
		if err == nil {
			return recorded, s.announce(ctx, ar, recorded)
		}
		if !errors.Is(err, bus.ErrNotFound) {
			return nil, err
		}
	}
	beneficiary := strings.ToLower(ar.GetBeneficiaryEmail())
	if beneficiary == "" {
		beneficiary = strings.ToLower(ar.GetRequesterEmail())
	}
	if record {
		mu := &s.deciding[fnv32(beneficiary)%uint32(len(s.deciding))]
		mu.Lock()
		defer mu.Unlock()
	}
	held, pending := s.holdings.of(beneficiary, ar.GetId())
	d, err := Decide(s.Policy(), s.env.Dir.Snapshot(), ar, held, pending, s.now().UTC())
	if err != nil {
		return nil, err
	}
	if !record {
		return d, nil
	}
	if _, err := s.decisions.Create(ctx, ar.GetId(), d); errors.Is(err, bus.ErrExists) {
		// Another replica decided first: theirs is the decision of record.
		if d, _, err = s.decisions.Get(ctx, ar.GetId()); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	} else if data, err := proto.Marshal(d); err == nil {
		// Count it now rather than when the watch brings it back.
		s.holdings.update(decisionFact(ar.GetId(), data))
	}
	s.log.Info("policy decided", "request_id", ar.GetId(), "effect", d.GetEffect().String(),
		"entitlement", d.GetEntitlementId(), "beneficiary", d.GetBeneficiaryEmail(), "version", d.GetPolicyVersion())
	return d, s.announce(ctx, ar, d)
}

// requestIDPattern is what a KV key (the decision's key) may be.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9_=-][A-Za-z0-9_=.-]{0,254}$`)

func fnv32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// announce publishes the decision (and a break-glass alarm). Event ids derive from the
// request, so announcing twice stores each event once.
func (s *Service) announce(ctx context.Context, ar *igav1.AccessRequest, d *igav1.PolicyDecision) error {
	id := d.GetRequestId()
	if _, err := s.env.Bus.Publish(ctx, SubjectDecided, &igav1.PolicyDecided{Decision: d},
		bus.WithID("policy-decided-"+id), bus.WithRequestID(id)); err != nil {
		return err
	}
	if IsBreakGlass(d) {
		s.log.Warn("break-glass access allowed; review required", "request_id", id,
			"beneficiary", d.GetBeneficiaryEmail(), "entitlement", d.GetEntitlementId(), "granted", d.GetGrantedDuration().AsDuration())
		if _, err := s.env.Bus.Publish(ctx, SubjectBreakGlass, &igav1.PolicyBreakGlass{Request: ar, Decision: d, ReviewRequired: true},
			bus.WithID("policy-breakglass-"+id), bus.WithRequestID(id)); err != nil {
			return err
		}
	}
	return nil
}

// Decision returns the recorded decision of a request (bus.ErrNotFound if none).
func (s *Service) Decision(ctx context.Context, requestID string) (*igav1.PolicyDecision, error) {
	if !requestIDPattern.MatchString(requestID) {
		return nil, fmt.Errorf("%w: request id %q is missing or malformed", ErrBadRequest, requestID)
	}
	d, _, err := s.decisions.Get(ctx, requestID)
	return d, err
}
