// Package redisstore is an absorb.Store on Redis, shared by every
// instance of the server that points at the same Redis: duplicate
// refreshes that land on different instances share one upstream refresh.
//
// Per key, three Redis names: K:l, the lease (SET NX PX lockTTL, holding a
// random token), K:v, the sealed result (SET PX window), and the channel
// P+"done", on which a completed lease publishes K and its sealed result,
// and a released one K alone. Each
// Store keeps one subscription to that channel and wakes its own waiters
// from it: a waiter checks once, then blocks until its key is published,
// the lease's remaining TTL passes or its ctx ends. No polling loop. The
// check-and-lock and the complete-and-publish steps are Lua scripts, so
// each is atomic.
//
// Redis failures come back as errors; the absorb.Absorber then coordinates
// in process, so that no refresh fails because Redis is down or slow.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every Redis name the Store uses.
const DefaultPrefix = "fwr:absorb:"

// Timeouts set on a Redis URL that does not set its own: a slow Redis
// must not hold a refresh up for long, since the refresh can go on
// without it.
const (
	DialTimeout = 500 * time.Millisecond
	IOTimeout   = 500 * time.Millisecond
)

// Store is an absorb.Store on Redis. Create one with Open or New; Close it.
type Store struct {
	c      *redis.Client
	prefix string
	done   string // the channel of completed and released leases
	ps     *redis.PubSub
	stop   chan struct{}
	wg     sync.WaitGroup
	// subscribed is closed once the subscription is first active.
	subscribed chan struct{}
	subOnce    sync.Once
	closeOnce  sync.Once
	closeErr   error // Close's answer, for every call

	mu      sync.Mutex // protects waiters
	waiters map[string]map[chan []byte]struct{}
}

var _ absorb.Store = (*Store)(nil)

// Options returns go-redis options for rawURL (redis://[user:pass@]host:port/db
// or rediss://...), with short timeouts, one dial per attempt and a single
// retry unless the URL sets them.
func Options(rawURL string) (*redis.Options, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = DialTimeout
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = IOTimeout
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = IOTimeout
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 1
		opt.MinRetryBackoff, opt.MaxRetryBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	if opt.DialerRetries == 0 {
		// One dial per attempt: go-redis's default (5 dials, 100 ms apart)
		// makes a refused connection cost every call 0.8 s.
		opt.DialerRetries = 1
	}
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true
	return opt, nil
}

// Open returns a Store on the Redis at rawURL (see Options). Redis need not
// be reachable yet: the Store connects when it is used, and its
// subscription reconnects by itself.
func Open(rawURL string) (*Store, error) {
	opt, err := Options(rawURL)
	if err != nil {
		return nil, err
	}
	return New(redis.NewClient(opt), DefaultPrefix), nil
}

// New returns a Store on c whose Redis names start with prefix. Close
// closes c.
func New(c *redis.Client, prefix string) *Store {
	s := &Store{
		c: c, prefix: prefix, done: prefix + "done",
		stop: make(chan struct{}), subscribed: make(chan struct{}),
		waiters: map[string]map[chan []byte]struct{}{},
	}
	s.ps = c.Subscribe(context.Background(), s.done)
	msgs := s.ps.ChannelWithSubscriptions()
	s.wg.Go(func() { s.dispatch(msgs) })
	return s
}

// Close stops the subscription and closes the client. Calling it again
// returns the first call's answer.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		err := s.ps.Close()
		s.wg.Wait()
		s.closeErr = errors.Join(err, s.c.Close())
	})
	return s.closeErr
}

// Subscribed returns a channel closed once the Store listens for
// completions: before, waiters wake only when a lease's TTL passes.
func (s *Store) Subscribed() <-chan struct{} { return s.subscribed }

// Ping reports whether Redis answers, for readiness checks.
func (s *Store) Ping(ctx context.Context) error { return s.c.Ping(ctx).Err() }

// dispatch wakes the waiters of each published key. A (re)subscription
// wakes every waiter: keys published while the subscription was down would
// otherwise be missed until the lease's TTL.
func (s *Store) dispatch(msgs <-chan any) {
	for {
		select {
		case <-s.stop:
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Message:
				key, value, _ := strings.Cut(m.Payload, "\n")
				var v []byte
				if value != "" {
					v = []byte(value)
				}
				s.wake(key, v)
			case *redis.Subscription:
				s.subOnce.Do(func() { close(s.subscribed) })
				s.wakeAll()
			}
		}
	}
}

func (s *Store) register(key string) chan []byte {
	ch := make(chan []byte, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiters[key] == nil {
		s.waiters[key] = map[chan []byte]struct{}{}
	}
	s.waiters[key][ch] = struct{}{}
	return ch
}

func (s *Store) unregister(key string, ch chan []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waiters[key], ch)
	if len(s.waiters[key]) == 0 {
		delete(s.waiters, key)
	}
}

// wake wakes key's waiters, with the result when the message carried one.
func (s *Store) wake(key string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.waiters[key] {
		select {
		case ch <- value:
		default:
		}
	}
}

func (s *Store) wakeAll() {
	s.mu.Lock()
	keys := make([]string, 0, len(s.waiters))
	for k := range s.waiters {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	for _, k := range keys {
		s.wake(k, nil)
	}
}

// acquireScript returns {1, value} when K:v holds a result, {2} when it
// took the lease K:l, else {0, the lease's remaining milliseconds}.
var acquireScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {0, redis.call('PTTL', KEYS[2])}
`)

// completeScript stores the result for its TTL and ends the lease, if
// the lease is still the caller's or the key has neither a lease nor a
// result (the lease lapsed and no one took over: the result is still
// worth keeping), and publishes the key with the (sealed) result, so that
// waiters need not read it back: a Redis restart between the two would
// lose it. A late completion never overwrites a newer holder's result
// nor pre-empts its refresh (as with Memory).
var completeScript = redis.NewScript(`
local lock = redis.call('GET', KEYS[2])
if lock ~= ARGV[1] and (lock or redis.call('EXISTS', KEYS[1]) == 1) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if lock then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[4], ARGV[5] .. '\n' .. ARGV[2])
return 1
`)

// releaseScript ends the lease if it is still the caller's and publishes
// the key, so that a waiter takes it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

// Acquire implements absorb.Store.
func (s *Store) Acquire(ctx context.Context, key string, lockTTL time.Duration) ([]byte, absorb.Lease, error) {
	valueKey, lockKey := s.prefix+key+":v", s.prefix+key+":l"
	token := newToken()
	for {
		ch := s.register(key) // before the check: a publish after it is not missed
		res, err := acquireScript.Run(ctx, s.c, []string{valueKey, lockKey}, token, lockTTL.Milliseconds()).Slice()
		if err != nil {
			s.unregister(key, ch)
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, fmt.Errorf("redisstore: acquire: %w", err)
		}
		state, _ := res[0].(int64)
		switch state {
		case 1:
			s.unregister(key, ch)
			v, _ := res[1].(string)
			return []byte(v), nil, nil
		case 2:
			s.unregister(key, ch)
			return nil, &lease{s: s, key: key, valueKey: valueKey, lockKey: lockKey, token: token}, nil
		}
		wait, _ := res[1].(int64)
		value, err := wait4(ctx, ch, time.Duration(max(wait, 1))*time.Millisecond)
		s.unregister(key, ch)
		if err != nil {
			return nil, nil, absorb.LeaseHeld(err)
		}
		if value != nil {
			return value, nil, nil
		}
	}
}

// Forget implements absorb.Store: it deletes key's result, not its lease.
func (s *Store) Forget(ctx context.Context, key string) error {
	if err := s.c.Del(ctx, s.prefix+key+":v").Err(); err != nil {
		return fmt.Errorf("redisstore: forget: %w", err)
	}
	return nil
}

// wait4 waits until ch fires (with the result, or nil to look again), d
// passes or ctx ends (ctx's error).
func wait4(ctx context.Context, ch <-chan []byte, d time.Duration) ([]byte, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case v := <-ch:
		return v, nil
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return nil, nil
}

// newToken returns a random lease token: only its holder ends a lease.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b)
}

// lease is a lease on a Redis key.
type lease struct {
	s                 *Store
	key               string
	valueKey, lockKey string
	token             string
}

// Complete implements absorb.Lease.
func (l *lease) Complete(ctx context.Context, value []byte, ttl time.Duration) error {
	err := completeScript.Run(ctx, l.s.c, []string{l.valueKey, l.lockKey},
		l.token, value, ttl.Milliseconds(), l.s.done, l.key).Err()
	if err != nil {
		return fmt.Errorf("redisstore: complete: %w", err)
	}
	return nil
}

// Release implements absorb.Lease.
func (l *lease) Release(ctx context.Context) error {
	err := releaseScript.Run(ctx, l.s.c, []string{l.lockKey}, l.token, l.s.done, l.key).Err()
	if err != nil {
		return fmt.Errorf("redisstore: release: %w", err)
	}
	return nil
}
