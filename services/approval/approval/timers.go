package approval

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/approval/workflow"
)

// An approval's pending timer lives on iga.sched.approval.<id> (one per approval: a newer
// schedule replaces the older) and fires on iga.sched.fire.approval.<id>.
const (
	scheduleApprovalPrefix = "iga.sched.approval."
	fireApprovalPrefix     = "iga.sched.fire.approval."
	// SubjectApprovalReminded carries an ApprovalRequested when approvers are reminded.
	SubjectApprovalReminded = "iga.evt.approval.reminded"
	DurableFires            = "approval-fires"
)

// ScheduleSubject is where an approval's pending timer lives.
func ScheduleSubject(id string) string { return scheduleApprovalPrefix + token(id) }

// FireSubject is where an approval's timer fires.
func FireSubject(id string) string { return fireApprovalPrefix + token(id) }

// token makes an id one subject token.
func token(id string) string {
	if id != "" && !strings.ContainsAny(id, ".*> \t\r\n") {
		return id
	}
	return bus.Key(id)
}

func (s *Service) timersOn() bool { return s.cfg.StageTimeout > 0 }

// armStage sets the first timer of the current stage, counted from when the stage opened,
// so announcing the same stage again sets the same timer. A stage whose approvers were
// escalated or delegated keeps the timer its escalation or delegation set.
func (s *Service) armStage(ctx context.Context, a *igav1.Approval) error {
	if !s.timersOn() || workflow.Escalated(s.dir.Snapshot(), a) {
		return nil
	}
	return s.arm(ctx, a, 0, workflow.StageOpenedAt(a), a.GetApprovers())
}

// arm sets the timer of one escalation level that started at base: a reminder while one is
// still due, else the timeout.
func (s *Service) arm(ctx context.Context, a *igav1.Approval, level int32, base time.Time, approvers []string) error {
	deadline := base.Add(s.cfg.StageTimeout)
	t := &igav1.ApprovalTimer{ApprovalId: a.GetId(), Kind: igav1.ApprovalTimerKind_APPROVAL_TIMER_KIND_TIMEOUT,
		Stage: a.GetCurrentStage(), Escalation: level, Deadline: timestamppb.New(deadline), Approvers: approvers}
	at := deadline
	if r := s.cfg.ReminderAfter; r > 0 && r < s.cfg.StageTimeout && s.now().Before(base.Add(r)) {
		t.Kind, at = igav1.ApprovalTimerKind_APPROVAL_TIMER_KIND_REMINDER, base.Add(r)
	}
	return s.schedule(ctx, t, at)
}

func (s *Service) schedule(ctx context.Context, t *igav1.ApprovalTimer, at time.Time) error {
	if _, err := s.bus.Schedule(ctx, ScheduleSubject(t.GetApprovalId()), FireSubject(t.GetApprovalId()), at, t,
		bus.WithRequestID(t.GetApprovalId())); err != nil {
		return fmt.Errorf("approval %s timer: %w", t.GetApprovalId(), err)
	}
	return nil
}

// disarm cancels an ended approval's timer. A timer that fires anyway finds the approval
// ended and does nothing, so a failure here is only logged.
func (s *Service) disarm(ctx context.Context, id string) {
	if !s.timersOn() {
		return
	}
	if err := s.bus.CancelSchedule(ctx, ScheduleSubject(id)); err != nil {
		s.log.Warn("cancel approval timer", "request_id", id, "err", err)
	}
}

// pendingTimer returns the approval's timer that has not fired yet, if any.
func (s *Service) pendingTimer(ctx context.Context, id string) (*igav1.ApprovalTimer, error) {
	st, err := s.bus.JetStream().Stream(ctx, bus.StreamSchedules)
	if err != nil {
		return nil, fmt.Errorf("schedules stream: %w", err)
	}
	msg, err := st.GetLastMsgForSubject(ctx, ScheduleSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("approval %s timer: %w", id, err)
	}
	t := &igav1.ApprovalTimer{}
	if err := bus.Decode(msg.Header, msg.Data, t); err != nil {
		return nil, fmt.Errorf("approval %s timer: %w", id, err)
	}
	return t, nil
}

// handleFire acts on a fired timer: remind, escalate or expire. A fire for an ended
// approval, another stage, or superseded by a newer pending timer does nothing.
func (s *Service) handleFire(ctx context.Context, m bus.Meta, t *igav1.ApprovalTimer) error {
	id := t.GetApprovalId()
	if id == "" || m.Subject != FireSubject(id) {
		return bus.Permanent(fmt.Errorf("approval timer on %s names approval %q", m.Subject, id))
	}
	log := s.log.With("request_id", id, "timer", t.GetKind().String(), "stage", t.GetStage(), "escalation", t.GetEscalation())
	a, _, err := s.approvals.Get(ctx, id)
	if errors.Is(err, bus.ErrNotFound) {
		log.Info("approval timer ignored: no such approval")
		return nil
	}
	if err != nil {
		return err
	}
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING || a.GetCurrentStage() != t.GetStage() {
		log.Info("approval timer ignored: the stage is over", "status", a.GetStatus().String(), "current_stage", a.GetCurrentStage())
		return nil
	}
	if next, err := s.pendingTimer(ctx, id); err != nil {
		return err
	} else if next != nil {
		log.Info("approval timer ignored: a newer timer is pending")
		return nil
	}
	req, err := s.request(ctx, a.GetRequestId())
	if err != nil {
		return err
	}
	cause := []bus.PublishOption{bus.CausedBy(m)}
	switch t.GetKind() {
	case igav1.ApprovalTimerKind_APPROVAL_TIMER_KIND_REMINDER:
		log.Info("reminding approvers", "approvers", a.GetApprovers(), "review", IsReview(a))
		if IsReview(a) {
			err = s.askReviewers(ctx, SubjectReviewReminded, fmt.Sprintf("review-reminded-%s-%d-%d", id, t.GetStage(), t.GetEscalation()), a, req, nil, cause)
		} else {
			err = s.publish(ctx, SubjectApprovalReminded, &igav1.ApprovalRequested{Approval: a},
				fmt.Sprintf("approval-reminded-%s-%d-%d", id, t.GetStage(), t.GetEscalation()), a.GetRequestId(), cause)
		}
		if err != nil {
			return err
		}
		next := proto.Clone(t).(*igav1.ApprovalTimer)
		next.Kind = igav1.ApprovalTimerKind_APPROVAL_TIMER_KIND_TIMEOUT
		return s.schedule(ctx, next, t.GetDeadline().AsTime())
	case igav1.ApprovalTimerKind_APPROVAL_TIMER_KIND_TIMEOUT:
		if t.GetEscalation() < int32(s.cfg.Escalations) {
			snap := s.dir.Snapshot()
			if to := workflow.EscalationOf(snap, a, t.GetApprovers()); len(to) > 0 {
				return s.escalate(ctx, a, req, t, to, cause)
			}
			log.Info("no one to escalate to")
		}
		return s.expire(ctx, a, req, t, cause)
	default:
		return bus.Permanent(fmt.Errorf("approval timer of kind %v", t.GetKind()))
	}
}

// escalate adds the managers of the timed-out approvers, asks them, tells the requester,
// and sets the next level's timer. Each effect is idempotent, so a redelivered fire
// completes what a failed one started.
func (s *Service) escalate(ctx context.Context, a *igav1.Approval, req *igav1.AccessRequest, t *igav1.ApprovalTimer, to []string, cause []bus.PublishOption) error {
	snap := s.dir.Snapshot()
	id, level := a.GetId(), t.GetEscalation()+1
	a, err := s.approvals.Update(ctx, id, false, func(cur *igav1.Approval) (*igav1.Approval, error) {
		if cur.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING || cur.GetCurrentStage() != t.GetStage() {
			return nil, bus.ErrNoChange
		}
		next := proto.Clone(cur).(*igav1.Approval)
		if len(workflow.Escalate(snap, next, t.GetApprovers())) == 0 {
			return nil, bus.ErrNoChange
		}
		return next, nil
	})
	if err != nil {
		return fmt.Errorf("escalate approval %s: %w", id, err)
	}
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING || a.GetCurrentStage() != t.GetStage() {
		return nil // decided while we escalated
	}
	s.log.Info("approval escalated", "request_id", id, "stage", a.GetCurrentStage(), "to", to, "level", level, "review", IsReview(a))
	text := fmt.Sprintf("No decision from %s within %s, so your request is escalated to %s.",
		joinNames(snap, t.GetApprovers()), directory.FormatDuration(s.cfg.StageTimeout), joinNames(snap, to))
	if IsReview(a) {
		err = s.askReviewers(ctx, SubjectReviewRequested, fmt.Sprintf("review-requested-%s-%d-e%d", id, a.GetCurrentStage(), level), a, req, nil, cause)
		text = fmt.Sprintf("No review from %s within %s, so the review of your emergency access is escalated to %s.",
			joinNames(snap, t.GetApprovers()), directory.FormatDuration(s.cfg.StageTimeout), joinNames(snap, to))
	} else {
		err = s.publish(ctx, SubjectApprovalRequested, &igav1.ApprovalRequested{Approval: a},
			fmt.Sprintf("approval-requested-%s-%d-e%d", id, a.GetCurrentStage(), level), id, cause)
	}
	if err != nil {
		return err
	}
	if err := s.notify(ctx, req, fmt.Sprintf("reply-approval-escalated-%s-%d-%d", id, a.GetCurrentStage(), level), text, cause); err != nil {
		return err
	}
	// The new level counts from the missed deadline, or from now when the fire came late
	// (after downtime), so the escalated approvers always get a whole timeout.
	base := t.GetDeadline().AsTime()
	if now := s.now(); now.After(base) {
		base = now
	}
	return s.arm(ctx, a, level, base, a.GetApprovers())
}

// expire ends a stage nobody decided in time: the request is denied, never allowed, and
// an emergency grant nobody reviewed is revoked.
func (s *Service) expire(ctx context.Context, a *igav1.Approval, req *igav1.AccessRequest, t *igav1.ApprovalTimer, cause []bus.PublishOption) error {
	id := a.GetId()
	reason := fmt.Sprintf("Expired: nobody decided stage %d within %s", t.GetStage(), directory.FormatDuration(s.cfg.StageTimeout))
	if IsReview(a) {
		reason = fmt.Sprintf("Unreviewed: nobody reviewed stage %d within %s", t.GetStage(), directory.FormatDuration(s.cfg.StageTimeout))
	}
	if t.GetEscalation() > 0 {
		reason += " of each escalation"
	}
	a, err := s.approvals.Update(ctx, id, false, func(cur *igav1.Approval) (*igav1.Approval, error) {
		if cur.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING || cur.GetCurrentStage() != t.GetStage() {
			return nil, bus.ErrNoChange
		}
		next := proto.Clone(cur).(*igav1.Approval)
		workflow.Expire(next, reason, s.now())
		return next, nil
	})
	if err != nil {
		return fmt.Errorf("expire approval %s: %w", id, err)
	}
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED {
		return nil // decided in the meantime
	}
	s.log.Info("approval expired", "request_id", id, "stage", t.GetStage())
	return s.announce(ctx, a, req, cause)
}

// rearm moves the pending timer (if any) to a's current approvers, keeping its kind, level
// and deadline, after a delegation changed who decides.
func (s *Service) rearm(ctx context.Context, a *igav1.Approval) error {
	if !s.timersOn() {
		return nil
	}
	t, err := s.pendingTimer(ctx, a.GetId())
	if err != nil || t == nil || t.GetStage() != a.GetCurrentStage() {
		return err
	}
	t.Approvers = a.GetApprovers()
	at := t.GetDeadline().AsTime()
	if t.GetKind() == igav1.ApprovalTimerKind_APPROVAL_TIMER_KIND_REMINDER {
		at = at.Add(-s.cfg.StageTimeout).Add(s.cfg.ReminderAfter)
	}
	return s.schedule(ctx, t, at)
}

func joinNames(snap *directory.Snapshot, emails []string) string {
	names := make([]string, len(emails))
	for i, e := range emails {
		names[i] = workflow.NameOf(snap, e)
	}
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
