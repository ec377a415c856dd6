//go:build multi

package multitest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/redisstore"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/storetest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/syncbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Production Redis (issue 26): the absorption store on a Sentinel set and
// on a Redis Cluster, real redis-server processes each.

// deployment is a replicated or sharded Redis under test.
type deployment struct {
	name    string
	url     string
	cluster bool
	fail    func(t *testing.T) // kills the master of the sessions' keys
}

// processLogs collects the processes' output, shown if t fails.
func processLogs(t *testing.T) *syncbuf.Buffer {
	logs := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process logs:\n%s", logs.String())
		}
	})
	return logs
}

// twoInstances starts an upstream with cfg and two instances on d (args:
// more flags), stopped with t.
func twoInstances(t *testing.T, d deployment, logs *syncbuf.Buffer, cfg demo.Config, args ...string) (*cluster, []string) {
	t.Helper()
	up := demo.New(cfg)
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	args = append([]string{"-upstream", srv.URL, "-redis", d.url}, args...)
	if d.cluster {
		args = append(args, "-redis-cluster")
	}
	var bases []string
	for range 2 {
		in, err := StartInstance(serverBin, logs, args...)
		require.NoError(t, err)
		t.Cleanup(in.Stop)
		bases = append(bases, in.Base)
	}
	return &cluster{up: up, lb: NewBalancer(bases...)}, bases
}

// deployments starts each deployment for t.
func deployments(t *testing.T, logs *syncbuf.Buffer) []func() deployment {
	return []func() deployment{
		func() deployment {
			s, err := StartSentinel(logs)
			require.NoError(t, err)
			t.Cleanup(s.Stop)
			return deployment{name: "sentinel", url: s.URL(), fail: func(t *testing.T) { s.KillMaster() }}
		},
		func() deployment {
			c, err := StartCluster(logs)
			require.NoError(t, err)
			t.Cleanup(c.Stop)
			return deployment{name: "cluster", url: c.URL(), cluster: true, fail: func(t *testing.T) {
				for _, n := range c.Nodes[:3] { // the masters as created: every slot's master dies
					if n.p.running() {
						c.Kill(n)
						break
					}
				}
			}}
		},
	}
}

// The Store contract holds on a Sentinel set and on a cluster: two
// Stores (two instances) on each.
func TestStoreContractOnSentinelAndCluster(t *testing.T) {
	logs := processLogs(t)
	for _, start := range deployments(t, logs) {
		d := start()
		t.Run(d.name, func(t *testing.T) {
			open := redisstore.Open
			if d.cluster {
				open = redisstore.OpenCluster
			}
			a, err := open(d.url)
			require.NoError(t, err)
			defer a.Close()
			b, err := open(d.url)
			require.NoError(t, err)
			defer b.Close()
			for _, s := range []*redisstore.Store{a, b} {
				select {
				case <-s.Subscribed():
				case <-time.After(storetest.Patience):
					t.Fatal("no subscription")
				}
			}
			storetest.Run(t, a, b, storetest.Hooks{Waiting: b.Waiting})
			t.Logf("%s: a waiter on the other Store woken %s after the completion (median of 50)", d.name, wakeUp(t, a, b))
		})
	}
}

// wakeUp returns the median time from a's completion of a lease to the
// return of b's waiter on it: the publication's trip through Redis (in a
// cluster, from the key's node to the subscriber's).
func wakeUp(t *testing.T, a, b *redisstore.Store) time.Duration {
	t.Helper()
	var ds []time.Duration
	for i := range 50 {
		k := fmt.Sprintf("wake-%d-%d", time.Now().UnixNano(), i)
		_, l, err := a.Acquire(context.Background(), k, time.Minute)
		require.NoError(t, err)
		waiter := storetest.AcquireAsync(b, context.Background(), k, time.Minute)
		require.Eventually(t, func() bool { return b.Waiting(k) }, storetest.Patience, time.Millisecond)
		start := time.Now()
		require.NoError(t, l.Complete(context.Background(), []byte("v"), time.Minute))
		got := <-waiter
		require.NoError(t, got.Err)
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2].Round(10 * time.Microsecond)
}

// A master killed under two instances: the session that refreshes
// through the failover, one refresh at a time on either instance, is
// never lost, and duplicate refreshes on the two instances are absorbed
// again once the new master serves (the time from the kill to the first
// round of absorbed pairs is logged; a cluster's master serves a third of
// the slots, so a round has many pairs). Strict rotation: any duplicate
// that reached the upstream would revoke its session.
func TestFailoverLosesNoSession(t *testing.T) {
	logs := processLogs(t)
	for _, start := range deployments(t, logs) {
		d := start()
		t.Run(d.name, func(t *testing.T) {
			c, bases := twoInstances(t, d, logs, demo.Config{})
			s, err := Login(context.Background(), bases[0])
			require.NoError(t, err)
			require.True(t, absorbed(t, c, bases), "absorbed before the failover")

			d.fail(t)
			killed := time.Now()
			var recovered time.Duration
			for i := 0; time.Since(killed) < 30*time.Second; i++ {
				r, err := s.Do(context.Background(), bases[i%2], "POST", "/api/auth/refresh", "")
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, r.Status, "the session survives the failover: %s", r.Body)
				if absorbed(t, c, bases) {
					recovered = time.Since(killed)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			require.NotZero(t, recovered, "duplicates absorbed again within 30 s")
			t.Logf("%s: from the master's kill to the first absorbed duplicates: %s", d.name, recovered.Round(10*time.Millisecond))
			c.usable(t, s)
		})
	}
}

// probes is how many sessions absorbed tries at once: their keys spread
// over a cluster's slots, so that some land on the failed master's.
const probes = 20

// absorbed logs probes new sessions in and sends two duplicate refreshes
// of each at once, one to each instance: true when every pair shared one
// upstream refresh (the store coordinated them), false when a pair both
// reached the upstream (each instance fell back on its own; the demo
// upstream then revokes that session, which is only a probe's).
func absorbed(t *testing.T, c *cluster, bases []string) bool {
	t.Helper()
	before := c.up.Stats().Refreshes
	ok := true
	for range probes {
		probe, err := Login(context.Background(), bases[0])
		require.NoError(t, err)
		rs := c.send(probe, 2, "POST", "/api/auth/refresh", probe.Cookies(), "")
		ok = ok && rs[0].Status == http.StatusOK && rs[1].Status == http.StatusOK
	}
	return ok && c.up.Stats().Refreshes == before+probes
}

// Twenty sessions burst near expiry (8 proxied calls each, spread over
// two instances) while the master is killed: no refresh is a reuse, every
// call is answered (200, or a 401 for a token that expired while its
// refresh ahead waited for the store), and every session works
// afterwards. While the store is down the instances skip their refresh
// ahead (the calls go with their still-valid tokens) and the session
// refreshes once, as the browser's module would, on one instance.
func TestBurstsThroughAFailover(t *testing.T) {
	logs := processLogs(t)
	for _, start := range deployments(t, logs) {
		d := start()
		t.Run(d.name, func(t *testing.T) {
			const ttl = 3 * time.Second // refreshed ahead from 375 ms before expiry
			c, bases := twoInstances(t, d, logs, demo.Config{AccessTTL: ttl}, "-auth-timeout", "3s")
			end := time.Now().Add(12 * time.Second)
			time.AfterFunc(2*time.Second, func() { d.fail(t) })
			var wg sync.WaitGroup
			failures := make([]string, 20)
			sessions := make([]*Session, 20)
			for i := range sessions {
				wg.Go(func() {
					s, err := Login(context.Background(), bases[i%2])
					if err != nil {
						failures[i] = err.Error()
						return
					}
					sessions[i] = s
					for time.Now().Before(end) {
						time.Sleep(time.Until(s.Expires()) - 200*time.Millisecond)
						refused := false
						for _, r := range c.send(s, 8, "GET", "/api/departments", s.Cookies(), "") {
							switch r.Status {
							case http.StatusOK:
							case http.StatusUnauthorized: // expired while its refresh ahead waited for the store
								refused = true
							default:
								failures[i] = fmt.Sprintf("a call near expiry: %d %s", r.Status, r.Body)
								return
							}
						}
						if refused || time.Until(s.Expires()) < time.Second { // not refreshed ahead: the browser refreshes, once
							r, err := s.Do(context.Background(), bases[0], "POST", "/api/auth/refresh", "")
							if err != nil || r.Status != http.StatusOK {
								failures[i] = fmt.Sprintf("the refresh after a skipped one: %v %+v", err, r)
								return
							}
						}
					}
				})
			}
			wg.Wait()
			for i, f := range failures {
				assert.Empty(t, f, "session %d", i)
			}
			assert.Zero(t, c.up.Stats().Reuses, "no refresh was a reuse")
			for i, s := range sessions {
				if s != nil {
					r, err := s.Do(context.Background(), bases[i%2], "POST", "/api/auth/refresh", "")
					require.NoError(t, err)
					assert.Equal(t, http.StatusOK, r.Status, "session %d works afterwards: %s", i, r.Body)
				}
			}
		})
	}
}
