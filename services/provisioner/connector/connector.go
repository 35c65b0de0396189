// Package connector is the provisioner's port to the systems where access really lives:
// the Connector interface and its implementations — SCIM 2.0 group membership, a manual
// task for a person, and a signed webhook. It knows nothing of the bus or the ledger.
package connector

import (
	"context"
	"errors"
	"fmt"
)

// Method names how an entitlement is provisioned.
type Method int

// Provisioning methods.
const (
	MethodSCIM Method = iota + 1
	MethodManual
	MethodWebhook
)

func (m Method) String() string {
	switch m {
	case MethodSCIM:
		return "scim"
	case MethodManual:
		return "manual"
	case MethodWebhook:
		return "webhook"
	}
	return fmt.Sprintf("method(%d)", int(m))
}

// Person is who receives or loses access.
type Person struct {
	Email string
	Name  string
}

// Entitlement is the access granted or revoked.
type Entitlement struct {
	ID      string // "grafana:payments-viewer"
	AppID   string
	AppName string
	Name    string
	// SCIMGroup is the group (displayName) that carries the entitlement at a SCIM target.
	SCIMGroup string
	// OwnerEmail is who carries out manual tasks for it.
	OwnerEmail string
	Method     Method
}

// Connector makes an entitlement real, or not, at its target.
//
// Every method is idempotent: granting present access and revoking absent access
// succeed, because the provisioner retries after failures (delivery is at-least-once).
// Implementations are safe for concurrent use. An error wrapped with Permanent means
// retrying cannot help (the target rejected the request); any other error is retried.
type Connector interface {
	// Grant gives the person the entitlement and returns the target's reference (a SCIM
	// user id, a task id). ErrPending means the change was requested and completes later
	// (a person does it); the reference identifies the request.
	Grant(ctx context.Context, p Person, e Entitlement) (externalRef string, err error)
	// Revoke takes the entitlement away. ErrPending means the removal was requested and a
	// person completes it later.
	Revoke(ctx context.Context, p Person, e Entitlement) error
	// Verify reads the target back and reports whether the person holds the entitlement.
	// ErrNotVerifiable means this target cannot be read back.
	Verify(ctx context.Context, p Person, e Entitlement) (present bool, err error)
}

// ErrPending is returned when a change was requested but completes later.
var ErrPending = errors.New("change requested; completes later")

// ErrNotVerifiable is returned by Verify for targets that cannot be read back.
var ErrNotVerifiable = errors.New("target cannot be read back")

// ErrPermanentFailure marks errors that retrying cannot fix.
var ErrPermanentFailure = errors.New("target rejected the change")

// Permanent marks err as one that retrying cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrPermanentFailure, err)
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanentFailure) }
