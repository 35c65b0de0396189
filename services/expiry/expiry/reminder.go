package expiry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// Reminders: before a grant expires, the person who asked for it is told when, and how
// to ask for more time (an extension is a new request, so policy decides again).
const (
	scheduleReminderPrefix = "iga.sched.reminder."
	fireReminderPrefix     = "iga.sched.fire.reminder."
	DurableReminders       = "expiry-reminders"

	// maxReminderLead is the longest a reminder comes before expiry; shorter grants are
	// reminded when 80% of their time has passed.
	maxReminderLead = 24 * time.Hour
)

// ReminderSubject is where a grant's pending reminder lives.
func ReminderSubject(grantID string) string { return scheduleReminderPrefix + grantID }

// ReminderFireSubject is where a grant's reminder publishes when it is due.
func ReminderFireSubject(grantID string) string { return fireReminderPrefix + grantID }

// ReminderAt is when to remind the holder of g: min(24h, 20% of the grant's duration)
// before it expires. ok is false for a grant that does not expire.
func ReminderAt(g *igav1.Grant) (time.Time, bool) {
	if g.GetExpiresAt() == nil {
		return time.Time{}, false
	}
	expires := g.GetExpiresAt().AsTime()
	if g.GetGrantedAt() == nil || !g.GetGrantedAt().AsTime().Before(expires) {
		return time.Time{}, false
	}
	lead := min(maxReminderLead, expires.Sub(g.GetGrantedAt().AsTime())/5)
	return expires.Add(-lead), true
}

// scheduleReminder schedules (or moves) the reminder of an active grant; a reminder whose
// time has passed is dropped rather than sent late.
func (s *Service) scheduleReminder(ctx context.Context, m bus.Meta, g *igav1.Grant) error {
	at, ok := ReminderAt(g)
	if !ok || at.Before(s.now()) {
		return s.env.Bus.CancelSchedule(ctx, ReminderSubject(g.GetId()))
	}
	if _, err := s.env.Bus.Schedule(ctx, ReminderSubject(g.GetId()), ReminderFireSubject(g.GetId()), at,
		&igav1.GrantChanged{Grant: g}, bus.CausedBy(m), bus.WithRequestID(g.GetRequestId())); err != nil {
		return err
	}
	return nil
}

var replyToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// handleReminder tells the requester their access ends soon, if the ledger still says so.
func (s *Service) handleReminder(ctx context.Context, m bus.Meta, ev *igav1.GrantChanged) error {
	id := ev.GetGrant().GetId()
	if err := ValidGrantID(id); err != nil {
		return bus.Permanent(err)
	}
	log := s.log.With("grant", id, "generation", ev.GetGrant().GetGeneration())
	g, _, err := s.ledger.Get(ctx, id)
	if errors.Is(err, bus.ErrNotFound) {
		log.Info("expiry reminder ignored: grant not in the ledger")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read grant %s: %w", id, err)
	}
	if g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE || g.GetGeneration() != ev.GetGrant().GetGeneration() || g.GetExpiresAt() == nil {
		log.Info("expiry reminder ignored: grant changed since", "status", g.GetStatus().String(), "ledger_generation", g.GetGeneration())
		return nil
	}
	if g.GetRequestId() == "" {
		// Imported existing access: no request, so no conversation to remind in.
		log.Info("expiry reminder not sent: the grant has no request (imported access)")
		return nil
	}
	req, _, err := s.requests.Get(ctx, g.GetRequestId())
	if errors.Is(err, bus.ErrNotFound) {
		log.Warn("expiry reminder not sent: the grant's request is not on record", "request_id", g.GetRequestId())
		return nil
	}
	if err != nil {
		return fmt.Errorf("read request %s: %w", g.GetRequestId(), err)
	}
	if !replyToken.MatchString(req.GetChannel()) || !replyToken.MatchString(req.GetConversationId()) {
		log.Warn("expiry reminder not sent: the request has no conversation to answer", "channel", req.GetChannel())
		return nil
	}
	expires := g.GetExpiresAt().AsTime()
	ent := g.GetEntitlementId()
	snap := s.env.Dir.Snapshot()
	reply := &igav1.Reply{
		ReplyId:        fmt.Sprintf("reminder-%s-%d", id, g.GetGeneration()),
		ConversationId: req.GetConversationId(),
		Channel:        req.GetChannel(),
		PersonEmail:    req.GetRequesterEmail(),
		Kind:           igav1.ReplyKind_REPLY_KIND_NOTICE,
		Text: fmt.Sprintf("Heads-up: %s access to %s ends at %s (in %s). If you still need it, ask to extend it, e.g. \"extend %s for 1 week\"; policy decides again. Otherwise it is revoked automatically.",
			possessive(snap, req, g), snap.AccessName(ent), snap.LocalTime(req.GetRequesterEmail(), expires), roughly(expires.Sub(s.now())), ent),
		Options: []*igav1.ReplyOption{
			{Label: "Extend by 1 week", Value: "extend " + ent + " for 1 week"},
			{Label: "Let it expire", Value: "no"},
		},
		RequestId: g.GetRequestId(),
		SentAt:    timestamppb.New(s.now()),
	}
	subject := "iga.reply." + req.GetChannel() + "." + req.GetConversationId()
	if _, err := s.env.Bus.Publish(ctx, subject, reply, bus.WithID(reply.GetReplyId()), bus.CausedBy(m)); err != nil {
		return fmt.Errorf("remind %s of grant %s: %w", req.GetRequesterEmail(), id, err)
	}
	log.Info("expiry reminder sent", "to", req.GetRequesterEmail(), "expires_at", expires.UTC().Format(time.RFC3339))
	return nil
}

// possessive is whose access it is, as the requester reads it: "Your", or the name of the
// person they asked on behalf of.
func possessive(snap *directory.Snapshot, req *igav1.AccessRequest, g *igav1.Grant) string {
	if strings.EqualFold(req.GetRequesterEmail(), g.GetPersonEmail()) || g.GetPersonEmail() == "" {
		return "Your"
	}
	if p, ok := snap.Person(g.GetPersonEmail()); ok && p.GetName() != "" {
		return p.GetName() + "'s"
	}
	return g.GetPersonEmail() + "'s"
}

// roughly says a duration the way a person would: "about 3 days", "about 5 hours".
func roughly(d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return "a moment"
	case d < 2*time.Hour:
		return fmt.Sprintf("about %d minutes", int(d.Round(time.Minute)/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("about %d hours", int(d.Round(time.Hour)/time.Hour))
	default:
		return fmt.Sprintf("about %d days", int(d.Round(24*time.Hour)/(24*time.Hour)))
	}
}
