package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// Keys in the directory bucket: person.<key(email)>, app.<id>, ent.<key(id)>.
func personKey(email string) string { return "person." + bus.Key(strings.ToLower(email)) }
func appKey(id string) string       { return "app." + id }
func entKey(id string) string       { return "ent." + bus.Key(id) }

// Publish writes a snapshot to the directory bucket and removes records it no longer has.
// Unchanged records are not rewritten, so watchers see only real changes.
func Publish(ctx context.Context, kv jetstream.KeyValue, s *Snapshot) error {
	want := map[string]proto.Message{}
	for _, p := range s.People {
		want[personKey(p.GetEmail())] = p
	}
	for _, a := range s.Apps {
		want[appKey(a.GetId())] = a
	}
	for _, e := range s.Entitlements {
		want[entKey(e.GetId())] = e
	}
	for key, msg := range want {
		data, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil {
			return err
		}
		if cur, err := kv.Get(ctx, key); err == nil && string(cur.Value()) == string(data) {
			continue
		}
		if _, err := kv.Put(ctx, key, data); err != nil {
			return fmt.Errorf("publish directory %s: %w", key, err)
		}
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list directory: %w", err)
	}
	defer lister.Stop()
	for key := range lister.Keys() {
		if _, ok := want[key]; !ok {
			if err := kv.Delete(ctx, key); err != nil {
				return fmt.Errorf("remove stale directory record %s: %w", key, err)
			}
		}
	}
	return nil
}

// Watch loads the directory bucket into memory and keeps it current until ctx ends.
// It returns once the initial load is complete; an empty bucket is an error that says how
// to load one.
func Watch(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger) (*Directory, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch directory: %w", err)
	}
	people := map[string]*igav1.Person{}
	apps := map[string]*igav1.App{}
	ents := map[string]*igav1.Entitlement{}
	snapshot := func() *Snapshot {
		pl := make([]*igav1.Person, 0, len(people))
		for _, p := range people {
			pl = append(pl, p)
		}
		al := make([]*igav1.App, 0, len(apps))
		for _, a := range apps {
			al = append(al, a)
		}
		el := make([]*igav1.Entitlement, 0, len(ents))
		for _, e := range ents {
			el = append(el, e)
		}
		return NewSnapshot(pl, al, el)
	}
	apply := func(e jetstream.KeyValueEntry) {
		key := e.Key()
		del := e.Operation() != jetstream.KeyValuePut
		var err error
		switch {
		case strings.HasPrefix(key, "person."):
			if del {
				delete(people, key)
				return
			}
			p := &igav1.Person{}
			if err = proto.Unmarshal(e.Value(), p); err == nil {
				people[key] = p
			}
		case strings.HasPrefix(key, "app."):
			if del {
				delete(apps, key)
				return
			}
			a := &igav1.App{}
			if err = proto.Unmarshal(e.Value(), a); err == nil {
				apps[key] = a
			}
		case strings.HasPrefix(key, "ent."):
			if del {
				delete(ents, key)
				return
			}
			en := &igav1.Entitlement{}
			if err = proto.Unmarshal(e.Value(), en); err == nil {
				ents[key] = en
			}
		}
		if err != nil && log != nil {
			log.Warn("skipping undecodable directory record", "key", key, "err", err)
		}
	}
	// Initial values, then a nil entry marks the end of the backlog.
	loaded := false
	for e := range w.Updates() {
		if e == nil {
			loaded = true
			break
		}
		apply(e)
	}
	if !loaded {
		// The watch closed (ctx ended, connection lost) before the backlog was read: a
		// partial directory must not pass for the whole one.
		_ = w.Stop()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("load directory: %w", err)
		}
		return nil, errors.New("load directory: the watch closed before the initial load completed")
	}
	if len(people) == 0 {
		_ = w.Stop()
		return nil, errors.New("the directory is empty: load one with `iga directory load DIR` (or run `iga dev`, which loads deploy/demo)")
	}
	d := New(snapshot())
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				apply(e)
				d.Set(snapshot())
			}
		}
	}()
	return d, nil
}
