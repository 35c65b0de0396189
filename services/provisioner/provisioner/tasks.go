package provisioner

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/provisioner/connector"
)

// taskRaiser publishes manual tasks as ManualTask events on iga.evt.task.created, where
// ITSM bridges pick them up. The task id is the event id, so a retried raise is one task.
type taskRaiser struct{ s *Service }

func (r taskRaiser) RaiseTask(ctx context.Context, t connector.Task) error {
	_, err := r.s.bus.Publish(ctx, SubjectTaskCreated, &igav1.ManualTask{
		TaskId: t.ID, Action: t.Action, PersonEmail: t.PersonEmail, EntitlementId: t.EntitlementID,
		AssigneeEmail: t.AssigneeEmail, Instructions: t.Instructions,
	}, bus.WithID(t.ID))
	return err
}

// handleTaskCompleted completes a manual grant: a ManualTask on
// iga.cmd.provision.task.completed (from an ITSM bridge or an operator) with the task id,
// action "grant", the person and the entitlement. The pending grant whose task it is
// becomes ACTIVE, after the records are re-checked. Completing a revoke task only
// confirms what the ledger already records.
func (s *Service) handleTaskCompleted(ctx context.Context, m bus.Meta, t *igav1.ManualTask) error {
	taskID := strings.TrimSpace(t.GetTaskId())
	if taskID == "" {
		return bus.Permanent(errors.New("task completion names no task"))
	}
	log := s.log.With("task_id", taskID, "action", t.GetAction(), "person", t.GetPersonEmail(), "entitlement", t.GetEntitlementId())
	switch t.GetAction() {
	case "revoke":
		log.Info("manual removal reported done")
		return nil
	case "grant":
	default:
		return bus.Permanent(fmt.Errorf("task %s: action %q must be grant or revoke", taskID, t.GetAction()))
	}
	var g *igav1.Grant
	if t.GetGrantId() != "" {
		g, _ = s.ledger.get(t.GetGrantId())
	} else {
		for _, c := range s.ledger.list(t.GetPersonEmail(), func(c *igav1.Grant) bool {
			return c.GetEntitlementId() == t.GetEntitlementId() && c.GetExternalRef() == taskID
		}) {
			if g == nil || c.GetStatus() == igav1.GrantStatus_GRANT_STATUS_PENDING {
				g = c
			}
		}
	}
	if g == nil || g.GetExternalRef() != taskID {
		// The ledger view may lag the write by moments: retry, then dead-letter.
		return fmt.Errorf("task %s: no grant waits for this task", taskID)
	}
	a, err := s.authorize(ctx, g.GetRequestId())
	if err != nil {
		return err
	}
	switch g.GetStatus() {
	case igav1.GrantStatus_GRANT_STATUS_ACTIVE:
		return s.announceActive(ctx, m, g, a.request, m.Deliveries > 1)
	case igav1.GrantStatus_GRANT_STATUS_PENDING:
	default:
		log.Info("task completed for a grant that is no longer pending", "grant_id", g.GetId(), "status", g.GetStatus())
		return nil
	}
	g, err = s.activate(ctx, g.GetId(), a, taskID)
	if err != nil {
		return err
	}
	log.Info("manual grant completed", "grant_id", g.GetId(), "expires_at", g.GetExpiresAt().AsTime())
	return s.announceActive(ctx, m, g, a.request, true)
}
