package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// holdings keeps, per person, what they hold (active grants) and wait for (pending
// approvals, grants being provisioned), from watches on the grants ledger and the
// approvals bucket. Safe for concurrent use.
type holdings struct {
	mu       sync.RWMutex
	byKey    map[string]holding            // "<bucket>/<key>" -> holding
	byPerson map[string]map[string]holding // email -> "<bucket>/<key>" -> holding
}

type holding struct {
	person, entitlement, requestID string
	active                         bool // held now; otherwise pending
}

func newHoldings() *holdings {
	return &holdings{byKey: map[string]holding{}, byPerson: map[string]map[string]holding{}}
}

func (h *holdings) set(key string, v holding, present bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.byKey[key]; ok {
		delete(h.byPerson[old.person], key)
		if len(h.byPerson[old.person]) == 0 {
			delete(h.byPerson, old.person)
		}
		delete(h.byKey, key)
	}
	if !present {
		return
	}
	h.byKey[key] = v
	if h.byPerson[v.person] == nil {
		h.byPerson[v.person] = map[string]holding{}
	}
	h.byPerson[v.person][key] = v
}

// of returns the entitlements person holds and waits for, sorted, leaving out anything
// pending for the request being decided.
func (h *holdings) of(person, requestID string) (held, pending []string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, v := range h.byPerson[strings.ToLower(person)] {
		switch {
		case v.active:
			held = append(held, v.entitlement)
		case requestID == "" || v.requestID != requestID:
			pending = append(pending, v.entitlement)
		}
	}
	slices.Sort(held)
	slices.Sort(pending)
	return slices.Compact(held), slices.Compact(pending)
}

// grantHolding reads a ledger entry: active grants are held, pending ones awaited.
func grantHolding(data []byte) (holding, bool) {
	var g igav1.Grant
	if proto.Unmarshal(data, &g) != nil {
		return holding{}, false
	}
	switch g.GetStatus() {
	case igav1.GrantStatus_GRANT_STATUS_ACTIVE, igav1.GrantStatus_GRANT_STATUS_PENDING:
		return holding{person: strings.ToLower(g.GetPersonEmail()), entitlement: g.GetEntitlementId(),
			requestID: g.GetRequestId(), active: g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE}, true
	}
	return holding{}, false
}

// approvalHolding reads an approval: a pending one is access the person waits for.
func approvalHolding(data []byte) (holding, bool) {
	var a igav1.Approval
	if proto.Unmarshal(data, &a) != nil || a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING {
		return holding{}, false
	}
	return holding{person: strings.ToLower(a.GetBeneficiaryEmail()), entitlement: a.GetEntitlementId(),
		requestID: a.GetRequestId()}, true
}

// watch follows a bucket into h until ctx ends. It returns once the bucket's current
// contents are loaded.
func (h *holdings) watch(ctx context.Context, kv jetstream.KeyValue, read func([]byte) (holding, bool), log *slog.Logger, wg *sync.WaitGroup) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	prefix := kv.Bucket() + "/"
	for {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch " + kv.Bucket() + " closed")
			}
			if e == nil { // the initial contents are loaded
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { _ = w.Stop() }()
					for {
						select {
						case <-ctx.Done():
							return
						case e, ok := <-w.Updates():
							if !ok {
								log.Warn("holdings watch closed", "bucket", kv.Bucket())
								return
							}
							if e != nil {
								h.apply(prefix, e, read)
							}
						}
					}
				}()
				return nil
			}
			h.apply(prefix, e, read)
		}
	}
}

func (h *holdings) apply(prefix string, e jetstream.KeyValueEntry, read func([]byte) (holding, bool)) {
	if e.Operation() != jetstream.KeyValuePut {
		h.set(prefix+e.Key(), holding{}, false)
		return
	}
	v, ok := read(e.Value())
	h.set(prefix+e.Key(), v, ok)
}
