package dostore

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stubFunc is a Stub served by a function, like an object's fetch.
type stubFunc func(op string, body map[string]any) (status int, answer string)

// sent is one request a stubFunc received.
type sent struct {
	op   string
	body map[string]any
}

func (f stubFunc) Fetch(req *http.Request) (*http.Response, error) {
	var body map[string]any
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		return nil, err
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		return nil, errors.New("not a JSON POST")
	}
	status, answer := f(req.URL.Path[1:], body)
	rec := httptest.NewRecorder()
	rec.WriteHeader(status)
	_, _ = rec.WriteString(answer)
	return rec.Result(), nil
}

// namespace returns a Namespace whose every key is stub, and records keys.
func namespace(stub Stub, keys *[]string) Namespace {
	return func(key string) (Stub, error) {
		*keys = append(*keys, key)
		return stub, nil
	}
}

func TestAcquireAnswers(t *testing.T) {
	for _, tt := range []struct {
		name      string
		status    int
		answer    string
		wantValue string
		wantLease bool
		wantErr   error
	}{
		{name: "value", status: 200, answer: `{"value":"c2VhbGVk"}`, wantValue: "sealed"},
		{name: "lease", status: 200, answer: `{"lease":"l1"}`, wantLease: true},
		{name: "timeout", status: 200, answer: `{"timeout":true}`, wantErr: context.DeadlineExceeded},
		{name: "timeout says the lease is held", status: 200, answer: `{"timeout":true}`, wantErr: absorb.ErrLeaseHeld},
		{name: "busy", status: 503, answer: `{"error":"busy"}`, wantErr: ErrBusy},
		{name: "server error", status: 500, answer: `oops`, wantErr: &StatusError{Op: "acquire", Status: 500}},
		{name: "not base64", status: 200, answer: `{"value":"***"}`, wantErr: errAny},
		{name: "empty value", status: 200, answer: `{"value":""}`, wantErr: errAny},
		{name: "not JSON", status: 200, answer: `<html>`, wantErr: errAny},
		{name: "neither", status: 200, answer: `{}`, wantErr: errAny},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []sent
			var keys []string
			stub := stubFunc(func(op string, body map[string]any) (int, string) {
				got = append(got, sent{op, body})
				return tt.status, tt.answer
			})
			v, l, err := New(namespace(stub, &keys)).Acquire(context.Background(), "k1", 1500*time.Millisecond)
			assert.Equal(t, []string{"k1"}, keys)
			require.Len(t, got, 1)
			assert.Equal(t, sent{"acquire", map[string]any{"lockTTL": 1500.0, "wait": float64(DefaultWait.Milliseconds())}}, got[0])
			switch {
			case tt.wantErr == errAny:
				assert.Error(t, err)
			case tt.wantErr != nil:
				var se *StatusError
				if errors.As(tt.wantErr, &se) {
					var got *StatusError
					require.ErrorAs(t, err, &got)
					assert.Equal(t, se, got)
				} else {
					assert.ErrorIs(t, err, tt.wantErr)
				}
			default:
				require.NoError(t, err)
			}
			if tt.wantValue != "" {
				assert.Equal(t, tt.wantValue, string(v))
			} else {
				assert.Nil(t, v)
			}
			assert.Equal(t, tt.wantLease, l != nil)
		})
	}
}

// errAny marks a case that must fail, with no error to branch on.
var errAny = errors.New("any error")

func TestLease(t *testing.T) {
	var got []sent
	answers := map[string]int{"acquire": 200, "complete": 200, "release": 200}
	stub := stubFunc(func(op string, body map[string]any) (int, string) {
		got = append(got, sent{op, body})
		return answers[op], `{"lease":"l1"}`
	})
	s := New(func(string) (Stub, error) { return stub, nil })
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	_, l, err := s.Acquire(ctx, "k", time.Second)
	require.NoError(t, err)
	wait := got[0].body["wait"].(float64)
	assert.True(t, wait > float64(DefaultWait.Milliseconds()) && wait <= float64(time.Hour.Milliseconds()),
		"the object waits until ctx's deadline, not DefaultWait: %v", wait)

	require.NoError(t, l.Complete(ctx, []byte("sealed pair"), 10*time.Second))
	require.NoError(t, l.Release(ctx))
	assert.Equal(t, []sent{
		{"complete", map[string]any{"lease": "l1", "value": "c2VhbGVkIHBhaXI=", "ttl": 10000.0}},
		{"release", map[string]any{"lease": "l1"}},
	}, got[1:])

	assert.Error(t, l.Complete(ctx, nil, time.Second), "an empty value is refused before it is sent")
	answers["complete"], answers["release"] = 413, 500
	assert.ErrorIs(t, l.Complete(ctx, []byte("x"), time.Second), absorb.ErrStoreFull)
	var se *StatusError
	require.ErrorAs(t, l.Release(ctx), &se)
	assert.Equal(t, StatusError{Op: "release", Status: 500}, *se)
}

func TestStoreFailures(t *testing.T) {
	down := errors.New("object unreachable")
	_, _, err := New(func(string) (Stub, error) { return nil, down }).Acquire(context.Background(), "k", time.Second)
	assert.ErrorIs(t, err, down, "no stub")

	_, _, err = New(func(string) (Stub, error) { return fetchErr{down}, nil }).Acquire(context.Background(), "k", time.Second)
	assert.ErrorIs(t, err, down, "fetch fails")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = New(func(string) (Stub, error) { panic("not called") }).Acquire(ctx, "k", time.Second)
	assert.ErrorIs(t, err, context.Canceled, "an ended ctx sends nothing")
}

type fetchErr struct{ err error }

func (f fetchErr) Fetch(*http.Request) (*http.Response, error) { return nil, f.err }

// A caller whose ctx ends while it waits returns at once; a lease the
// object grants it afterwards is released, so the next waiter gets it.
func TestAcquireCancelledWhileWaiting(t *testing.T) {
	arrived, answer := make(chan struct{}), make(chan struct{})
	released := make(chan map[string]any, 1)
	stub := stubFunc(func(op string, body map[string]any) (int, string) {
		switch op {
		case "acquire":
			close(arrived)
			<-answer
			return 200, `{"lease":"late"}`
		case "release":
			released <- body
			return 200, `{"ok":true}`
		}
		return 500, ""
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := New(func(string) (Stub, error) { return stub, nil }).Acquire(ctx, "k", time.Second)
		errc <- err
	}()
	<-arrived
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	close(answer)
	assert.Equal(t, map[string]any{"lease": "late"}, <-released)
}

// KeepAlive hears of every granted lease, and of its end: completed,
// released, or its lockTTL passed. A Complete that failed is no end: the
// Absorber tries again after its answer.
func TestKeepAlive(t *testing.T) {
	ctx := context.Background()
	var failComplete atomic.Bool // the stub answers complete with a 500
	var lastEnd <-chan struct{}  // the last channel given to KeepAlive
	for _, tt := range []struct {
		name string
		end  func(absorb.Lease)
	}{
		{"complete", func(l absorb.Lease) { _ = l.Complete(ctx, []byte("v"), time.Second) }},
		{"release", func(l absorb.Lease) { _ = l.Release(ctx) }},
		{"lockTTL passes", func(absorb.Lease) { time.Sleep(time.Minute + time.Second) }},
		{"complete fails, then works", func(l absorb.Lease) {
			failComplete.Store(true)
			assert.Error(t, l.Complete(ctx, []byte("v"), time.Second))
			synctest.Wait()
			assert.False(t, closed(lastEnd), "still alive for the next try")
			failComplete.Store(false)
			_ = l.Complete(ctx, []byte("v"), time.Second)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				answer := `{"lease":"l1"}`
				stub := stubFunc(func(op string, _ map[string]any) (int, string) {
					switch {
					case op == "acquire":
						return 200, answer
					case op == "complete" && failComplete.Load():
						return 500, `oops`
					}
					return 200, `{"ok":true}`
				})
				var ends []<-chan struct{}
				s := New(func(string) (Stub, error) { return stub, nil })
				s.KeepAlive = func(end <-chan struct{}) { ends = append(ends, end); lastEnd = end }

				_, l, err := s.Acquire(ctx, "k", time.Minute)
				require.NoError(t, err)
				require.Len(t, ends, 1)
				synctest.Wait()
				assert.False(t, closed(ends[0]), "the lease is held")
				tt.end(l)
				synctest.Wait()
				assert.True(t, closed(ends[0]), "the lease has ended")

				answer = `{"value":"dg=="}`
				_, _, err = s.Acquire(ctx, "k", time.Minute)
				require.NoError(t, err)
				assert.Len(t, ends, 1, "a value is no lease")
			})
		})
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// A hung object does not hold up Complete or Release past leaseOpTimeout:
// the refresh's tokens are already rotated, its caller must get them.
func TestLeaseOpsGiveUpOnAHungObject(t *testing.T) {
	for _, op := range []string{"complete", "release"} {
		t.Run(op, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hang := make(chan struct{})
				defer close(hang)
				stub := stubFunc(func(got string, _ map[string]any) (int, string) {
					if got == "acquire" {
						return 200, `{"lease":"l1"}`
					}
					<-hang
					return 200, `{"ok":true}`
				})
				_, lease, err := New(func(string) (Stub, error) { return stub, nil }).Acquire(context.Background(), "k", time.Minute)
				require.NoError(t, err)
				start := time.Now()
				if op == "complete" {
					err = lease.Complete(context.Background(), []byte("sealed"), time.Second)
				} else {
					err = lease.Release(context.Background())
				}
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Equal(t, leaseOpTimeout, time.Since(start), "fake time inside the bubble")
			})
		})
	}
}
