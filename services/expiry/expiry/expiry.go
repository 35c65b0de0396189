// Package expiry is iga's clock: it schedules every active grant's revocation as a
// JetStream delayed message, turns a due schedule into a revoke command after checking
// the ledger, and sweeps the ledger for anything overdue so a lost schedule can never
// leave access behind.
package expiry

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
)

// Subjects expiry consumes and publishes.
const (
	SubjectGrantEvents = "iga.evt.grant.>"
	SubjectGrantActive = "iga.evt.grant.active"
	SubjectRevoke      = "iga.cmd.provision.revoke"
	// A grant's expiry schedule is iga.sched.expiry.<grant>; it fires on
	// iga.sched.fire.expiry.<grant>.
	scheduleExpiryPrefix = "iga.sched.expiry."
	fireExpiryPrefix     = "iga.sched.fire.expiry."

	// ReasonExpired is the revoke reason expiry gives.
	ReasonExpired = "expired"

	// Durable consumer names, shared by every replica.
	DurableGrants = "expiry-grants"
	DurableFires  = "expiry-fires"
)

// ScheduleSubject is where a grant's pending expiry lives (one per grant: a newer schedule
// replaces the older, which is how an extension moves the expiry).
func ScheduleSubject(grantID string) string { return scheduleExpiryPrefix + grantID }

// FireSubject is where a grant's expiry schedule publishes when it is due.
func FireSubject(grantID string) string { return fireExpiryPrefix + grantID }

// RevokeID is the event id (and dedup key) of the revoke command for an expired grant
// generation: the schedule fire and every sweep publish the same id.
func RevokeID(grantID string, generation int64) string {
	return fmt.Sprintf("revoke-expired-%s-%d", grantID, generation)
}

// grantIDPattern keeps grant ids usable as one subject token ("g-<uuid>" and the like).
var grantIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$`)

// ErrBadGrantID is returned for a grant id that cannot be a subject token.
var ErrBadGrantID = errors.New("grant id is not subject-token-safe (letters, digits, '-' and '_' only)")

// ValidGrantID reports whether id can be used in schedule subjects.
func ValidGrantID(id string) error {
	if !grantIDPattern.MatchString(id) {
		return fmt.Errorf("%q: %w", id, ErrBadGrantID)
	}
	return nil
}

// Config tunes the expiry service.
type Config struct {
	// SweepInterval is how often the ledger is swept for overdue grants; the first sweep
	// runs at start-up.
	SweepInterval time.Duration
	// EarlyFireTolerance is how far before expires_at a fire is still honoured; a fire
	// earlier than that came from an older schedule (the expiry was extended) and is
	// ignored. The server's schedules have whole-second resolution, hence the slack.
	EarlyFireTolerance time.Duration
	// NoReminders turns off the heads-up reply sent before a grant expires.
	NoReminders bool
}

// Flags registers the configuration flags with their defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.SweepInterval, "sweep-interval", 30*time.Second, "how often the grants ledger is swept for overdue grants")
	fs.DurationVar(&c.EarlyFireTolerance, "early-fire-tolerance", 2*time.Second, "how far before expires_at an expiry fire is still honoured")
	fs.BoolVar(&c.NoReminders, "no-reminders", false, "do not remind requesters before their access expires")
}

func (c Config) withDefaults() Config {
	if c.SweepInterval <= 0 {
		c.SweepInterval = 30 * time.Second
	}
	if c.EarlyFireTolerance <= 0 {
		c.EarlyFireTolerance = 2 * time.Second
	}
	return c
}

// Service is the expiry component.
type Service struct {
	env    svc.Env
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	ledger *bus.Store[*igav1.Grant]
	// requests tells a reminder which conversation to answer.
	requests *bus.Store[*igav1.AccessRequest]

	subs   []*bus.Subscription
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ svc.Component = (*Service)(nil)

// New builds the service; Start begins its work.
func New(env svc.Env, cfg Config) (*Service, error) {
	if env.Bus == nil {
		return nil, errors.New("expiry: no bus")
	}
	log := env.Log
	if log == nil {
		log = slog.Default()
	}
	if env.Dir == nil { // reminders then name access by id and times in UTC
		env.Dir = directory.New(directory.NewSnapshot(nil, nil, nil))
	}
	return &Service{env: env, cfg: cfg.withDefaults(), log: log, now: time.Now}, nil
}

// Start opens the ledger, starts both consumers and the sweeper.
func (s *Service) Start(ctx context.Context) error {
	ledger, err := bus.OpenStore(ctx, s.env.Bus, bus.BucketGrants, func() *igav1.Grant { return &igav1.Grant{} })
	if err != nil {
		return fmt.Errorf("open grants ledger: %w", err)
	}
	s.ledger = ledger
	requests, err := bus.OpenStore(ctx, s.env.Bus, bus.BucketRequests, func() *igav1.AccessRequest { return &igav1.AccessRequest{} })
	if err != nil {
		return fmt.Errorf("open requests: %w", err)
	}
	s.requests = requests
	grants, err := s.env.Bus.Consume(ctx, bus.ConsumerSpec{
		Stream: bus.StreamEvents, Durable: DurableGrants, Filters: []string{SubjectGrantEvents},
	}, bus.Typed(func() *igav1.GrantChanged { return &igav1.GrantChanged{} }, s.handleGrantChanged))
	if err != nil {
		return err
	}
	fires, err := s.env.Bus.Consume(ctx, bus.ConsumerSpec{
		Stream: bus.StreamSchedules, Durable: DurableFires, Filters: []string{fireExpiryPrefix + ">"},
		Workers: 4,
	}, bus.Typed(func() *igav1.ProvisionRevoke { return &igav1.ProvisionRevoke{} }, s.handleFire))
	if err != nil {
		grants.Stop()
		return err
	}
	s.subs = []*bus.Subscription{grants, fires}
	if !s.cfg.NoReminders {
		reminders, err := s.env.Bus.Consume(ctx, bus.ConsumerSpec{
			Stream: bus.StreamSchedules, Durable: DurableReminders, Filters: []string{fireReminderPrefix + ">"},
		}, bus.Typed(func() *igav1.GrantChanged { return &igav1.GrantChanged{} }, s.handleReminder))
		if err != nil {
			grants.Stop()
			fires.Stop()
			return err
		}
		s.subs = append(s.subs, reminders)
	}

	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.sweepLoop(sctx)
	}()
	return nil
}

// Stop stops the sweeper and the consumers, waiting for in-flight work.
func (s *Service) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	for _, sub := range s.subs {
		sub.Stop()
	}
	s.subs = nil
}

// handleGrantChanged keeps a grant's expiry schedule in line with its state: an active
// grant with an expiry is scheduled (replacing any earlier schedule: an extension), a
// grant that is no longer active or never expires has its schedule removed.
func (s *Service) handleGrantChanged(ctx context.Context, m bus.Meta, ev *igav1.GrantChanged) error {
	g := ev.GetGrant()
	if err := ValidGrantID(g.GetId()); err != nil {
		return bus.Permanent(err)
	}
	// Events can be redelivered out of order; the ledger is the source of truth, so a
	// newer ledger record wins over the event.
	active := m.Subject == SubjectGrantActive
	if cur, _, err := s.ledger.Get(ctx, g.GetId()); err == nil {
		if cur.GetGeneration() > g.GetGeneration() || cur.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE {
			g, active = cur, cur.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE
		}
	} else if !errors.Is(err, bus.ErrNotFound) {
		return fmt.Errorf("read grant %s: %w", g.GetId(), err)
	}
	log := s.log.With("grant", g.GetId(), "generation", g.GetGeneration(), "event", m.Subject)

	if active && g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE && g.GetExpiresAt() != nil {
		at := g.GetExpiresAt().AsTime()
		cmd := &igav1.ProvisionRevoke{GrantId: g.GetId(), Reason: ReasonExpired, Generation: g.GetGeneration()}
		if _, err := s.env.Bus.Schedule(ctx, ScheduleSubject(g.GetId()), FireSubject(g.GetId()), at, cmd,
			bus.CausedBy(m), bus.WithRequestID(g.GetRequestId())); err != nil {
			return err
		}
		if !s.cfg.NoReminders {
			if err := s.scheduleReminder(ctx, m, g); err != nil {
				return err
			}
		}
		log.Info("expiry scheduled", "expires_at", at.UTC().Format(time.RFC3339))
		return nil
	}
	if err := s.env.Bus.CancelSchedule(ctx, ScheduleSubject(g.GetId())); err != nil {
		return err
	}
	if err := s.env.Bus.CancelSchedule(ctx, ReminderSubject(g.GetId())); err != nil {
		return err
	}
	log.Info("expiry schedule cleared", "status", g.GetStatus().String(), "has_expiry", g.GetExpiresAt() != nil)
	return nil
}

// handleFire turns a due expiry into a revoke command, unless the ledger says the fire
// is stale: the grant is gone or no longer active, was extended (new generation), or is
// not due yet.
func (s *Service) handleFire(ctx context.Context, m bus.Meta, cmd *igav1.ProvisionRevoke) error {
	id := cmd.GetGrantId()
	if err := ValidGrantID(id); err != nil {
		return bus.Permanent(err)
	}
	if tok := strings.TrimPrefix(m.Subject, fireExpiryPrefix); tok != id {
		return bus.Permanent(fmt.Errorf("fire on %s names grant %q", m.Subject, id))
	}
	log := s.log.With("grant", id, "generation", cmd.GetGeneration())
	g, _, err := s.ledger.Get(ctx, id)
	if errors.Is(err, bus.ErrNotFound) {
		log.Info("expiry fire ignored: grant not in the ledger")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read grant %s: %w", id, err)
	}
	if why := s.staleReason(g, cmd.GetGeneration()); why != "" {
		log.Info("expiry fire ignored: "+why, "status", g.GetStatus().String(), "ledger_generation", g.GetGeneration())
		return nil
	}
	if err := s.publishRevoke(ctx, g, bus.CausedBy(m)); err != nil {
		return err
	}
	log.Info("grant expired; revoke requested", "expires_at", g.GetExpiresAt().AsTime().UTC().Format(time.RFC3339))
	return nil
}

// staleReason says why a fire for generation gen must not revoke g, or "" if it must.
func (s *Service) staleReason(g *igav1.Grant, gen int64) string {
	switch {
	case g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE:
		return "grant is not active"
	case gen > 0 && g.GetGeneration() != gen:
		return "grant was changed since (another generation)"
	case g.GetExpiresAt() == nil:
		return "grant no longer expires"
	case g.GetExpiresAt().AsTime().After(s.now().Add(s.cfg.EarlyFireTolerance)):
		return "grant is not due yet (a fire from an older schedule)"
	}
	return ""
}

func (s *Service) publishRevoke(ctx context.Context, g *igav1.Grant, opts ...bus.PublishOption) error {
	cmd := &igav1.ProvisionRevoke{GrantId: g.GetId(), Reason: ReasonExpired, Generation: g.GetGeneration()}
	opts = append(opts, bus.WithID(RevokeID(g.GetId(), g.GetGeneration())), bus.WithRequestID(g.GetRequestId()))
	if _, err := s.env.Bus.Publish(ctx, SubjectRevoke, cmd, opts...); err != nil {
		return fmt.Errorf("revoke expired grant %s: %w", g.GetId(), err)
	}
	return nil
}

func (s *Service) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("expiry sweep failed; retrying at the next interval", "err", err)
		} else if n > 0 {
			s.log.Info("expiry sweep revoked overdue grants", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep publishes a revoke for every active grant whose expiry has passed and returns how
// many it published. Repeats are harmless: the same id is deduplicated by the server
// within its window, and the provisioner ignores revokes for grants no longer active.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	grants, err := s.ledger.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	now := s.now()
	n := 0
	var errs []error
	for _, g := range grants {
		if g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE || g.GetExpiresAt() == nil || g.GetExpiresAt().AsTime().After(now) {
			continue
		}
		if err := ValidGrantID(g.GetId()); err != nil {
			s.log.Error("sweep skipped an overdue grant with an unusable id", "err", err)
			continue
		}
		if err := s.publishRevoke(ctx, g); err != nil {
			errs = append(errs, err)
			continue
		}
		s.log.Info("overdue grant found by the sweep; revoke requested", "grant", g.GetId(), "generation", g.GetGeneration(),
			"expired_at", g.GetExpiresAt().AsTime().UTC().Format(time.RFC3339))
		n++
	}
	return n, errors.Join(errs...)
}
