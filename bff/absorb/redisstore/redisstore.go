// Package redisstore is an absorb.Store on Redis, shared by every
// instance of the server that points at the same Redis: duplicate
// refreshes that land on different instances share one upstream refresh.
// It runs on one node, on a Sentinel set (go-redis's failover client
// follows the master) and on a Redis Cluster.
//
// Per key K, three Redis names: P{K}:l, the lease (SET NX PX lockTTL,
// holding a random token), P{K}:v, the sealed result (SET PX window), both
// in K's hash slot (the braces), and the channel P+"done", on which a
// completed lease publishes K and its sealed result, and a released one K
// alone. Each Store keeps one subscription to that channel and wakes its
// own waiters from it: a waiter checks once, then blocks until its key is
// published, the lease's remaining TTL passes or its ctx ends. No polling
// loop. The check-and-lock and the complete-and-publish steps are Lua
// scripts, so each is atomic; in a cluster each runs on the node of its
// key's slot, and its PUBLISH (classic pub/sub) reaches the subscribers
// on every node.
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
	"net/url"
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
	// ClusterReload is how often a cluster's slot map is read again
	// (go-redis's default is a minute): a failover's new master gets its
	// slots' commands within about that much.
	ClusterReload = time.Second
)

// Store is an absorb.Store on Redis. Create one with Open or New; Close it.
type Store struct {
	c      redis.UniversalClient
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
	waiters map[string]map[chan news]struct{}
}

var _ absorb.Store = (*Store)(nil)

// Open returns a Store on the Redis that rawURL names: one node
// (redis://[user:pass@]host:port/db, rediss:// for TLS) or, when the URL
// has a master_name parameter, a Sentinel set in go-redis's failover form
// (redis://[user:pass@]sentinel1:26379/db?master_name=mymaster&addr=sentinel2:26379),
// which follows the master across failovers. Redis need not be reachable
// yet: the Store connects when it is used, and its subscription
// reconnects by itself. See NewClient for the timeouts.
func Open(rawURL string) (*Store, error) { return openStore(rawURL, false) }

// OpenCluster returns a Store on the Redis Cluster whose seed nodes rawURL
// names, in go-redis's cluster form
// (redis://[user:pass@]node1:7000?addr=node2:7001&addr=node3:7002).
func OpenCluster(rawURL string) (*Store, error) { return openStore(rawURL, true) }

func openStore(rawURL string, cluster bool) (*Store, error) {
	c, err := NewClient(rawURL, cluster)
	if err != nil {
		return nil, err
	}
	return New(c, DefaultPrefix), nil
}

// NewClient returns the go-redis client of Open (cluster false) or
// OpenCluster, parsed by go-redis's own ParseURL, ParseFailoverURL or
// ParseClusterURL, with short timeouts (DialTimeout, IOTimeout), one dial
// per attempt and a single retry unless the URL sets them: a Redis that
// is down must cost a refresh milliseconds, since the refresh can go on
// without it. Its errors never hold the URL (it may hold a password).
func NewClient(rawURL string, cluster bool) (redis.UniversalClient, error) {
	if _, err := url.Parse(rawURL); err != nil { // before go-redis's parsers, whose errors quote it
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		return nil, fmt.Errorf("redisstore: not a valid URL: %w", err)
	}
	switch Deployment(rawURL, cluster) {
	case "cluster":
		o, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		tune(knobs{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.MinRetryBackoff, &o.MaxRetryBackoff, &o.DialerRetries, &o.ContextTimeoutEnabled, &o.DisableIdentity})
		if o.ClusterStateReloadInterval == 0 {
			// go-redis sends a slot's commands to its master as it last
			// read the slot map; after a failover, until it reads it again.
			o.ClusterStateReloadInterval = ClusterReload
		}
		return redis.NewClusterClient(o), nil
	case "sentinel":
		o, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		tune(knobs{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.MinRetryBackoff, &o.MaxRetryBackoff, &o.DialerRetries, &o.ContextTimeoutEnabled, &o.DisableIdentity})
		return redis.NewFailoverClient(o), nil
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	tune(knobs{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.MinRetryBackoff, &o.MaxRetryBackoff, &o.DialerRetries, &o.ContextTimeoutEnabled, &o.DisableIdentity})
	return redis.NewClient(o), nil
}

// Deployment names what NewClient makes of rawURL: "cluster" (cluster
// set), "sentinel" (the URL has a master_name parameter) or "node".
func Deployment(rawURL string, cluster bool) string {
	if cluster {
		return "cluster"
	}
	if u, err := url.Parse(rawURL); err == nil && u.Query().Has("master_name") {
		return "sentinel"
	}
	return "node"
}

// knobs are the fields of go-redis's three options types that NewClient
// sets.
type knobs struct {
	dial, read, write          *time.Duration
	retries                    *int
	minBackoff, maxBackoff     *time.Duration
	dialerRetries              *int
	contextTimeout, noIdentity *bool
}

// tune sets the knobs the URL left at zero.
func tune(k knobs) {
	for _, d := range []struct {
		field *time.Duration
		value time.Duration
	}{{k.dial, DialTimeout}, {k.read, IOTimeout}, {k.write, IOTimeout}} {
		if *d.field == 0 {
			*d.field = d.value
		}
	}
	if *k.retries == 0 {
		*k.retries = 1
		*k.minBackoff, *k.maxBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	if *k.dialerRetries == 0 {
		// One dial per attempt: go-redis's default (5 dials, 100 ms apart)
		// makes a refused connection cost every call 0.8 s.
		*k.dialerRetries = 1
	}
	*k.contextTimeout = true
	*k.noIdentity = true
}

// New returns a Store on c (a single node's, a Sentinel failover's or a
// cluster's client) whose Redis names start with prefix. Close closes c.
func New(c redis.UniversalClient, prefix string) *Store {
	s := &Store{
		c: c, prefix: prefix, done: prefix + "done",
		stop: make(chan struct{}), subscribed: make(chan struct{}),
		waiters: map[string]map[chan news]struct{}{},
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
				key, rest, _ := strings.Cut(m.Payload, "\n")
				token, value, _ := strings.Cut(rest, "\n")
				n := news{token: token}
				if value != "" {
					n.value = []byte(value)
				}
				s.wake(key, n)
			case *redis.Subscription:
				s.subOnce.Do(func() { close(s.subscribed) })
				s.wakeAll()
			}
		}
	}
}

// news is what a waiter is woken with: the token of the lease that was
// completed (with its result) or released, or nothing (look again).
type news struct {
	token string
	value []byte
}

func (s *Store) register(key string) chan news {
	ch := make(chan news, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiters[key] == nil {
		s.waiters[key] = map[chan news]struct{}{}
	}
	s.waiters[key][ch] = struct{}{}
	return ch
}

func (s *Store) unregister(key string, ch chan news) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waiters[key], ch)
	if len(s.waiters[key]) == 0 {
		delete(s.waiters, key)
	}
}

// Waiting reports whether a caller of this Store waits on key (the
// contract tests wait for it before they end a lease).
func (s *Store) Waiting(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiters[key]) > 0
}

// wake wakes key's waiters with n (a waiter already woken keeps its
// first news: it looks again anyway unless that was its holder's result).
func (s *Store) wake(key string, n news) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.waiters[key] {
		select {
		case ch <- n:
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
		s.wake(k, news{})
	}
}

// acquireScript returns {1, value} when K:v holds a result, {2} when it
// took the lease K:l, else {0, the lease's remaining milliseconds, its
// holder's token}.
var acquireScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {0, redis.call('PTTL', KEYS[2]), redis.call('GET', KEYS[2])}
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
redis.call('PUBLISH', ARGV[4], ARGV[5] .. '\n' .. ARGV[1] .. '\n' .. ARGV[2])
return 1
`)

// releaseScript ends the lease if it is still the caller's and publishes
// the key, so that a waiter takes it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3] .. '\n' .. ARGV[1])
return 1
`)

// Acquire implements absorb.Store.
func (s *Store) Acquire(ctx context.Context, key string, lockTTL time.Duration) ([]byte, absorb.Lease, error) {
	valueKey, lockKey := s.names(key)
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
		holder, _ := res[2].(string)
		n, err := wait4(ctx, ch, time.Duration(max(wait, 1))*time.Millisecond)
		s.unregister(key, ch)
		if err != nil {
			return nil, nil, absorb.LeaseHeld(err)
		}
		if n.value != nil && n.token == holder {
			return n.value, nil, nil
		}
		// A release, a lapse, or news of another lease (published before
		// this check and delivered late, as a cluster's bus may): look
		// again.
	}
}

// names returns key's two Redis names, the result's and the lease's: one
// hash tag, so that a cluster keeps both in one slot, as the scripts that
// touch both need.
func (s *Store) names(key string) (valueKey, lockKey string) {
	base := s.prefix + "{" + key + "}"
	return base + ":v", base + ":l"
}

// Forget implements absorb.Store: it deletes key's result, not its lease.
func (s *Store) Forget(ctx context.Context, key string) error {
	valueKey, _ := s.names(key)
	if err := s.c.Del(ctx, valueKey).Err(); err != nil {
		return fmt.Errorf("redisstore: forget: %w", err)
	}
	return nil
}

// wait4 waits until ch fires, d passes (no news: look again) or ctx ends
// (ctx's error).
func wait4(ctx context.Context, ch <-chan news, d time.Duration) (news, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case n := <-ch:
		return n, nil
	case <-t.C:
	case <-ctx.Done():
		return news{}, ctx.Err()
	}
	return news{}, nil
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
