//go:build workers

package workertest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/dostore"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Durable Object class AbsorbObject under the local runtime, through
// its Go client: the same code paths as the Worker's, with the object
// reached over the test Worker (testdata/absorb) instead of a stub.

// maxWaiters is ABSORB_MAX_WAITERS in testdata/absorb/wrangler.toml.
const maxWaiters = 7

// objectStub is the stub of key's object in the test Worker.
type objectStub struct{ key string }

func (o objectStub) Fetch(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	u, err := url.Parse(objects + "/" + o.key + req.URL.Path)
	if err != nil {
		return nil, err
	}
	out.URL, out.Host = u, ""
	return http.DefaultTransport.RoundTrip(out)
}

func objectStore() *dostore.Store {
	return dostore.New(func(key string) (dostore.Stub, error) { return objectStub{key}, nil })
}

// newKey is a key no other test uses (objects keep their storage).
func newKey() string { return rand.Text() }

// objectOp posts to a test-only operation of key's object.
func objectOp(t *testing.T, key, op string) *http.Response {
	t.Helper()
	res, err := http.Post(objects+"/"+key+"/"+op, "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// waiters returns how many callers wait inside key's object.
func waiters(key string) (int, error) {
	res, err := http.Post(objects+"/"+key+"/waiters", "application/json", strings.NewReader("{}"))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var got struct{ Waiters int }
	err = json.NewDecoder(res.Body).Decode(&got)
	return got.Waiters, err
}

// awaitWaiters returns once n callers wait inside key's object: the
// object's own count, so that the test orders its steps on the object's
// state rather than on time.
func awaitWaiters(t *testing.T, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := waiters(key)
		require.NoError(t, err)
		if got == n {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d callers wait, want %d", got, n)
		time.Sleep(10 * time.Millisecond)
	}
}

// The Store contract, the same table as for Memory and Redis: two clients
// of one namespace, as two Worker requests are.
func TestObjectStoreContract(t *testing.T) {
	storetest.Run(t, objectStore(), objectStore(), storetest.Hooks{
		Waiting: func(key string) bool {
			n, err := waiters(key)
			return err == nil && n > 0
		},
	})
}

// Concurrent acquires of one key: one lease; the others wait inside the
// object and all get the holder's value.
func TestObjectSerialisesAcquires(t *testing.T) {
	s, key, ctx := objectStore(), newKey(), context.Background()
	_, holder, err := s.Acquire(ctx, key, 10*time.Second)
	require.NoError(t, err)
	require.NotNil(t, holder)

	const n = maxWaiters
	var waiting []<-chan storetest.Acquired
	for range n {
		waiting = append(waiting, storetest.AcquireAsync(s, ctx, key, 10*time.Second))
	}
	awaitWaiters(t, key, n)
	require.NoError(t, holder.Complete(ctx, []byte("sealed pair"), 5*time.Second))
	for i, c := range waiting {
		r := <-c
		require.NoError(t, r.Err, "waiter %d", i)
		assert.Nil(t, r.Lease, "waiter %d", i)
		assert.Equal(t, "sealed pair", string(r.Value), "waiter %d", i)
	}
	v, l, err := s.Acquire(ctx, key, time.Second)
	require.NoError(t, err)
	assert.Nil(t, l)
	assert.Equal(t, "sealed pair", string(v), "a later duplicate gets the value")
}

// A released lease goes to the first waiter; a release of a lease that has
// been handed on changes nothing.
func TestObjectReleaseHandsOver(t *testing.T) {
	s, key, ctx := objectStore(), newKey(), context.Background()
	_, holder, err := s.Acquire(ctx, key, 10*time.Second)
	require.NoError(t, err)
	require.NotNil(t, holder)
	next := storetest.AcquireAsync(s, ctx, key, 10*time.Second)
	awaitWaiters(t, key, 1)
	require.NoError(t, holder.Release(ctx))
	r := <-next
	require.NoError(t, r.Err)
	require.NotNil(t, r.Lease, "the waiter refreshes next")

	require.NoError(t, holder.Release(ctx), "a stale release")
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, l, err := s.Acquire(short, key, time.Second)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the new holder's lease still holds")
	assert.Nil(t, l)

	require.NoError(t, r.Lease.Complete(ctx, []byte("v"), 5*time.Second))
	v, _, err := s.Acquire(ctx, key, time.Second)
	require.NoError(t, err)
	assert.Equal(t, "v", string(v))
}

// A holder that never finishes (its instance died) holds the key for its
// lockTTL only: then a waiter gets the lease.
func TestObjectLeaseExpires(t *testing.T) {
	s, key, ctx := objectStore(), newKey(), context.Background()
	_, holder, err := s.Acquire(ctx, key, 3*time.Second)
	require.NoError(t, err)
	require.NotNil(t, holder)
	next := storetest.AcquireAsync(s, ctx, key, 10*time.Second)
	awaitWaiters(t, key, 1) // it waits while the lease holds
	r := <-next
	require.NoError(t, r.Err)
	assert.NotNil(t, r.Lease, "and gets the lease when it expires")
}

// stored returns the keys of key's object's storage.
func stored(t *testing.T, key string) []string {
	t.Helper()
	var got struct{ Keys []string }
	require.NoError(t, json.NewDecoder(objectOp(t, key, "stored").Body).Decode(&got))
	return got.Keys
}

// Only a completed refresh's value reaches the object's storage: a lease,
// and a refresh that the upstream refused (its lease released), write
// nothing, so that a stranger's refused refreshes cost no storage. The
// value outlives an eviction within its window; a forget removes it.
func TestObjectStoresOnlyValues(t *testing.T) {
	s, key, ctx := objectStore(), newKey(), context.Background()
	_, refused, err := s.Acquire(ctx, key, 30*time.Second)
	require.NoError(t, err)
	require.NotNil(t, refused)
	assert.Empty(t, stored(t, key), "a lease is memory only")
	require.NoError(t, refused.Release(ctx))
	assert.Empty(t, stored(t, key), "a refused refresh writes nothing")

	_, holder, err := s.Acquire(ctx, key, 30*time.Second)
	require.NoError(t, err)
	require.NotNil(t, holder)
	dup := storetest.AcquireAsync(s, ctx, key, 30*time.Second)
	awaitWaiters(t, key, 1)
	require.NoError(t, holder.Complete(ctx, []byte("sealed pair"), 30*time.Second))
	r := <-dup
	require.NoError(t, r.Err)
	assert.Equal(t, "sealed pair", string(r.Value))
	assert.Equal(t, []string{"value"}, stored(t, key))

	objectOp(t, key, "evict")
	v, l, err := s.Acquire(ctx, key, time.Second)
	require.NoError(t, err)
	assert.Nil(t, l)
	assert.Equal(t, "sealed pair", string(v), "the value outlives the eviction")

	require.NoError(t, s.Forget(ctx, key))
	assert.Empty(t, stored(t, key), "forgotten")
	_, l, err = s.Acquire(ctx, key, time.Second)
	require.NoError(t, err)
	require.NotNil(t, l, "the next refresh goes upstream")
	require.NoError(t, l.Release(ctx))
}

// A value is handed out for its TTL only; then the next caller refreshes.
func TestObjectValueExpires(t *testing.T) {
	s, key, ctx := objectStore(), newKey(), context.Background()
	_, holder, err := s.Acquire(ctx, key, 10*time.Second)
	require.NoError(t, err)
	require.NoError(t, holder.Complete(ctx, []byte("v"), 2*time.Second))
	v, l, err := s.Acquire(ctx, key, 10*time.Second)
	require.NoError(t, err)
	require.Nil(t, l, "within the TTL")
	assert.Equal(t, "v", string(v))
	deadline := time.Now().Add(20 * time.Second)
	for l == nil {
		require.True(t, time.Now().Before(deadline), "the value never expired")
		time.Sleep(50 * time.Millisecond)
		v, l, err = s.Acquire(ctx, key, 10*time.Second)
		require.NoError(t, err)
		if l == nil {
			assert.Equal(t, "v", string(v))
		}
	}
}

// A waiter stops at its context's deadline, which the object is told.
func TestObjectWaitEndsWithContext(t *testing.T) {
	s, key := objectStore(), newKey()
	_, holder, err := s.Acquire(context.Background(), key, 30*time.Second)
	require.NoError(t, err)
	require.NotNil(t, holder)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	v, l, err := s.Acquire(ctx, key, 30*time.Second)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Nil(t, v)
	assert.Nil(t, l)
}

// An object keeps a bounded number of waiting callers (maxWaiters in the
// test Worker): one more is told the object is busy, and the Absorber then
// refreshes without it.
func TestObjectBoundsWaiters(t *testing.T) {
	s, key, ctx := objectStore(), newKey(), context.Background()
	_, holder, err := s.Acquire(ctx, key, 30*time.Second)
	require.NoError(t, err)
	require.NotNil(t, holder)
	var waiting []<-chan storetest.Acquired
	for range maxWaiters {
		waiting = append(waiting, storetest.AcquireAsync(s, ctx, key, 30*time.Second))
	}
	awaitWaiters(t, key, maxWaiters)
	_, l, err := s.Acquire(ctx, key, 30*time.Second)
	assert.ErrorIs(t, err, dostore.ErrBusy)
	assert.Nil(t, l)

	require.NoError(t, holder.Complete(ctx, []byte("v"), 5*time.Second))
	for _, c := range waiting {
		r := <-c
		require.NoError(t, r.Err)
		assert.Equal(t, "v", string(r.Value))
	}
}

func TestObjectRefusesBadInput(t *testing.T) {
	s, key, ctx := objectStore(), newKey(), context.Background()
	_, holder, err := s.Acquire(ctx, key, 10*time.Second)
	require.NoError(t, err)
	assert.ErrorIs(t, holder.Complete(ctx, make([]byte, 64<<10), time.Second), absorb.ErrStoreFull,
		"values are bounded")
	require.NoError(t, holder.Release(ctx))

	for _, tt := range []struct {
		name, method, op, body string
		want                   int
	}{
		{"not JSON", "POST", "acquire", "{", 400},
		{"not an object", "POST", "acquire", "[]", 400},
		{"no lockTTL", "POST", "acquire", `{"wait": 10}`, 400},
		{"no value", "POST", "complete", `{"lease": "x", "ttl": 10}`, 400},
		{"GET", "GET", "acquire", "", 405},
		{"unknown op", "POST", "nope", "{}", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, objects+"/"+key+"/"+tt.op, strings.NewReader(tt.body))
			require.NoError(t, err)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			assert.Equal(t, tt.want, res.StatusCode)
		})
	}
}
