package dostore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowObject is an object behind a Worker↔object round trip of rtt whose
// key's lease is held by another instance for good: each acquire waits
// the time it is told, then answers that the wait ran out. While down,
// every fetch fails.
type slowObject struct {
	rtt  time.Duration
	down atomic.Bool
}

func (o *slowObject) Fetch(req *http.Request) (*http.Response, error) {
	if o.down.Load() {
		return nil, errors.New("object unreachable")
	}
	return stubFunc(func(op string, body map[string]any) (int, string) {
		wait, _ := body["wait"].(float64)
		time.Sleep(time.Duration(wait)*time.Millisecond + o.rtt)
		return 200, `{"timeout":true}`
	}).Fetch(req)
}

// After an outage, once the probe finds the store back, a duplicate whose
// object answers "lease held" only after a round trip of 50 ms never
// reaches the upstream: the lease is another instance's, and a second
// refresh with the same token would be a reuse.
func TestAbsorberAfterOutageWaitsForASlowHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const budget = 8 * time.Second
		obj := &slowObject{rtt: 50 * time.Millisecond}
		a := absorb.New(absorb.Config{Store: New(func(string) (Stub, error) { return obj, nil }),
			LockTTL: budget, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		var calls atomic.Int64
		fn := func(context.Context) (authclient.Tokens, error) {
			n := calls.Add(1)
			return authclient.Tokens{AccessToken: fmt.Sprint("a", n), RefreshToken: fmt.Sprint("r", n)}, nil
		}
		rotate := func(refresh string) error {
			ctx, cancel := context.WithTimeout(context.Background(), budget)
			defer cancel()
			_, _, err := a.Rotate(ctx, absorb.Presented{RefreshToken: refresh, AccessToken: "a0"}, fn)
			return err
		}

		obj.down.Store(true)
		require.NoError(t, rotate("r0"), "an outage falls back in process")
		require.NoError(t, rotate("r1"))
		require.EqualValues(t, 2, calls.Load())

		obj.down.Store(false) // back, with the key held on another instance
		time.Sleep(time.Second)
		synctest.Wait() // the probe finds it back
		for _, refresh := range []string{"r2", "r3"} {
			assert.ErrorIs(t, rotate(refresh), absorb.ErrBudget, "a clean retry")
		}
		assert.EqualValues(t, 2, calls.Load(), "no duplicate reached the upstream")
		time.Sleep(budget) // the object calls the duplicates stopped waiting for end
		a.Wait()
	})
}
