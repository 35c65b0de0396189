package connector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Task is a change a person must make by hand, raised as an ITSM task.
type Task struct {
	ID            string
	Action        string // "grant" or "revoke"
	PersonEmail   string
	EntitlementID string
	AssigneeEmail string
	Instructions  string
}

// TaskRaiser records a task durably (the provisioner publishes it as an event).
type TaskRaiser interface {
	RaiseTask(ctx context.Context, t Task) error
}

// Manual provisions apps outside any IdP: it raises a task for the entitlement's owner
// and reports ErrPending; the change completes when the task is reported done.
type Manual struct {
	tasks TaskRaiser
}

// NewManual returns a connector raising tasks through tasks.
func NewManual(tasks TaskRaiser) *Manual { return &Manual{tasks: tasks} }

// TaskID is the deterministic id of the task for one change, so a retried raise is the
// same task.
func TaskID(action string, p Person, e Entitlement) string { return "task-" + changeID(action, p, e) }

// changeID names one change (action, person, entitlement) the same way on every retry.
func changeID(action string, p Person, e Entitlement) string {
	sum := sha256.Sum256([]byte(action + "\x00" + strings.ToLower(p.Email) + "\x00" + e.ID))
	return action + "-" + hex.EncodeToString(sum[:8])
}

// Grant raises a task to give the access and returns its id with ErrPending.
func (m *Manual) Grant(ctx context.Context, p Person, e Entitlement) (string, error) {
	t, err := m.raise(ctx, "grant", p, e, fmt.Sprintf("Give %s (%s) the %q entitlement in %s, then mark this task done.",
		displayName(p), p.Email, e.Name, appName(e)))
	if err != nil {
		return "", err
	}
	return t.ID, ErrPending
}

// Revoke raises a task to remove the access and returns ErrPending.
func (m *Manual) Revoke(ctx context.Context, p Person, e Entitlement) error {
	if _, err := m.raise(ctx, "revoke", p, e, fmt.Sprintf("Remove the %q entitlement in %s from %s (%s), then mark this task done.",
		e.Name, appName(e), displayName(p), p.Email)); err != nil {
		return err
	}
	return ErrPending
}

// Verify cannot read a system iga has no API to.
func (m *Manual) Verify(context.Context, Person, Entitlement) (bool, error) {
	return false, ErrNotVerifiable
}

func (m *Manual) raise(ctx context.Context, action string, p Person, e Entitlement, instructions string) (Task, error) {
	if e.OwnerEmail == "" {
		return Task{}, Permanent(fmt.Errorf("entitlement %s has no owner to carry out a manual %s", e.ID, action))
	}
	t := Task{ID: TaskID(action, p, e), Action: action, PersonEmail: p.Email, EntitlementID: e.ID,
		AssigneeEmail: e.OwnerEmail, Instructions: instructions}
	if err := m.tasks.RaiseTask(ctx, t); err != nil {
		return Task{}, fmt.Errorf("raise %s task %s: %w", action, t.ID, err)
	}
	return t, nil
}

func displayName(p Person) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Email
}

func appName(e Entitlement) string {
	if e.AppName != "" {
		return e.AppName
	}
	return e.AppID
}
