package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// decisionPendingFor is how long a recorded allow or require_approval decision counts as
// access on its way when neither an approval nor a grant has followed it yet.
const decisionPendingFor = 24 * time.Hour

// holdings keeps, per person, what they hold and what they are waiting for, joining per
// request the three records that tell: the grants ledger (active: held; pending: on its
// way; revoked or failed: gone), the approval (pending or approved: on its way; denied or
// expired: gone) and policy's own decision (allowed or sent to approval, with nothing
// after it yet: on its way). Separation of duties counts both. Safe for concurrent use.
type holdings struct {
	mu       sync.RWMutex
	byKey    map[string]*track          // request id (or "grants/<key>" without one)
	byPerson map[string]map[string]bool // email -> keys
	bySource map[string]string          // "<bucket>/<key>" -> key, to undo a deleted record
	now      func() time.Time
}

// track is what is known of one request's way to access.
type track struct {
	person, entitlement string
	grant               igav1.GrantStatus
	approval            igav1.ApprovalStatus
	decidedAt           time.Time // zero unless a non-deny decision is recorded
}

func newHoldings(now func() time.Time) *holdings {
	return &holdings{byKey: map[string]*track{}, byPerson: map[string]map[string]bool{}, bySource: map[string]string{}, now: now}
}

// fact is one record's contribution to a track; source names the record.
type fact struct {
	source, key, person, entitlement string
	apply                            func(*track)
}

// update applies f to the track at key (creating it), or clears what the record at
// source contributed when the record is gone.
func (h *holdings) update(f fact) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f.person == "" { // the record is gone: find the track it fed
		if k, ok := h.bySource[f.source]; ok {
			f.key = k
			delete(h.bySource, f.source)
		}
	} else {
		h.bySource[f.source] = f.key
	}
	t := h.byKey[f.key]
	if t == nil {
		if f.person == "" {
			return
		}
		t = &track{}
		h.byKey[f.key] = t
	}
	if f.person != "" && t.person != f.person {
		if t.person != "" {
			delete(h.byPerson[t.person], f.key)
		}
		t.person, t.entitlement = f.person, f.entitlement
		if h.byPerson[t.person] == nil {
			h.byPerson[t.person] = map[string]bool{}
		}
		h.byPerson[t.person][f.key] = true
	}
	f.apply(t)
	if t.grant == 0 && t.approval == 0 && t.decidedAt.IsZero() {
		delete(h.byPerson[t.person], f.key)
		if len(h.byPerson[t.person]) == 0 {
			delete(h.byPerson, t.person)
		}
		delete(h.byKey, f.key)
	}
}

// of returns the entitlements person holds and waits for, sorted, leaving out the
// request being decided.
func (h *holdings) of(person, requestID string) (held, pending []string) {
	now := h.now()
	h.mu.RLock()
	defer h.mu.RUnlock()
	for key := range h.byPerson[strings.ToLower(person)] {
		t := h.byKey[key]
		switch {
		case t.grant == igav1.GrantStatus_GRANT_STATUS_ACTIVE:
			held = append(held, t.entitlement)
		case key == requestID:
		case t.grant == igav1.GrantStatus_GRANT_STATUS_PENDING:
			pending = append(pending, t.entitlement)
		case t.grant != 0: // revoked or failed
		case t.approval == igav1.ApprovalStatus_APPROVAL_STATUS_PENDING, t.approval == igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED:
			pending = append(pending, t.entitlement)
		case t.approval != 0: // denied or expired
		case !t.decidedAt.IsZero() && now.Sub(t.decidedAt) < decisionPendingFor:
			pending = append(pending, t.entitlement)
		}
	}
	slices.Sort(held)
	slices.Sort(pending)
	return slices.Compact(held), slices.Compact(pending)
}

// Readers turn a bucket entry into a fact; a nil data means the entry was deleted.

func grantFact(key string, data []byte) fact {
	var g igav1.Grant
	src := "grants/" + key
	if data == nil || proto.Unmarshal(data, &g) != nil {
		return fact{source: src, key: src, apply: func(t *track) { t.grant = 0 }}
	}
	k := g.GetRequestId()
	if k == "" {
		k = src
	}
	return fact{source: src, key: k, person: strings.ToLower(g.GetPersonEmail()), entitlement: g.GetEntitlementId(),
		apply: func(t *track) { t.grant = g.GetStatus() }}
}

func approvalFact(key string, data []byte) fact {
	var a igav1.Approval
	src := "approvals/" + key
	if data == nil || proto.Unmarshal(data, &a) != nil {
		return fact{source: src, key: key, apply: func(t *track) { t.approval = 0 }}
	}
	k := a.GetRequestId()
	if k == "" {
		k = key
	}
	return fact{source: src, key: k, person: strings.ToLower(a.GetBeneficiaryEmail()), entitlement: a.GetEntitlementId(),
		apply: func(t *track) { t.approval = a.GetStatus() }}
}

func decisionFact(key string, data []byte) fact {
	var d igav1.PolicyDecision
	src := "decisions/" + key
	if data == nil || proto.Unmarshal(data, &d) != nil || d.GetEffect() == igav1.Effect_EFFECT_DENY {
		return fact{source: src, key: key, apply: func(t *track) { t.decidedAt = time.Time{} }}
	}
	at := d.GetDecidedAt().AsTime()
	return fact{source: src, key: key, person: strings.ToLower(d.GetBeneficiaryEmail()), entitlement: d.GetEntitlementId(),
		apply: func(t *track) { t.decidedAt = at }}
}

// watch follows a bucket into h until ctx ends. It returns once the bucket's current
// contents are loaded.
func (h *holdings) watch(ctx context.Context, kv jetstream.KeyValue, read func(key string, data []byte) fact, log *slog.Logger, wg *sync.WaitGroup) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	apply := func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			h.update(read(e.Key(), nil))
			return
		}
		h.update(read(e.Key(), e.Value()))
	}
	for {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch " + kv.Bucket() + " closed")
			}
			if e != nil {
				apply(e)
				continue
			}
			// The initial contents are loaded; follow changes in the background.
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
							apply(e)
						}
					}
				}
			}()
			return nil
		}
	}
}
