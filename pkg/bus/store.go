package bus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// ErrNotFound is returned for a key the bucket does not hold.
var ErrNotFound = errors.New("not found")

// ErrExists is returned by Create for a key the bucket already holds.
var ErrExists = errors.New("already exists")

// Store is a typed view of a KV bucket holding protobuf records. Updates are
// compare-and-set, so concurrent writers never lose each other's changes.
type Store[T proto.Message] struct {
	kv   jetstream.KeyValue
	newT func() T
}

// NewStore wraps a bucket.
func NewStore[T proto.Message](kv jetstream.KeyValue, newT func() T) *Store[T] {
	return &Store[T]{kv: kv, newT: newT}
}

// OpenStore opens a bucket created by Ensure as a typed store.
func OpenStore[T proto.Message](ctx context.Context, b *Bus, bucket string, newT func() T) (*Store[T], error) {
	kv, err := b.KV(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return NewStore(kv, newT), nil
}

// Key turns any string (an email, say) into a valid KV key.
func Key(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// KV is the underlying bucket.
func (s *Store[T]) KV() jetstream.KeyValue { return s.kv }

// Get returns the record at key and its revision.
func (s *Store[T]) Get(ctx context.Context, key string) (T, uint64, error) {
	var zero T
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return zero, 0, fmt.Errorf("%s %s: %w", s.kv.Bucket(), key, ErrNotFound)
	}
	if err != nil {
		return zero, 0, fmt.Errorf("get %s %s: %w", s.kv.Bucket(), key, err)
	}
	v := s.newT()
	if err := proto.Unmarshal(e.Value(), v); err != nil {
		return zero, 0, fmt.Errorf("decode %s %s: %w", s.kv.Bucket(), key, err)
	}
	return v, e.Revision(), nil
}

// Create stores v at key only if the key is new; otherwise ErrExists.
func (s *Store[T]) Create(ctx context.Context, key string, v T) (uint64, error) {
	data, err := proto.Marshal(v)
	if err != nil {
		return 0, err
	}
	rev, err := s.kv.Create(ctx, key, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("%s %s: %w", s.kv.Bucket(), key, ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("create %s %s: %w", s.kv.Bucket(), key, err)
	}
	return rev, nil
}

// Put stores v at key unconditionally.
func (s *Store[T]) Put(ctx context.Context, key string, v T) (uint64, error) {
	data, err := proto.Marshal(v)
	if err != nil {
		return 0, err
	}
	rev, err := s.kv.Put(ctx, key, data)
	if err != nil {
		return 0, fmt.Errorf("put %s %s: %w", s.kv.Bucket(), key, err)
	}
	return rev, nil
}

// Update applies fn to the record at key and stores the result if nobody wrote in
// between, retrying on conflict. fn gets nil-valued T (IsValid false) for a missing key
// when create is true; otherwise a missing key is ErrNotFound. fn returning the same
// pointer unchanged still writes; return ErrNoChange to skip the write.
func (s *Store[T]) Update(ctx context.Context, key string, create bool, fn func(cur T) (T, error)) (T, error) {
	var zero T
	for attempt := 0; attempt < 50; attempt++ {
		cur, rev, err := s.Get(ctx, key)
		if errors.Is(err, ErrNotFound) && create {
			cur, rev = zero, 0
		} else if err != nil {
			return zero, err
		}
		next, err := fn(cur)
		if errors.Is(err, ErrNoChange) {
			return cur, nil
		}
		if err != nil {
			return zero, err
		}
		data, err := proto.Marshal(next)
		if err != nil {
			return zero, err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, data)
		} else {
			_, err = s.kv.Update(ctx, key, data, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
			continue
		}
		if err != nil {
			return zero, fmt.Errorf("update %s %s: %w", s.kv.Bucket(), key, err)
		}
		return next, nil
	}
	return zero, fmt.Errorf("update %s %s: too much contention", s.kv.Bucket(), key)
}

// ErrNoChange, returned by an Update function, skips the write.
var ErrNoChange = errors.New("no change")

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// List returns every record in the bucket.
func (s *Store[T]) List(ctx context.Context) ([]T, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.kv.Bucket(), err)
	}
	defer lister.Stop()
	var out []T
	for key := range lister.Keys() {
		v, _, err := s.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
