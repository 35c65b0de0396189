package approval

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/approval/workflow"
)

// Repair finishes what a crash may have left half done, since every record is written
// before the messages that announce it: an approved approval whose grant the ledger does
// not know gets its grant command again (same id: the provisioner runs it once), a
// pending approval or review without a timer gets one, so none waits forever, and a
// rejected break-glass review whose grant is still active gets its revoke again. It runs
// at start-up; running it again changes nothing.
func (s *Service) Repair(ctx context.Context) error {
	all, err := s.approvals.List(ctx)
	if err != nil {
		return fmt.Errorf("repair: %w", err)
	}
	var errs []error
	for _, a := range all {
		if IsReview(a) && a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING {
			if err := s.repairReview(ctx, a); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		switch a.GetStatus() {
		case igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED:
			_, _, err := s.grants.Get(ctx, GrantID(a.GetRequestId()))
			if !errors.Is(err, bus.ErrNotFound) {
				if err != nil {
					errs = append(errs, err)
				}
				continue
			}
			s.log.Info("repair: commanding the grant of an approved request", "request_id", a.GetRequestId())
			if err := s.publish(ctx, SubjectApprovalDecided, &igav1.ApprovalDecided{Approval: a},
				"approval-decided-"+a.GetId(), a.GetRequestId(), nil); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := s.commandGrant(ctx, a.GetRequestId(), nil); err != nil {
				errs = append(errs, err)
			}
		case igav1.ApprovalStatus_APPROVAL_STATUS_PENDING:
			if !s.timersOn() {
				continue
			}
			t, err := s.pendingTimer(ctx, a.GetId())
			if err != nil || t != nil {
				if err != nil {
					errs = append(errs, err)
				}
				continue
			}
			s.log.Info("repair: setting the timer of a pending approval", "request_id", a.GetId(), "stage", a.GetCurrentStage())
			if !workflow.Escalated(s.dir.Snapshot(), a) {
				err = s.armStage(ctx, a)
			} else {
				// The escalation level is lost with the timer: count it as the last one, so
				// the stage expires after one more timeout at the latest.
				err = s.arm(ctx, a, int32(max(s.cfg.Escalations, 0)), s.now(), a.GetApprovers())
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
