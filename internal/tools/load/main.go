// Command load is the load generator of `make bench`, in a process of its
// own like wrk: -connections keep-alive connections, each sending its next
// request when the last answer is read, for -duration. It prints one JSON
// object: {"requests", "errors", "rps", "p50Ms", "p99Ms"}.
//
// Modes:
//
//	get             GET -url with the -header lines
//	refresh-cookie  the BFF's refresh endpoint: each connection logs in at
//	                {-url}/api/auth/login and then refreshes with its
//	                cookies, which rotate on every call
//	refresh-json    the upstream contract's refresh through a plain proxy:
//	                {-url}/api/auth/login, then {"refreshToken"} bodies
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

// result is the output.
type result struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50Ms"`
	P99      float64 `json:"p99Ms"`
}

func main() {
	target := flag.String("url", "", "the `URL` (get) or base URL (refresh modes)")
	mode := flag.String("mode", "get", "get, refresh-cookie or refresh-json")
	conns := flag.Int("connections", 50, "concurrent connections")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	var hdrs headers
	flag.Var(&hdrs, "header", "`Name: value` added to every request (repeatable)")
	flag.Parse()

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true,
	}}
	workers := make([]func() error, *conns)
	for i := range workers {
		w, err := newWorker(client, *mode, *target, hdrs)
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		workers[i] = w
	}
	fmt.Println(string(must(json.Marshal(run(workers, *duration)))))
}

// run calls every worker in a loop for d and measures.
func run(workers []func() error, d time.Duration) result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var lat []float64
	var errs int
	var wg sync.WaitGroup
	start := time.Now()
	for _, call := range workers {
		wg.Go(func() {
			mine := make([]float64, 0, 4096)
			bad := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				if call() != nil {
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
	return result{Requests: len(lat), Errors: errs, RPS: float64(len(lat)) / elapsed, P50: pct(0.5), P99: pct(0.99)}
}

// newWorker returns one connection's call.
func newWorker(c *http.Client, mode, target string, hdrs headers) (func() error, error) {
	switch mode {
	case "get":
		return func() error {
			_, err := do(c, "GET", target, "", hdrs)
			return err
		}, nil
	case "refresh-cookie":
		res, err := do(c, "POST", target+"/api/auth/login", `{"username":"demo","password":"demo"}`, headers{"X-CSRF: 1", "Content-Type: application/json"})
		if err != nil {
			return nil, err
		}
		jar := map[string]string{}
		keep := func(res *http.Response) {
			for _, ck := range res.Cookies() {
				jar[ck.Name] = ck.Value
			}
		}
		keep(res.Response)
		return func() error {
			var cookie []string
			for k, v := range jar {
				cookie = append(cookie, k+"="+v)
			}
			res, err := do(c, "POST", target+"/api/auth/refresh", "", headers{"X-CSRF: 1", "Cookie: " + strings.Join(cookie, "; ")})
			if err == nil {
				keep(res.Response)
			}
			return err
		}, nil
	case "refresh-json":
		var t struct {
			RefreshToken string `json:"refreshToken"`
		}
		res, err := do(c, "POST", target+"/api/auth/login", `{"username":"demo","password":"demo"}`, headers{"Content-Type: application/json"})
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(res.body, &t); err != nil {
			return nil, err
		}
		return func() error {
			res, err := do(c, "POST", target+"/api/auth/refresh", `{"refreshToken":"`+t.RefreshToken+`"}`, headers{"Content-Type: application/json"})
			if err != nil {
				return err
			}
			return json.Unmarshal(res.body, &t)
		}, nil
	}
	return nil, fmt.Errorf("unknown -mode %q", mode)
}

type response struct {
	*http.Response
	body []byte
}

func do(c *http.Client, method, u, body string, hdrs headers) (response, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	for _, h := range hdrs {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil && res.StatusCode != http.StatusOK {
		err = errors.New(method + " " + u + ": " + res.Status)
	}
	return response{res, b}, err
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
