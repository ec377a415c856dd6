package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/app"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/session"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/upstream"
)

const concurrency = 16

// server loads the proxied GET and the refresh endpoint from a Go load
// generator on loopback, each against the upstream hit directly.
func server() []row {
	up := httptest.NewServer(upstream.New(upstream.Config{AccessTTL: time.Hour}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	transport := &http.Transport{MaxIdleConnsPerHost: 4 * concurrency}
	h, _ := app.New(app.Config{Upstream: u, Transport: transport})
	bff := httptest.NewServer(h)
	defer bff.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * concurrency}}

	duration := 3 * time.Second
	if *smoke {
		duration = 200 * time.Millisecond
	}

	// GET: one session each way, shared by the workers.
	direct := upstreamLogin(client, up.URL)
	proxied := bffLogin(client, bff.URL)
	d := load(duration, func(int) func() error {
		return func() error {
			return get(client, up.URL+"/departments", map[string]string{"Authorization": "Bearer " + direct.AccessToken})
		}
	})
	p := load(duration, func(int) func() error {
		return func() error {
			return get(client, bff.URL+"/api/departments", map[string]string{"X-CSRF": "1", "Cookie": session.AccessCookie + "=" + proxied[session.AccessCookie]})
		}
	})

	// Refresh: a session per worker, rotated on every call.
	dr := load(duration, func(int) func() error {
		tok := upstreamLogin(client, up.URL).RefreshToken
		return func() error {
			t, err := post(client, up.URL+"/auth/refresh", `{"refreshToken":"`+tok+`"}`, nil)
			tok = t.RefreshToken
			return err
		}
	})
	pr := load(duration, func(int) func() error {
		cookie := bffLogin(client, bff.URL)[session.RefreshCookie]
		return func() error {
			res, err := do(client, "POST", bff.URL+"/api/auth/refresh", "", map[string]string{"X-CSRF": "1", "Cookie": session.RefreshCookie + "=" + cookie})
			if err == nil {
				for _, c := range res.Cookies() {
					if c.Name == session.RefreshCookie {
						cookie = c.Value
					}
				}
			}
			return err
		}
	})
	return []row{
		{"server: proxied GET, requests/s (p50 / p99)", p.String(), d.String() + " (upstream direct)", p.rps / d.rps, "≥ 0.5x direct", p.rps/d.rps >= 0.5},
		{"server: refresh endpoint, requests/s (p50 / p99)", pr.String(), dr.String() + " (upstream direct)", pr.rps / dr.rps, "", true},
	}
}

// stats of one load run.
type stats struct {
	rps, p50, p99 float64 // p50 and p99 in ms
	errors        int
}

func (s stats) String() string {
	e := ""
	if s.errors > 0 {
		e = fmt.Sprintf(", %d errors", s.errors)
	}
	return fmt.Sprintf("%.0f/s (%.2f / %.2f ms%s)", s.rps, s.p50, s.p99, e)
}

// load runs concurrency workers for duration, each calling the function
// newWorker made for it, and returns the throughput and latencies.
func load(duration time.Duration, newWorker func(i int) func() error) stats {
	calls := make([]func() error, concurrency)
	for i := range calls {
		calls[i] = newWorker(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var mu sync.Mutex
	var lat []float64
	var errs int
	var wg sync.WaitGroup
	start := time.Now()
	for _, call := range calls {
		wg.Go(func() {
			var mine []float64
			bad := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := call(); err != nil {
					bad++
				}
				mine = append(mine, float64(time.Since(t0).Microseconds())/1000)
			}
			mu.Lock()
			lat, errs = append(lat, mine...), errs+bad
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	slices.Sort(lat)
	pct := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	return stats{rps: float64(len(lat)) / elapsed, p50: pct(0.50), p99: pct(0.99), errors: errs}
}

func do(c *http.Client, method, u, body string, headers map[string]string) (*http.Response, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		return res, fmt.Errorf("%s %s: %d", method, u, res.StatusCode)
	}
	return res, nil
}

func get(c *http.Client, u string, headers map[string]string) error {
	_, err := do(c, "GET", u, "", headers)
	return err
}

// post sends JSON and decodes the upstream's token answer.
func post(c *http.Client, u, body string, headers map[string]string) (upstream.Tokens, error) {
	req, err := http.NewRequest("POST", u, strings.NewReader(body))
	if err != nil {
		return upstream.Tokens{}, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		return upstream.Tokens{}, err
	}
	defer res.Body.Close()
	var t upstream.Tokens
	if res.StatusCode != 200 {
		return t, fmt.Errorf("POST %s: %d", u, res.StatusCode)
	}
	return t, json.NewDecoder(res.Body).Decode(&t)
}

func upstreamLogin(c *http.Client, base string) upstream.Tokens {
	t, err := post(c, base+"/auth/login", `{"username":"demo","password":"demo"}`, nil)
	check(err)
	return t
}

// bffLogin returns the session cookies by name.
func bffLogin(c *http.Client, base string) map[string]string {
	res, err := do(c, "POST", base+"/api/auth/login", `{"username":"demo","password":"demo"}`, map[string]string{"X-CSRF": "1"})
	check(err)
	m := map[string]string{}
	for _, ck := range res.Cookies() {
		m[ck.Name] = ck.Value
	}
	return m
}
