package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server measures the binaries that ship, each as a process of its own:
// cmd/server with its default flags in front of the demo upstream
// (internal/tools/demoupstream), and in the same run a bare
// httputil.ReverseProxy that only adds the bearer header
// (internal/tools/bareproxy), the ceiling of a Go proxy hop. A third
// process, internal/tools/load, loads them wrk-style (50 keep-alive
// connections, 10 s). Before that, the server's memory under 20 concurrent
// unauthenticated 10 MiB POSTs.
func server(root string) []row {
	bin, err := os.MkdirTemp("", "fwr-bench-")
	check(err)
	defer os.RemoveAll(bin)
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin+"/",
		"./cmd/server", "./internal/tools/demoupstream", "./internal/tools/bareproxy", "./internal/tools/load")
	build.Dir = root
	out, err := build.CombinedOutput()
	check(errorf(err, out))

	up := startProc(root, filepath.Join(bin, "demoupstream"), nil)
	defer up.stop()
	// Default flags, but for the addresses: free ports, so that a second
	// run on the machine does not collide.
	srv := startProc(root, filepath.Join(bin, "server"), regexp.MustCompile(`msg="fetch-with-refresh is serving" url=(http://\S+)/ `),
		"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-upstream", up.url)
	defer srv.stop()
	bare := startProc(root, filepath.Join(bin, "bareproxy"), nil, "-upstream", up.url)
	defer bare.stop()

	growth, before, refused := memory(srv)
	slowGrowth, slowBefore, slowAnswered := slowReaders(srv)

	ourCookies := bffLogin(srv.url)
	bareToken := upstreamLogin(bare.url + "/api")
	duration, rounds := "10s", 3
	if *smoke {
		duration, rounds = "300ms", 1
	}
	loader := filepath.Join(bin, "load")
	warm := "2s"
	if *smoke {
		warm = "100ms"
	}
	load(loader, warm, "get", bare.url+"/api/departments", "Cookie: accessToken="+bareToken) // connections and pools filled
	load(loader, warm, "get", srv.url+"/api/departments", "X-CSRF: 1", "Cookie: "+ourCookies)
	var ourGet, bareGet, ourRefresh, bareRefresh []loadResult
	for range rounds { // interleaved, so that the machine's noise falls on both
		bareGet = append(bareGet, load(loader, duration, "get", bare.url+"/api/departments", "Cookie: accessToken="+bareToken))
		ourGet = append(ourGet, load(loader, duration, "get", srv.url+"/api/departments", "X-CSRF: 1", "Cookie: "+ourCookies))
		bareRefresh = append(bareRefresh, load(loader, duration, "refresh-json", bare.url))
		ourRefresh = append(ourRefresh, load(loader, duration, "refresh-cookie", srv.url))
	}
	g, bg := medianLoad(ourGet), medianLoad(bareGet)
	r, br := medianLoad(ourRefresh), medianLoad(bareRefresh)
	const bareName = " (bare httputil.ReverseProxy)"
	return []row{
		{"server: RSS growth under 20 concurrent unauthenticated 10 MiB POSTs", fmt.Sprintf("%.1f MB (%d of 20 refused 401)", growth, refused),
			fmt.Sprintf("%.1f MB (RSS before)", before), 0, "< 20 MB", growth < 20 && refused == 20},
		{"server: RSS growth under 200 slow readers of the module (GET, HEAD, Range, 304; none reads its answer)", fmt.Sprintf("%.1f MB (%d of 200 answered)", slowGrowth, slowAnswered),
			fmt.Sprintf("%.1f MB (RSS before)", slowBefore), 0, "< 50 MB", slowGrowth < 50 && slowAnswered == 200},
		{"server (shipped binary, default flags): proxied GET, requests/s (p50 / p99)", g.String(), bg.String() + bareName,
			g.RPS / bg.RPS, "≥ 0.9x bare, p99 ≤ 1.2x bare", g.RPS >= 0.9*bg.RPS && g.P99 <= 1.2*bg.P99 && g.Errors == 0},
		{"server (shipped binary): refresh endpoint, requests/s (p50 / p99)", r.String(), br.String() + " (upstream refresh through the bare proxy)",
			r.RPS / br.RPS, "", true},
	}
}

// proc is a started process that announced its base URL.
type proc struct {
	cmd *exec.Cmd
	url string
}

// startProc starts a binary and waits for its base URL: the first line
// of stdout, or the first match of announce on stderr (the server's log).
// The rest of its output is drained.
func startProc(root, path string, announce *regexp.Regexp, args ...string) *proc {
	cmd := exec.Command(path, args...)
	cmd.Dir = root
	stdout, err := cmd.StdoutPipe()
	check(err)
	stderr, err := cmd.StderrPipe()
	check(err)
	check(cmd.Start())
	p := &proc{cmd: cmd}
	lines := bufio.NewScanner(stdout)
	if announce != nil {
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		lines = bufio.NewScanner(stderr)
	} else {
		go func() { _, _ = io.Copy(os.Stderr, stderr) }()
	}
	for lines.Scan() {
		if announce == nil {
			p.url = strings.TrimSpace(lines.Text())
			break
		}
		if m := announce.FindStringSubmatch(lines.Text()); m != nil {
			p.url = m[1]
			break
		}
	}
	if p.url == "" {
		p.stop()
		check(fmt.Errorf("%s announced no URL", filepath.Base(path)))
	}
	rest := stdout
	if announce != nil {
		rest = stderr
	}
	go func() {
		for lines.Scan() { // the rest of the log, read as a terminal would
		}
		_, _ = io.Copy(io.Discard, rest)
	}()
	return p
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// memory sends 20 concurrent 10 MiB POSTs without a session cookie (but
// with the CSRF header, so that they reach the proxy) and returns how much
// the server's resident set grew at its peak, its size before, in MB, and
// how many were answered 401.
func memory(p *proc) (growth, before float64, refused int) {
	const n, size = 20, 10 << 20
	_, err := http.Get(p.url + "/healthz") // warm
	check(err)
	rss, _ := procStatus(p.cmd.Process.Pid)
	body := bytes.Repeat([]byte("x"), size)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range n {
		wg.Go(func() {
			req, err := http.NewRequest("POST", p.url+"/api/echo", bytes.NewReader(body))
			check(err)
			req.Header.Set("X-CSRF", "1")
			req.Header.Set("Content-Type", "application/octet-stream")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return // the server may close the connection before the body is sent
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusUnauthorized {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	_, peak := procStatus(p.cmd.Process.Pid)
	return float64(peak-rss) / 1024, float64(rss) / 1024, refused
}

// slowReaders opens 200 connections that ask for the module (raw GETs,
// HEADs, Ranges and conditional GETs that get 304, a quarter each) and
// read only the status line, then measures how much the server's resident
// set grew while they hang on: answers are written from the file as the
// client reads them, so it must stay small.
func slowReaders(p *proc) (growth, before float64, answered int) {
	const n = 200
	target := p.url + "/js/fetch-with-refresh.wasm"
	res, err := http.Get(target) // the ETag, and a warm file cache
	check(err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	tag := res.Header.Get("ETag")
	rss, _ := procStatus(p.cmd.Process.Pid)
	host := strings.TrimPrefix(p.url, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.Dial("tcp", host)
		check(err)
		conns = append(conns, c)
		req := "GET /js/fetch-with-refresh.wasm HTTP/1.1\r\nHost: " + host + "\r\n"
		switch i % 4 {
		case 1:
			req = strings.Replace(req, "GET", "HEAD", 1)
		case 2:
			req += "Range: bytes=0-2000000\r\n"
		case 3:
			req += "If-None-Match: " + tag + "\r\n"
		}
		_, err = io.WriteString(c, req+"\r\n")
		check(err)
		line := make([]byte, 12) // "HTTP/1.1 200"
		if _, err := io.ReadFull(c, line); err == nil {
			answered++
		}
	}
	time.Sleep(500 * time.Millisecond)      // the writes fill the socket buffers and block
	now, _ := procStatus(p.cmd.Process.Pid) // not the peak: the POSTs before raised it
	return float64(now-rss) / 1024, float64(rss) / 1024, answered
}

// procStatus returns a process's resident set and its peak (VmRSS, VmHWM)
// in kB.
func procStatus(pid int) (rss, hwm int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm
}

// loadResult is the load generator's output.
type loadResult struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50Ms"`
	P99      float64 `json:"p99Ms"`
}

func (s loadResult) String() string {
	e := ""
	if s.Errors > 0 {
		e = fmt.Sprintf(", %d errors", s.Errors)
	}
	return fmt.Sprintf("%.0f/s (%.2f / %.2f ms%s)", s.RPS, s.P50, s.P99, e)
}

// load runs the load generator as a process: 50 connections for duration.
func load(loader, duration, mode, target string, headers ...string) loadResult {
	args := []string{"-connections", "50", "-duration", duration, "-mode", mode, "-url", target}
	for _, h := range headers {
		args = append(args, "-header", h)
	}
	cmd := exec.Command(loader, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	check(err)
	var r loadResult
	check(json.Unmarshal(out, &r))
	return r
}

// medianLoad is the median of each figure over the rounds.
func medianLoad(rs []loadResult) loadResult {
	var rps, p50, p99 []float64
	var m loadResult
	for _, r := range rs {
		rps, p50, p99 = append(rps, r.RPS), append(p50, r.P50), append(p99, r.P99)
		m.Requests += r.Requests
		m.Errors += r.Errors
	}
	m.RPS, m.P50, m.P99 = median(rps), median(p50), median(p99)
	return m
}

// bffLogin logs in at the server and returns its cookies as a Cookie
// header value.
func bffLogin(base string) string {
	req, err := http.NewRequest("POST", base+"/api/auth/login", strings.NewReader(`{"username":"demo","password":"demo"}`))
	check(err)
	req.Header.Set("X-CSRF", "1")
	res, err := http.DefaultClient.Do(req)
	check(err)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		check(fmt.Errorf("login at the server: %s", res.Status))
	}
	var parts []string
	for _, c := range res.Cookies() {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// upstreamLogin logs in with the upstream contract and returns the access
// token.
func upstreamLogin(base string) string {
	res, err := http.Post(base+"/auth/login", "application/json", strings.NewReader(`{"username":"demo","password":"demo"}`))
	check(err)
	defer res.Body.Close()
	var t struct {
		AccessToken string `json:"accessToken"`
	}
	check(json.NewDecoder(res.Body).Decode(&t))
	if t.AccessToken == "" {
		check(fmt.Errorf("login at the upstream: %s", res.Status))
	}
	return t.AccessToken
}
