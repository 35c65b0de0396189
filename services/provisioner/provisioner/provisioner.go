// Package provisioner is iga's provisioner service: it executes grant and revoke commands
// through connectors (SCIM 2.0, manual task, webhook) only after re-checking the recorded
// request, decision and approval, keeps the grants ledger (who holds what, until when),
// verifies every change by reading the target back, reconciles drift, and answers
// EntitlementsService from an in-memory view of the ledger.
package provisioner

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
	"github.com/agentic-iga/iga/pkg/scim"
	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/provisioner/connector"
)

// Subjects and durable consumers of the provisioner.
const (
	SubjectGrantCmd      = "iga.cmd.provision.grant"
	SubjectRevokeCmd     = "iga.cmd.provision.revoke"
	SubjectTaskCompleted = "iga.cmd.provision.task.completed"
	SubjectGrantActive   = "iga.evt.grant.active"
	SubjectGrantRevoked  = "iga.evt.grant.revoked"
	SubjectGrantFailed   = "iga.evt.grant.failed"
	SubjectTaskCreated   = "iga.evt.task.created"
	SubjectDrift         = "iga.evt.reconcile.drift"

	DurableGrant  = "provisioner-grant"
	DurableRevoke = "provisioner-revoke"
	DurableTasks  = "provisioner-tasks"
)

// Config is the provisioner's own configuration.
type Config struct {
	SCIMURL        string
	SCIMToken      string
	SCIMTimeout    time.Duration
	WebhookURL     string
	WebhookSecret  string
	WebhookTimeout time.Duration
	// MaxAttempts bounds deliveries of a command; the last failure marks the grant FAILED.
	MaxAttempts int
	// ReconcileInterval is how often the ledger is compared with the SCIM target, the
	// first time at start-up; 0 disables.
	ReconcileInterval time.Duration

	// Backoff overrides the delay before redelivery attempt n (tests); nil is the bus default.
	Backoff func(attempt uint64) time.Duration
	// Connectors overrides the connector per method (tests, custom targets).
	Connectors map[connector.Method]connector.Connector
}

// Flags registers the configuration on fs.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.SCIMURL, "scim-url", "", "SCIM 2.0 base URL of the target (…/scim/v2); empty: SCIM entitlements fail with a clear reason")
	fs.StringVar(&c.SCIMToken, "scim-token", "", "bearer token for the SCIM target")
	fs.DurationVar(&c.SCIMTimeout, "scim-timeout", 10*time.Second, "timeout of one SCIM call")
	fs.StringVar(&c.WebhookURL, "webhook-url", "", "URL the webhook connector POSTs grants and revokes to")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", "", "HMAC-SHA256 secret signing webhook bodies (X-Iga-Signature-256)")
	fs.DurationVar(&c.WebhookTimeout, "webhook-timeout", 10*time.Second, "timeout of one webhook call")
	fs.IntVar(&c.MaxAttempts, "max-attempts", 5, "deliveries of a provisioning command before it is marked failed")
	fs.DurationVar(&c.ReconcileInterval, "reconcile-interval", 5*time.Minute, "how often to compare the ledger with the SCIM target, the first time at start-up (0 disables)")
}

// Service is the provisioner component.
type Service struct {
	igav1.UnimplementedEntitlementsServiceServer

	cfg  Config
	bus  *bus.Bus
	dir  *directory.Directory
	log  *slog.Logger
	now  func() time.Time
	scim *connector.SCIM

	connectors  map[connector.Method]connector.Connector
	requests    *bus.Store[*igav1.AccessRequest]
	decisions   *bus.Store[*igav1.PolicyDecision]
	approvals   *bus.Store[*igav1.Approval]
	grants      *bus.Store[*igav1.Grant]
	ledger      *ledger
	reconcileMu sync.Mutex
	reported    map[string]bool // drift already reported, by kind|group|person

	subs   []*bus.Subscription
	cancel context.CancelFunc
	done   chan struct{}
}

// New builds the provisioner; it opens the buckets but starts nothing.
func New(env svc.Env, cfg Config) (*Service, error) {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	log := env.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Service{cfg: cfg, bus: env.Bus, dir: env.Dir, log: log, now: time.Now, done: make(chan struct{})}
	s.connectors = map[connector.Method]connector.Connector{
		connector.MethodManual: connector.NewManual(taskRaiser{s}),
	}
	if cfg.SCIMURL != "" {
		client, err := scim.New(cfg.SCIMURL, cfg.SCIMToken, scim.WithTimeout(cfg.SCIMTimeout))
		if err != nil {
			return nil, fmt.Errorf("--scim-url: %w", err)
		}
		s.scim = connector.NewSCIM(client)
		s.connectors[connector.MethodSCIM] = s.scim
	}
	if cfg.WebhookURL != "" {
		if cfg.WebhookSecret == "" {
			return nil, errors.New("--webhook-url needs --webhook-secret: webhook bodies are always signed")
		}
		s.connectors[connector.MethodWebhook] = connector.NewWebhook(cfg.WebhookURL, cfg.WebhookSecret, cfg.WebhookTimeout)
	}
	for m, c := range cfg.Connectors {
		s.connectors[m] = c
		if sc, ok := c.(*connector.SCIM); ok && m == connector.MethodSCIM {
			s.scim = sc
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var err error
	if s.requests, err = bus.OpenStore(ctx, env.Bus, bus.BucketRequests, func() *igav1.AccessRequest { return &igav1.AccessRequest{} }); err != nil {
		return nil, err
	}
	if s.decisions, err = bus.OpenStore(ctx, env.Bus, bus.BucketDecisions, func() *igav1.PolicyDecision { return &igav1.PolicyDecision{} }); err != nil {
		return nil, err
	}
	if s.approvals, err = bus.OpenStore(ctx, env.Bus, bus.BucketApprovals, func() *igav1.Approval { return &igav1.Approval{} }); err != nil {
		return nil, err
	}
	if s.grants, err = bus.OpenStore(ctx, env.Bus, bus.BucketGrants, func() *igav1.Grant { return &igav1.Grant{} }); err != nil {
		return nil, err
	}
	s.ledger = newLedger()
	return s, nil
}

// RegisterGRPC serves EntitlementsService.
func (s *Service) RegisterGRPC(g *grpc.Server) { igav1.RegisterEntitlementsServiceServer(g, s) }

// Start loads the ledger view, then consumes commands and starts reconciliation.
func (s *Service) Start(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	if err := s.ledger.watch(wctx, s.grants.KV(), s.log); err != nil {
		cancel()
		return fmt.Errorf("watch the grants ledger: %w", err)
	}
	go s.reconcileLoop(wctx)
	specs := []struct {
		durable, subject string
		h                bus.Handler
	}{
		{DurableGrant, SubjectGrantCmd, bus.Typed(func() *igav1.ProvisionGrant { return &igav1.ProvisionGrant{} }, s.handleGrant)},
		{DurableRevoke, SubjectRevokeCmd, bus.Typed(func() *igav1.ProvisionRevoke { return &igav1.ProvisionRevoke{} }, s.handleRevoke)},
		{DurableTasks, SubjectTaskCompleted, bus.Typed(func() *igav1.ManualTask { return &igav1.ManualTask{} }, s.handleTaskCompleted)},
		{DurableImport, SubjectImportCmd, bus.Typed(func() *igav1.ImportGrant { return &igav1.ImportGrant{} }, s.handleImport)},
	}
	for _, sp := range specs {
		sub, err := s.bus.Consume(ctx, bus.ConsumerSpec{Stream: bus.StreamCommands, Durable: sp.durable,
			Filters: []string{sp.subject}, MaxDeliver: s.cfg.MaxAttempts, Backoff: s.cfg.Backoff, Workers: 4}, sp.h)
		if err != nil {
			s.Stop()
			return err
		}
		s.subs = append(s.subs, sub)
	}
	return nil
}

// Stop stops consuming and waits for in-flight commands.
func (s *Service) Stop() {
	for _, sub := range s.subs {
		sub.Stop()
	}
	s.subs = nil
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}
