// Command soak runs many sessions through expiry and refresh against
// three cmd/server instances sharing a real redis-server, in front of a
// demo upstream with strict rotation, while it injects faults on a
// schedule: upstream 5xx, upstream hangs past the auth timeout, the
// connection dropped after the upstream rotated, an instance killed and
// restarted, Redis restarted, Redis refusing connections, Redis hung (a
// relay between each instance and Redis that refuses, or accepts and
// relays nothing), one instance cut off from Redis (its relay alone
// hangs). It prints what happened to the sessions and the
// refreshes' latency in each phase (`make soak`). -smoke is a short run for make test: it fails if a
// session is lost to anything but the rotate-then-drop fault.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/multitest"
)

var (
	sessions    = flag.Int("sessions", 500, "sessions cycling through expiry and refresh")
	duration    = flag.Duration("duration", 60*time.Second, "length of each run")
	graces      = flag.String("graces", "0s,10s", "comma-separated -refresh-grace values of the demo upstream: one run each")
	smoke       = flag.Bool("smoke", false, "a short run (50 sessions, 12 s, grace 0) that fails on a session lost to a transient upstream failure or to no fault")
	authTimeout = 2 * time.Second
)

func main() {
	flag.Parse()
	if *smoke {
		*sessions, *duration, *graces = 50, 12*time.Second, "0s"
	}
	dir, err := os.MkdirTemp("", "fwr-soak-")
	check(err)
	defer os.RemoveAll(dir)
	bin, err := multitest.BuildServer(dir)
	check(err)
	failed := false
	for _, g := range strings.Split(*graces, ",") {
		grace, err := time.ParseDuration(strings.TrimSpace(g))
		check(err)
		r := run(bin, grace)
		fmt.Print(r.table())
		if r.lostToTransients() > 0 {
			failed = true
		}
	}
	if *smoke && failed {
		fmt.Println("soak smoke: sessions lost to a transient upstream failure or to no fault")
		os.Exit(1)
	}
}

// phase is one step of the fault schedule, in fractions of the run.
type phase struct {
	fault      string
	from, to   float64
	start, end time.Time
	// The upstream's counters when the phase starts, ends, and when the
	// next one starts (or the run ends).
	atStart, atEnd, atNext demo.Stats
}

func schedule(start time.Time, d time.Duration) []*phase {
	ps := []*phase{
		{fault: fault5xx, from: 0.05, to: 0.12},
		{fault: faultHang, from: 0.16, to: 0.23},
		{fault: faultDrop, from: 0.27, to: 0.34},
		{fault: faultKill, from: 0.38, to: 0.45},
		{fault: faultRedis, from: 0.49, to: 0.54},
		{fault: faultRefuse, from: 0.60, to: 0.67},
		{fault: faultStall, from: 0.72, to: 0.79},
		{fault: faultPartition, from: 0.85, to: 0.92},
	}
	for _, p := range ps {
		p.start = start.Add(time.Duration(p.from * float64(d)))
		p.end = start.Add(time.Duration(p.to * float64(d)))
	}
	return ps
}

// report is what one run saw.
type report struct {
	grace                time.Duration
	started, lost        int
	expiries             atomic.Int64
	calls, ok, retryable atomic.Int64
	unanswered           atomic.Int64
	rejected             atomic.Int64
	stats                demo.Stats
	latencies            []time.Duration
	refreshes            []sample // every refresh a session sent, with when
	lostBy               map[string]int
	phases               []*phase
}

func run(bin string, grace time.Duration) *report {
	logs := io.Discard
	if os.Getenv("SOAK_LOGS") != "" {
		logs = os.Stderr
	}
	up := demo.New(demo.Config{AccessTTL: time.Minute, Grace: grace})
	faults := &faulty{next: up, hang: authTimeout + time.Second, rate: 0.3, touched: map[string]string{}}
	upAddr, err := multitest.FreeAddr()
	check(err)
	ln, err := net.Listen("tcp", upAddr)
	check(err)
	upSrv := &http.Server{Handler: faults}
	go upSrv.Serve(ln)
	defer upSrv.Close()

	redis, err := multitest.StartRedis(logs)
	check(err)
	defer redis.Kill()
	var instances []*multitest.Instance
	var relays []*multitest.Relay
	var bases []string
	for range 3 {
		relay, err := multitest.NewRelay(redis.Addr) // each instance reaches Redis through a relay of its own
		check(err)
		defer relay.Close()
		in, err := multitest.StartInstance(bin, logs, "-upstream", "http://"+upAddr, "-redis", relay.URL(), "-auth-timeout", authTimeout.String())
		check(err)
		defer in.Stop()
		instances = append(instances, in)
		relays = append(relays, relay)
		bases = append(bases, in.Base)
	}
	lb := multitest.NewBalancer(bases...)

	r := &report{grace: grace, lostBy: map[string]int{}}
	start := time.Now()
	end := start.Add(*duration)
	r.phases = schedule(start, *duration)
	driven := make(chan struct{})
	go func() {
		defer close(driven)
		drive(r.phases, faults, instances, relays, redis, up)
	}()

	var mu sync.Mutex // protects r.latencies, r.lostBy, r.started
	var wg sync.WaitGroup
	for i := range *sessions {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 2 * time.Second / time.Duration(*sessions)) // logins spread over 2 s
			// A user whose session was lost logs in again: every fault
			// of the schedule meets the same number of sessions.
			for time.Now().Before(end) {
				u := &user{lb: lb, r: r}
				if !u.login() {
					return
				}
				mu.Lock()
				r.started++
				mu.Unlock()
				lat, refreshes, lostAt := u.cycle(end)
				if lostAt.IsZero() && !u.final() {
					lostAt = time.Now()
				}
				mu.Lock()
				r.latencies = append(r.latencies, lat...)
				r.refreshes = append(r.refreshes, refreshes...)
				if !lostAt.IsZero() {
					r.lost++
					r.lostBy[causeOf(faults, u.tokens, lostAt, r.phases)]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	<-driven // the whole schedule ran, even if every session was lost before its end
	r.stats = up.Stats()
	r.phases[len(r.phases)-1].atNext = r.stats
	return r
}

// drive switches the faults on and off on schedule, and snapshots the
// upstream's counters per phase.
func drive(ps []*phase, f *faulty, instances []*multitest.Instance, relays []*multitest.Relay, redis *multitest.Redis, up *demo.Server) {
	relayAll := func(m multitest.Mode) {
		for _, r := range relays {
			check(r.Set(m))
		}
	}
	for i, p := range ps {
		time.Sleep(time.Until(p.start))
		p.atStart = up.Stats()
		if i > 0 {
			ps[i-1].atNext = p.atStart
		}
		switch p.fault {
		case faultKill:
			instances[2].Kill()
			time.Sleep(time.Until(p.end))
			check(instances[2].Start())
		case faultRedis: // killed and started again at once, as a supervisor does
			redis.Kill()
			check(redis.Start())
			time.Sleep(time.Until(p.end))
		case faultRefuse, faultStall:
			relayAll(map[string]multitest.Mode{faultRefuse: multitest.Refuse, faultStall: multitest.Hang}[p.fault])
			time.Sleep(time.Until(p.end))
			relayAll(multitest.Pass)
		case faultPartition: // its relay stops relaying, then resumes; the others keep Redis
			check(relays[0].Set(multitest.Hang))
			time.Sleep(time.Until(p.end))
			check(relays[0].Set(multitest.Pass))
		default:
			f.set(p.fault)
			time.Sleep(time.Until(p.end))
			f.set(faultNone)
		}
		p.atEnd = up.Stats()
	}
}

// causeOf names what lost a session: rotate-then-drop if it spoiled a
// refresh of one of its last two refresh tokens; else the latest instance
// or Redis fault whose window (plus twice the auth timeout) covers the
// loss; else
// the fault that spoiled one of those refreshes, if any.
func causeOf(f *faulty, tokens []string, at time.Time, ps []*phase) string {
	last := tokens[max(len(tokens)-2, 0):]
	if f.touchedBy(last, faultDrop) {
		return faultDrop
	}
	for _, p := range slices.Backward(ps) { // the latest fault whose window covers it
		if storeOrInstance[p.fault] && !at.Before(p.start) && at.Before(p.end.Add(2*authTimeout)) {
			return p.fault
		}
	}
	if c := f.cause(last); c != "" {
		return c
	}
	return unexplained
}

// storeOrInstance are the faults of an instance or of Redis, to which a
// session lost in their window (plus the auth timeout) is put down.
var storeOrInstance = map[string]bool{faultKill: true, faultRedis: true, faultRefuse: true, faultStall: true, faultPartition: true}

// sample is one refresh: when it was sent, and how long its answer took.
type sample struct {
	at time.Time
	d  time.Duration
}

// user is one browser: a session, cycling.
type user struct {
	lb     *multitest.Balancer
	r      *report
	s      *multitest.Session
	tokens []string // the refresh tokens it held, oldest first
}

func (u *user) login() bool {
	for range 5 {
		s, err := multitest.Login(context.Background(), u.lb.Next())
		if err == nil {
			u.s = s
			u.note()
			return true
		}
	}
	return false
}

func (u *user) note() {
	t := u.s.Tokens().RefreshToken
	if t != "" && (len(u.tokens) == 0 || u.tokens[len(u.tokens)-1] != t) {
		u.tokens = append(u.tokens, t)
	}
}

// cycle runs the session until end: every 1–3 s, a burst of three
// duplicate refreshes with the same cookies (three tabs after an expiry,
// on whichever instance each lands), each followed by a call, and a 401
// answered as the browser module does: one refresh, one replay. It
// returns the calls' latencies, the refreshes of the bursts, and when the
// session was lost (zero if it was not).
func (u *user) cycle(end time.Time) ([]time.Duration, []sample, time.Time) {
	var lat []time.Duration
	var refreshes []sample
	var mu sync.Mutex
	for time.Now().Before(end) {
		time.Sleep(time.Second + rand.N(2*time.Second))
		u.r.expiries.Add(1)
		cookies := u.s.Cookies()
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				start := time.Now()
				u.send("POST", "/api/auth/refresh", cookies) // a tab's refresh: the three are duplicates
				took := time.Since(start)
				d, ok := u.call(u.s.Cookies())
				mu.Lock()
				refreshes = append(refreshes, sample{start, took})
				if ok {
					lat = append(lat, d)
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		u.note()
		if !u.s.LoggedIn() {
			return lat, refreshes, time.Now()
		}
	}
	return lat, refreshes, time.Time{}
}

// call sends one proxied call, moving on to the next instance when one
// does not answer (as a balancer does), and refreshes on 401.
func (u *user) call(cookies map[string]string) (time.Duration, bool) {
	u.r.calls.Add(1)
	start := time.Now()
	res, ok := u.send("GET", "/api/departments", cookies)
	if ok && res.Status == http.StatusUnauthorized {
		ref, rok := u.send("POST", "/api/auth/refresh", u.s.Cookies())
		if rok && ref.Status == http.StatusOK {
			res, ok = u.send("GET", "/api/departments", u.s.Cookies())
		}
	}
	switch {
	case !ok:
		u.r.unanswered.Add(1)
		return 0, false
	case res.Status == http.StatusOK:
		u.r.ok.Add(1)
		return time.Since(start), true
	case res.Status >= 500:
		u.r.retryable.Add(1)
	case res.Status == http.StatusUnauthorized:
		u.r.rejected.Add(1)
	}
	return 0, false
}

func (u *user) send(method, path string, cookies map[string]string) (multitest.Result, bool) {
	for range 3 {
		res, err := u.s.DoWith(context.Background(), u.lb.Next(), method, path, "", cookies)
		if err == nil {
			return res, true
		}
	}
	return multitest.Result{}, false
}

// final checks, after the run, that the session still refreshes.
func (u *user) final() bool {
	u.r.expiries.Add(1)
	for range 3 {
		res, ok := u.send("POST", "/api/auth/refresh", u.s.Cookies())
		if ok && res.Status == http.StatusOK {
			return true
		}
		if ok && res.Status == http.StatusUnauthorized {
			return false
		}
		time.Sleep(authTimeout) // a transient answer: try again
	}
	return false
}

// lostToTransients counts the sessions lost to what must never lose one:
// a transient upstream failure (5xx, a hang), or nothing at all. A pair
// lost in flight (rotate-then-drop, an instance killed between the
// upstream's rotation and its answer, a Redis restart under a waiter) can
// lose one without a grace window.
func (r *report) lostToTransients() int {
	return r.lostBy[fault5xx] + r.lostBy[faultHang] + r.lostBy[unexplained]
}

var why = map[string]string{
	faultDrop:      "the upstream rotated, the answer never arrived: the next refresh presents the rotated-out token, a reuse that revokes the session (a grace window longer than the time to the retry saves it)",
	fault5xx:       "a refresh failed and was not retried",
	faultHang:      "a refresh timed out and was not retried",
	faultKill:      "an instance died between the upstream's rotation and its answer: the pair was lost in flight, as with rotate-then-drop",
	faultRedis:     "Redis lost the lease and the result: a duplicate on another instance refreshed with the old token",
	faultRefuse:    "no instance could reach Redis: each absorbed its own duplicates, and duplicates on two instances both reached the upstream",
	faultStall:     "no instance could reach Redis: each absorbed its own duplicates, and duplicates on two instances both reached the upstream",
	faultPartition: "the instance cut off absorbed its duplicates in process while the others shared theirs through Redis: a duplicate there and one on another instance both reached the upstream",
}

func (r *report) table() string {
	var b bytes.Buffer
	perExpiry := float64(r.stats.Refreshes) / float64(max(r.expiries.Load(), 1))
	slices.Sort(r.latencies)
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[int(p*float64(len(r.latencies)-1))].Round(100 * time.Microsecond)
	}
	fmt.Fprintf(&b, "\n### soak: %d sessions, %s, 3 instances + Redis, strict rotation, -refresh-grace %s\n\n", *sessions, *duration, r.grace)
	fmt.Fprintf(&b, "| figure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| sessions started (%d users; one whose session is lost logs in again) | %d |\n", *sessions, r.started)
	fmt.Fprintf(&b, "| sessions lost | %d |\n", r.lost)
	fmt.Fprintf(&b, "| expiries (bursts of 3 duplicate refreshes, final refreshes) | %d |\n", r.expiries.Load())
	fmt.Fprintf(&b, "| upstream refreshes (per expiry) | %d (%.3f) |\n", r.stats.Refreshes, perExpiry)
	fmt.Fprintf(&b, "| reuse detections | %d |\n", r.stats.Reuses)
	fmt.Fprintf(&b, "| reuses answered in the grace window | %d |\n", r.stats.Graces)
	fmt.Fprintf(&b, "| calls: 200 / 401 / 5xx (retryable) / unanswered | %d / %d / %d / %d of %d |\n", r.ok.Load(), r.rejected.Load(), r.retryable.Load(), r.unanswered.Load(), r.calls.Load())
	fmt.Fprintf(&b, "| call latency p50 / p99 | %s / %s |\n", pct(0.50), pct(0.99))
	fmt.Fprintf(&b, "| refresh latency p50 / p99, no fault on | %s |\n\n", r.refreshLatency(func(at time.Time) bool {
		return !slices.ContainsFunc(r.phases, func(p *phase) bool { return !at.Before(p.start) && at.Before(p.end) })
	}))
	fmt.Fprintf(&b, "| fault | window | refresh latency p50 / p99 | reuses during / after | sessions lost | why |\n|---|---|---|---|---|---|\n")
	for _, p := range r.phases {
		w := ""
		if r.lostBy[p.fault] > 0 {
			w = why[p.fault]
		}
		lat := r.refreshLatency(func(at time.Time) bool { return !at.Before(p.start) && at.Before(p.end) })
		fmt.Fprintf(&b, "| %s | %.0f–%.0f s | %s | %d / %d | %d | %s |\n", p.fault, p.from*duration.Seconds(), p.to*duration.Seconds(),
			lat, p.atEnd.Reuses-p.atStart.Reuses, p.atNext.Reuses-p.atEnd.Reuses, r.lostBy[p.fault], w)
	}
	if n := r.lostBy[unexplained]; n > 0 {
		fmt.Fprintf(&b, "| no fault | | | %d | unexplained |\n", n)
	}
	return b.String()
}

// refreshLatency is the p50 and p99 of the refreshes sent at a time in.
func (r *report) refreshLatency(in func(time.Time) bool) string {
	var ds []time.Duration
	for _, s := range r.refreshes {
		if in(s.at) {
			ds = append(ds, s.d)
		}
	}
	if len(ds) == 0 {
		return "none sent"
	}
	slices.Sort(ds)
	pct := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))].Round(100 * time.Microsecond) }
	return fmt.Sprintf("%s / %s", pct(0.50), pct(0.99))
}

// peekToken reads a refresh request's body and returns a copy to hand on
// and the refresh token it names.
func peekToken(r *http.Request) (io.ReadCloser, string) {
	data, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var in struct {
		RefreshToken string `json:"refreshToken"`
	}
	_ = json.Unmarshal(data, &in)
	return io.NopCloser(bytes.NewReader(data)), in.RefreshToken
}

func check(err error) {
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}
