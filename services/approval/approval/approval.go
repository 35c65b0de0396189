// Package approval is iga's approval service: it turns each submitted request's policy
// decision into a grant command, a denial, or an approval workflow routed to people in the
// directory, takes approvers' decisions over gRPC, and serves the requests read model.
package approval

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
)

// Subjects and consumers of the approval service.
const (
	SubjectRequestSubmitted  = "iga.evt.request.submitted"
	SubjectRequestDenied     = "iga.evt.request.denied"
	SubjectApprovalRequested = "iga.evt.approval.requested"
	SubjectApprovalDecided   = "iga.evt.approval.decided"
	SubjectProvisionGrant    = "iga.cmd.provision.grant"

	DurableRequests = "approval-requests"
)

// Config tunes the approval service.
type Config struct {
	// PolicyTimeout bounds one call to PolicyService.Evaluate.
	PolicyTimeout time.Duration
	// Workers is how many submitted requests are handled at once.
	Workers int
	// MaxDeliver bounds redeliveries of a submitted request (policy down, say) before it
	// is dead-lettered; with the bus's backoff (doubling to 30s) 20 is about eight minutes.
	MaxDeliver int
	// StageTimeout is how long a stage waits for its approvers before it escalates (or,
	// after the last escalation, expires and the request is denied). Negative disables
	// reminders, escalation and timeouts.
	StageTimeout time.Duration
	// ReminderAfter reminds a stage's approvers this long after it opened (or escalated),
	// when that is before the timeout. Negative disables reminders.
	ReminderAfter time.Duration
	// Escalations is how many times a timed-out stage escalates to the approvers'
	// managers before it expires. Negative means never.
	Escalations int
}

// Flags registers the service's flags on fs with defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.PolicyTimeout, "approval-policy-timeout", 10*time.Second, "timeout of one policy evaluation")
	fs.IntVar(&c.Workers, "approval-workers", 4, "submitted requests handled at once")
	fs.IntVar(&c.MaxDeliver, "approval-max-deliver", 20, "deliveries of a submitted request before it is dead-lettered")
	fs.DurationVar(&c.StageTimeout, "approval-stage-timeout", 72*time.Hour, "how long an approval stage waits before it escalates or expires (negative: never)")
	fs.DurationVar(&c.ReminderAfter, "approval-reminder-after", 24*time.Hour, "remind approvers this long after a stage opens (negative: never)")
	fs.IntVar(&c.Escalations, "approval-escalations", 1, "escalations to the approvers' managers before a stage expires (negative: none)")
}

func (c Config) withDefaults() Config {
	if c.PolicyTimeout <= 0 {
		c.PolicyTimeout = 10 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 20
	}
	if c.StageTimeout == 0 {
		c.StageTimeout = 72 * time.Hour
	}
	if c.ReminderAfter == 0 {
		c.ReminderAfter = 24 * time.Hour
	}
	if c.Escalations == 0 {
		c.Escalations = 1
	}
	return c
}

// Service is the approval service. Safe for concurrent use.
type Service struct {
	cfg       Config
	bus       *bus.Bus
	dir       *directory.Directory
	log       *slog.Logger
	policy    igav1.PolicyServiceClient
	requests  *bus.Store[*igav1.AccessRequest]
	decisions *bus.Store[*igav1.PolicyDecision]
	approvals *bus.Store[*igav1.Approval]
	grants    *bus.Store[*igav1.Grant]
	now       func() time.Time

	subs       []*bus.Subscription
	stopRepair context.CancelFunc
	repairing  sync.WaitGroup
}

// New builds the service from the runtime's environment. It opens the buckets it reads and
// writes; it neither listens nor consumes until Start.
func New(env svc.Env, cfg Config) (*Service, error) {
	if env.Bus == nil || env.Dir == nil || env.Conn == nil {
		return nil, errors.New("approval: the environment needs a bus, a directory and a gRPC connection")
	}
	log := env.Log
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := &Service{
		cfg: cfg.withDefaults(), bus: env.Bus, dir: env.Dir, log: log,
		policy: igav1.NewPolicyServiceClient(env.Conn), now: func() time.Time { return time.Now().UTC() },
	}
	var err error
	if s.requests, err = bus.OpenStore(ctx, env.Bus, bus.BucketRequests, func() *igav1.AccessRequest { return &igav1.AccessRequest{} }); err != nil {
		return nil, fmt.Errorf("approval: %w", err)
	}
	if s.decisions, err = bus.OpenStore(ctx, env.Bus, bus.BucketDecisions, func() *igav1.PolicyDecision { return &igav1.PolicyDecision{} }); err != nil {
		return nil, fmt.Errorf("approval: %w", err)
	}
	if s.approvals, err = bus.OpenStore(ctx, env.Bus, bus.BucketApprovals, func() *igav1.Approval { return &igav1.Approval{} }); err != nil {
		return nil, fmt.Errorf("approval: %w", err)
	}
	if s.grants, err = bus.OpenStore(ctx, env.Bus, bus.BucketGrants, func() *igav1.Grant { return &igav1.Grant{} }); err != nil {
		return nil, fmt.Errorf("approval: %w", err)
	}
	return s, nil
}

// Start consumes submitted requests, fired approval timers and grants becoming active
// (for break-glass reviews), and repairs in the background what a crash may have left
// half done.
func (s *Service) Start(ctx context.Context) error {
	sub, err := s.bus.Consume(ctx, bus.ConsumerSpec{
		Stream: bus.StreamEvents, Durable: DurableRequests, Filters: []string{SubjectRequestSubmitted},
		Workers: s.cfg.Workers, MaxDeliver: s.cfg.MaxDeliver, AckWait: s.cfg.PolicyTimeout + 20*time.Second,
	}, bus.Typed(func() *igav1.RequestSubmitted { return &igav1.RequestSubmitted{} }, s.handleSubmitted))
	if err != nil {
		return fmt.Errorf("approval: %w", err)
	}
	s.subs = append(s.subs, sub)
	fires, err := s.bus.Consume(ctx, bus.ConsumerSpec{
		Stream: bus.StreamSchedules, Durable: DurableFires, Filters: []string{fireApprovalPrefix + ">"},
		Workers: s.cfg.Workers, MaxDeliver: s.cfg.MaxDeliver,
	}, bus.Typed(func() *igav1.ApprovalTimer { return &igav1.ApprovalTimer{} }, s.handleFire))
	if err != nil {
		s.Stop()
		return fmt.Errorf("approval: %w", err)
	}
	s.subs = append(s.subs, fires)
	// A new consumer starts at the end of the history: grants that became active before it
	// existed are checked by Repair.
	grants, err := s.bus.Consume(ctx, bus.ConsumerSpec{
		Stream: bus.StreamEvents, Durable: DurableGrants, Filters: []string{SubjectGrantActive},
		Workers: s.cfg.Workers, MaxDeliver: s.cfg.MaxDeliver, DeliverNew: true,
	}, bus.Typed(func() *igav1.GrantChanged { return &igav1.GrantChanged{} }, s.handleGrantActive))
	if err != nil {
		s.Stop()
		return fmt.Errorf("approval: %w", err)
	}
	s.subs = append(s.subs, grants)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopRepair = cancel
	s.repairing.Add(1)
	go func() {
		defer s.repairing.Done()
		if err := s.Repair(rctx); err != nil && rctx.Err() == nil {
			s.log.Error("repair at start-up", "err", err)
		}
	}()
	return nil
}

// Stop stops consuming and waits for in-flight handlers.
func (s *Service) Stop() {
	if s.stopRepair != nil {
		s.stopRepair()
		s.repairing.Wait()
	}
	for _, sub := range s.subs {
		sub.Stop()
	}
	s.subs = nil
}

// RegisterGRPC registers ApprovalService and RequestsService.
func (s *Service) RegisterGRPC(g *grpc.Server) {
	igav1.RegisterApprovalServiceServer(g, &approvalServer{s: s})
	igav1.RegisterRequestsServiceServer(g, &requestsServer{s: s})
	igav1.RegisterApprovalDelegationServiceServer(g, &delegationServer{s: s})
}

var (
	_ svc.Component   = (*Service)(nil)
	_ svc.GRPCService = (*Service)(nil)
)
