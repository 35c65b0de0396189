// Package convstore keeps the IG agent's conversation state in Redis: one hash per
// conversation holding a version and the JSON state, written only by compare-and-set,
// expiring after a period of idleness.
package convstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentic-iga/iga/services/agent/conv"
)

// ErrConflict means someone else saved the conversation since it was loaded.
var ErrConflict = errors.New("conversation changed concurrently")

// ErrNoChange, returned by an Update function, skips the write.
var ErrNoChange = errors.New("no change")

// ErrUnavailable means Redis could not be reached or answered with an error.
var ErrUnavailable = errors.New("conversation store unavailable")

// casScript writes the state only if the stored version is the one the writer read
// ("0" for a conversation not stored yet), bumps the version and refreshes the idle TTL,
// all in one round trip.
var casScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'v')
if cur == false then cur = '0' end
if cur ~= ARGV[1] then return -1 end
local nxt = tonumber(ARGV[1]) + 1
redis.call('HSET', KEYS[1], 'v', nxt, 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return nxt
`)

// Store reads and writes conversation state. Safe for concurrent use.
type Store struct {
	rdb    redis.Cmdable
	prefix string
	ttl    time.Duration
}

// New returns a store on rdb whose keys start with prefix and expire after ttl idle.
func New(rdb redis.Cmdable, prefix string, ttl time.Duration) *Store {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return &Store{rdb: rdb, prefix: prefix, ttl: ttl}
}

// Key is the Redis key of a conversation.
func (s *Store) Key(id string) string { return s.prefix + "conv:" + id }

// Load returns the stored state of a conversation, or a fresh one (version 0) when none
// is stored. A state written by another schema version is replaced by a fresh one that
// keeps the stored version, so the next Save still compares against it.
func (s *Store) Load(ctx context.Context, id string) (*conv.State, error) {
	vals, err := s.rdb.HGetAll(ctx, s.Key(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("load conversation %s: %w: %v", id, ErrUnavailable, err)
	}
	st := conv.New(id)
	if len(vals) == 0 {
		return st, nil
	}
	ver, err := strconv.ParseInt(vals["v"], 10, 64)
	if err != nil {
		ver = 0
	}
	var stored conv.State
	if err := json.Unmarshal([]byte(vals["d"]), &stored); err == nil && stored.Schema == conv.SchemaVersion {
		st = &stored
		st.ID = id
	}
	st.Version = ver
	return st, nil
}

// Save writes st if nobody saved since it was loaded, and bumps st.Version.
func (s *Store) Save(ctx context.Context, st *conv.State) error {
	st.Schema = conv.SchemaVersion
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode conversation %s: %w", st.ID, err)
	}
	res, err := casScript.Run(ctx, s.rdb, []string{s.Key(st.ID)},
		strconv.FormatInt(st.Version, 10), data, s.ttl.Milliseconds()).Int64()
	if err != nil {
		return fmt.Errorf("save conversation %s: %w: %v", st.ID, ErrUnavailable, err)
	}
	if res < 0 {
		return fmt.Errorf("save conversation %s at version %d: %w", st.ID, st.Version, ErrConflict)
	}
	st.Version = res
	return nil
}

// Update loads a conversation, applies fn and saves the result, retrying from a fresh
// load when another writer got there first. fn may run more than once, so it must only
// have idempotent side effects. fn returning ErrNoChange skips the write.
func (s *Store) Update(ctx context.Context, id string, fn func(*conv.State) error) (*conv.State, error) {
	for attempt := 0; attempt < 10; attempt++ {
		st, err := s.Load(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := fn(st); errors.Is(err, ErrNoChange) {
			return st, nil
		} else if err != nil {
			return nil, err
		}
		err = s.Save(ctx, st)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, fmt.Errorf("update conversation %s: %w (too much contention)", id, ErrConflict)
}

// Failed counts one more failed attempt at a turn and returns how many there have been.
// Only the failure path calls it, so a turn that succeeds costs no round trip for it.
// The count expires with the conversation's idle TTL.
func (s *Store) Failed(ctx context.Context, convID, turnID string) (int64, error) {
	key := s.prefix + "fail:" + convID + ":" + turnID
	pipe := s.rdb.TxPipeline()
	n := pipe.Incr(ctx, key)
	pipe.PExpire(ctx, key, s.ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("count failure of turn %s: %w: %v", turnID, ErrUnavailable, err)
	}
	return n.Val(), nil
}

// TTL is how long an idle conversation is kept.
func (s *Store) TTL() time.Duration { return s.ttl }
