package provisioner

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// ledger is an in-memory view of the grants bucket, fed by a KV watcher so reads never
// scan the bucket. Writes go to the bucket (compare-and-set); the view follows within
// moments. Safe for concurrent use.
type ledger struct {
	mu       sync.RWMutex
	byID     map[string]*igav1.Grant
	byPerson map[string]map[string]struct{} // lower-case email -> grant ids
	revision uint64
}

func newLedger() *ledger {
	return &ledger{byID: map[string]*igav1.Grant{}, byPerson: map[string]map[string]struct{}{}}
}

// watch loads the bucket and keeps following it until ctx ends; it returns once the
// initial values are loaded.
func (l *ledger) watch(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	ready := make(chan struct{})
	go func() {
		defer func() { _ = w.Stop() }()
		loaded := false
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					if ctx.Err() == nil {
						log.Error("the grants ledger watch ended; CheckAccess and ListGrants stop following the ledger")
					}
					return
				}
				if e == nil { // end of the initial values
					if !loaded {
						loaded = true
						close(ready)
					}
					continue
				}
				l.apply(e, log)
			}
		}
	}()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return fmt.Errorf("loading %s took too long", kv.Bucket())
	}
}

func (l *ledger) apply(e jetstream.KeyValueEntry, log *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.revision = max(l.revision, e.Revision())
	if old, ok := l.byID[e.Key()]; ok {
		delete(l.byPerson[strings.ToLower(old.GetPersonEmail())], e.Key())
		delete(l.byID, e.Key())
	}
	if e.Operation() != jetstream.KeyValuePut {
		return
	}
	g := &igav1.Grant{}
	if err := proto.Unmarshal(e.Value(), g); err != nil {
		log.Error("undecodable grant in the ledger; ignoring it", "key", e.Key(), "err", err)
		return
	}
	l.byID[e.Key()] = g
	p := strings.ToLower(g.GetPersonEmail())
	if l.byPerson[p] == nil {
		l.byPerson[p] = map[string]struct{}{}
	}
	l.byPerson[p][e.Key()] = struct{}{}
}

// get returns a copy of the grant with this id.
func (l *ledger) get(id string) (*igav1.Grant, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	g, ok := l.byID[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(g).(*igav1.Grant), true
}

// list returns copies of the grants matching keep, for one person or (email "") all,
// newest first.
func (l *ledger) list(email string, keep func(*igav1.Grant) bool) []*igav1.Grant {
	l.mu.RLock()
	var out []*igav1.Grant
	add := func(g *igav1.Grant) {
		if keep(g) {
			out = append(out, proto.Clone(g).(*igav1.Grant))
		}
	}
	if email == "" {
		for _, g := range l.byID {
			add(g)
		}
	} else {
		for id := range l.byPerson[strings.ToLower(strings.TrimSpace(email))] {
			add(l.byID[id])
		}
	}
	l.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		ti, tj := started(out[i]), started(out[j])
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return out[i].GetId() < out[j].GetId()
	})
	return out
}

func started(g *igav1.Grant) time.Time {
	if g.GetGrantedAt() != nil {
		return g.GetGrantedAt().AsTime()
	}
	return time.Time{}
}

// activeGrant is the grant giving the person the entitlement now, if any.
func (l *ledger) activeGrant(email, entitlementID string, now time.Time) (*igav1.Grant, bool) {
	list := l.list(email, func(g *igav1.Grant) bool {
		return g.GetEntitlementId() == entitlementID && isActive(g, now)
	})
	if len(list) == 0 {
		return nil, false
	}
	return list[0], true
}

// isActive: ACTIVE in the ledger and not past its expiry (an expired grant is about to be
// revoked; it no longer counts as access).
func isActive(g *igav1.Grant, now time.Time) bool {
	return g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE &&
		(g.GetExpiresAt() == nil || g.GetExpiresAt().AsTime().After(now))
}
