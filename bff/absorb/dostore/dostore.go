// Package dostore is the absorb.Store of Cloudflare Workers: one Durable
// Object per key (the class AbsorbObject, cmd/worker/absorb-object.mjs)
// serialises the refreshes of that key and keeps the sealed result for its
// TTL. A Worker runs each request in a fresh instance, so only an object
// outside it can see two requests of one session.
//
// This package speaks the object's small JSON protocol over a Stub, the
// object's fetch; it does not import syumai/workers, so it builds and is
// tested natively. cmd/worker adapts cloudflare.DurableObjectStub to Stub.
//
//	POST /acquire  {"lockTTL": ms, "wait": ms}  -> 200 {"value": base64} | {"lease": id} | {"timeout": true}; 503 busy
//	POST /complete {"lease": id, "value": base64, "ttl": ms} -> 200 {"ok": true}; 413 too large
//	POST /release  {"lease": id}                -> 200 {"ok": true}
//	POST /forget   {}                           -> 200 {"ok": true}
package dostore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
)

// Stub sends one request to a Durable Object, like
// cloudflare.DurableObjectStub.Fetch, which takes no context.
type Stub interface {
	Fetch(*http.Request) (*http.Response, error)
}

// Namespace returns the object of key: on Workers,
// namespace.Get(namespace.IdFromName(key)).
type Namespace func(key string) (Stub, error)

// DefaultWait bounds how long Acquire waits for another holder when its
// context has no deadline.
const DefaultWait = 30 * time.Second

// answerMargin is at most how much sooner than ctx's deadline the object
// is asked to answer a wait that runs out (a fifth of the time left, if
// that is less).
const answerMargin = 500 * time.Millisecond

// minAnswerMargin is at least how much sooner than ctx's deadline the
// object is asked to answer: more than a Worker↔object round trip.
const minAnswerMargin = 100 * time.Millisecond

// maxAnswer bounds an answer read from the object.
const maxAnswer = 128 << 10

// ErrBusy is returned by Acquire when too many callers already wait on the
// key's object.
// It wraps absorb.ErrBusy.
var ErrBusy = fmt.Errorf("dostore: %w", absorb.ErrBusy)

// StatusError is an answer of the object that the protocol does not allow.
type StatusError struct {
	Op     string // acquire, complete or release
	Status int
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("dostore: %s: status %d", e.Op, e.Status)
}

// Store is an absorb.Store over a Durable Object namespace.
type Store struct {
	ns Namespace

	// KeepAlive, if not nil, is called for each granted lease with a
	// channel closed when the lease is completed or released, or when its
	// lockTTL has passed. On Workers it keeps the request's work alive
	// until then (ctx.waitUntil), so that a refresh whose caller went away
	// still hands its result to the waiters.
	KeepAlive func(end <-chan struct{})
}

// New returns a Store whose keys are objects of ns.
func New(ns Namespace) *Store { return &Store{ns: ns} }

var _ absorb.Store = (*Store)(nil)

// Acquire implements absorb.Store. It waits inside the object while another
// caller holds key's lease. Since a Stub cannot be cancelled, the object is
// told how long the caller waits (until a little before ctx's deadline, or
// DefaultWait; a wait that runs out is absorb.LeaseHeld), and a ctx that
// ends earlier returns at once; a lease granted after that is released in
// the background.
func (s *Store) Acquire(ctx context.Context, key string, lockTTL time.Duration) ([]byte, absorb.Lease, error) {
	wait := DefaultWait
	if d, ok := ctx.Deadline(); ok {
		// The object answers a little before ctx ends, so that a wait that
		// ran out says "lease held" (the object works) rather than
		// nothing (a hung object).
		// The margin has a floor (a round trip to the object), or a
		// short wait would run out as nothing rather than as "lease held".
		left := time.Until(d)
		wait = max(left-max(min(left/5, answerMargin), minAnswerMargin), 0)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	stub, err := s.ns(key)
	if err != nil {
		return nil, nil, fmt.Errorf("dostore: object: %w", err)
	}
	var ans struct {
		Value   *string `json:"value"`
		Lease   string  `json:"lease"`
		Timeout bool    `json:"timeout"`
	}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		status, err := call(stub, "acquire", map[string]any{"lockTTL": ms(lockTTL), "wait": ms(wait)}, &ans)
		done <- result{status, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		go func() { // the answer may still grant a lease: give it back
			if r := <-done; r.err == nil && r.status == http.StatusOK && ans.Lease != "" {
				_ = (&lease{stub: stub, id: ans.Lease}).Release(context.WithoutCancel(ctx))
			}
		}()
		return nil, nil, ctx.Err()
	}
	switch {
	case r.err != nil:
		return nil, nil, r.err
	case r.status == http.StatusServiceUnavailable:
		return nil, nil, ErrBusy
	case r.status != http.StatusOK:
		return nil, nil, &StatusError{Op: "acquire", Status: r.status}
	case ans.Value != nil:
		v, err := base64.StdEncoding.DecodeString(*ans.Value)
		if err != nil || len(v) == 0 {
			return nil, nil, errors.New("dostore: acquire: the stored value is not base64")
		}
		return v, nil, nil
	case ans.Lease != "":
		l := &lease{stub: stub, id: ans.Lease, end: make(chan struct{})}
		if s.KeepAlive != nil {
			l.timer = time.AfterFunc(lockTTL, l.finish)
			s.KeepAlive(l.end)
		}
		return nil, l, nil
	case ans.Timeout: // the holder did not finish within the wait
		return nil, nil, absorb.LeaseHeld(context.DeadlineExceeded)
	default:
		return nil, nil, errors.New("dostore: acquire: an answer with neither value nor lease")
	}
}

// lease is a granted lease on one object.
type lease struct {
	stub  Stub
	id    string
	end   chan struct{} // closed by finish
	once  sync.Once
	timer *time.Timer // calls finish at lockTTL when KeepAlive is set
}

// finish closes end, once.
func (l *lease) finish() {
	l.once.Do(func() {
		if l.end != nil {
			close(l.end)
		}
	})
}

// done ends the lease for KeepAlive: Complete and Release call it.
func (l *lease) done() {
	if l.timer != nil {
		l.timer.Stop()
	}
	l.finish()
}

// Complete implements absorb.Lease. A value over the object's size limit
// is absorb.ErrStoreFull. A Complete that failed otherwise does not end
// KeepAlive's wait (the lockTTL still does): the Absorber tries again
// after its answer, and the Worker must stay alive for it.
func (l *lease) Complete(ctx context.Context, value []byte, ttl time.Duration) (err error) {
	defer func() {
		if err == nil || errors.Is(err, absorb.ErrStoreFull) {
			l.done()
		}
	}()
	if len(value) == 0 {
		return errors.New("dostore: complete: empty value")
	}
	status, err := callWithin(ctx, l.stub, "complete", map[string]any{
		"lease": l.id, "value": base64.StdEncoding.EncodeToString(value), "ttl": ms(ttl),
	})
	switch {
	case err != nil:
		return err
	case status == http.StatusRequestEntityTooLarge:
		return absorb.ErrStoreFull
	case status != http.StatusOK:
		return &StatusError{Op: "complete", Status: status}
	}
	return nil
}

// Release implements absorb.Lease.
func (l *lease) Release(ctx context.Context) error {
	defer l.done()
	return callOK(ctx, l.stub, "release", map[string]any{"lease": l.id})
}

// Forget implements absorb.Store: the object drops its value.
func (s *Store) Forget(ctx context.Context, key string) error {
	stub, err := s.ns(key)
	if err != nil {
		return fmt.Errorf("dostore: forget: %w", err)
	}
	return callOK(ctx, stub, "forget", struct{}{})
}

// callOK is callWithin for an operation whose only good answer is 200: any
// other status is a *StatusError.
func callOK(ctx context.Context, stub Stub, op string, body any) error {
	status, err := callWithin(ctx, stub, op, body)
	if err == nil && status != http.StatusOK {
		err = &StatusError{Op: op, Status: status}
	}
	return err
}

// leaseOpTimeout bounds Complete and Release: a stub's fetch cannot be
// cancelled, and a hung object must not hold up the answer of a refresh
// whose tokens the upstream has already rotated.
const leaseOpTimeout = 2 * time.Second

// callWithin is call without an answer, given up when ctx ends or after
// leaseOpTimeout. The call itself goes on in the background and its
// answer is dropped.
func callWithin(ctx context.Context, stub Stub, op string, body any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, leaseOpTimeout)
	defer cancel()
	type answer struct {
		status int
		err    error
	}
	ch := make(chan answer, 1) // buffered: the call may outlive us
	go func() {
		status, err := call(stub, op, body, nil)
		ch <- answer{status, err}
	}()
	select {
	case a := <-ch:
		return a.status, a.err
	case <-ctx.Done():
		return 0, fmt.Errorf("dostore: %s: %w", op, ctx.Err())
	}
}

// call posts body as JSON to the object's /op and decodes a 200 answer
// into out.
func call(stub Stub, op string, body any, out any) (status int, err error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	// The host is never resolved: a stub's fetch goes to its object.
	req, err := http.NewRequest(http.MethodPost, "https://absorb.invalid/"+op, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := stub.Fetch(req)
	if err != nil {
		return 0, fmt.Errorf("dostore: %s: %w", op, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return 0, fmt.Errorf("dostore: %s: %w", op, err)
	}
	if res.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return 0, fmt.Errorf("dostore: %s: %w", op, err)
		}
	}
	return res.StatusCode, nil
}

// ms is d in whole milliseconds, at least 1.
func ms(d time.Duration) int64 { return max(1, d.Milliseconds()) }
