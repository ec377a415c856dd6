//go:build workers

package workertest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/scenario"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	root        string
	worker      string // the Worker's base URL
	workerState string // the folder of the Worker's local state (its Durable Objects' databases)
	objects     string // the base URL of the AbsorbObject test Worker
	demoAPI     *demo.Server
	mode        atomic.Value // "up", "500", "down" or "hang": how the upstream answers
	hanging     atomic.Value // chan struct{}: closed when "hang" ends (setHang)
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if root, err = filepath.Abs("../../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, f := range []string{"build/worker/app.wasm", "build/worker/worker.mjs", "node_modules/.bin/wrangler"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			fmt.Fprintf(os.Stderr, "workertest: %s is missing: run `make test-worker`, which builds it\n", f)
			return 1
		}
	}
	mode.Store("up")
	hanging.Store(make(chan struct{}))
	demoAPI = demo.New(demo.Config{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
		case "down": // a connection that dies without an answer
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		case "hang": // refreshes hang until the mode changes, then fail unprocessed
			if r.URL.Path != "/auth/refresh" {
				demoAPI.ServeHTTP(w, r)
				return
			}
			select {
			case <-hanging.Load().(chan struct{}):
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusGatewayTimeout)
		default:
			demoAPI.ServeHTTP(w, r)
		}
	}))
	defer front.Close()

	assets, err := testAssets()
	if err != nil {
		fmt.Fprintln(os.Stderr, "workertest:", err)
		return 1
	}
	defer os.RemoveAll(assets)
	var stop, stopObjects func()
	worker, workerState, stop, err = StartWithState(root, "cmd/worker/wrangler.toml", "",
		"--var", "FWR_UPSTREAM:"+front.URL, "--var", "FWR_SESSION_KEYS:"+SessionKey, "--assets", assets)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workertest:", err)
		return 1
	}
	defer stop()
	objects, stopObjects, err = startWorker("internal/testing/workertest/testdata/absorb/wrangler.toml")
	if err != nil {
		fmt.Fprintln(os.Stderr, "workertest:", err)
		return 1
	}
	defer stopObjects()
	return m.Run()
}

// testAssets is the Worker's static assets plus the browser test page and
// harness, at the paths the test server uses.
func testAssets() (string, error) {
	dir, err := os.MkdirTemp("", "fwr-worker-assets-")
	if err != nil {
		return "", err
	}
	for _, c := range [][2]string{
		{"build/worker/assets", dir},
		{"wasm/testdata", filepath.Join(dir, "testdata/wasm")},
		{"internal/testing/e2e/testdata", filepath.Join(dir, "testdata/e2e")},
	} {
		if err := os.MkdirAll(c[1], 0o755); err != nil {
			return "", err
		}
		// "dir/." copies the folder's content (filepath.Join would drop the ".")
		if out, err := exec.Command("cp", "-R", filepath.Join(root, c[0])+"/.", c[1]).CombinedOutput(); err != nil {
			return "", fmt.Errorf("cp: %v: %s", err, out)
		}
	}
	return dir, nil
}

// startWorker runs wrangler dev with config (relative to the repository)
// and args on free loopback ports (Start).
func startWorker(config string, args ...string) (base string, stop func(), err error) {
	return Start(root, config, "", args...)
}

// call sends a request to the Worker with the CSRF header and cookies.
func call(t *testing.T, method, path, body string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, worker+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-CSRF", "1")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// chunk is the sealed session's first (in these tests, only) cookie, by
// its plain name.
const chunk = cookies.SessionCookie + ".0"

// browser returns the cookies of c that a browser presents its session
// with: the sealed session and its binding.
func browser(c map[string]*http.Cookie) []*http.Cookie {
	return []*http.Cookie{c[chunk], c[cookies.BindCookie]}
}

// cookieMap returns the response's cookies by their plain names (without
// __Host-Http- or __Host-); each keeps its name on the wire, to be sent
// back.
func cookieMap(res *http.Response) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range res.Cookies() {
		m[strings.TrimPrefix(strings.TrimPrefix(c.Name, cookies.HTTPOnlyPrefix), cookies.HostPrefix)] = c
	}
	return m
}

func login(t *testing.T) map[string]*http.Cookie {
	t.Helper()
	res := call(t, "POST", "/api/auth/login", `{"username":"demo","password":"demo"}`)
	require.Equal(t, 200, res.StatusCode)
	return cookieMap(res)
}

func TestContract(t *testing.T) {
	res := call(t, "GET", "/api/auth/refresh", "")
	assert.Equal(t, 405, res.StatusCode)
	assert.Equal(t, "POST", res.Header.Get("Allow"))

	res = call(t, "POST", "/api/auth/refresh", "")
	assert.Equal(t, 401, res.StatusCode, "no cookie")
	assert.Equal(t, "application/json; charset=utf-8", res.Header.Get("Content-Type"))

	req, _ := http.NewRequest("POST", worker+"/api/auth/refresh", nil)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 403, res.StatusCode, "no X-CSRF")

	c := login(t)
	require.Contains(t, c, chunk)
	ck := c[chunk]
	assert.Equal(t, cookies.HTTPOnlyPrefix+chunk, ck.Name)
	assert.True(t, ck.HttpOnly)
	assert.True(t, ck.Secure)
	assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	assert.Equal(t, "/", ck.Path)
	assert.Equal(t, 604800, ck.MaxAge)
	old := open(c)
	require.NotNil(t, old, "the Worker seals with FWR_SESSION_KEYS")
	assert.NotContains(t, ck.Value, old.RefreshToken, "no token in the cookie")

	// A session that presents the refresh token alone (no access token):
	// the absorption key is the pair, so what follows is no duplicate.
	alone := sealed(t, "", old.RefreshToken, time.Time{})
	res = call(t, "POST", "/api/auth/refresh", "", alone...)
	require.Equal(t, 200, res.StatusCode)
	next := open(cookieMap(res))
	require.NotNil(t, next)
	assert.NotEqual(t, old.RefreshToken, next.RefreshToken, "rotated")
	assert.NotEqual(t, old.AccessToken, next.AccessToken, "rotated")
	presented := map[string]*http.Cookie{}
	for _, c := range alone {
		presented[c.Name] = c
	}
	assert.Equal(t, open(presented).ID, next.ID, "the session's identity is kept")

	// The old pair is no duplicate of that refresh: it goes upstream,
	// which sees a reuse.
	res = call(t, "POST", "/api/auth/refresh", "", browser(c)...)
	assert.Equal(t, 401, res.StatusCode, "reuse is rejected")
	assert.Equal(t, -1, cookieMap(res)[chunk].MaxAge, "and clears the cookies")
}

func TestProxy(t *testing.T) {
	c := login(t)
	res := call(t, "GET", "/api/departments", "")
	assert.Equal(t, 401, res.StatusCode, "no token: the upstream's 401")
	res = call(t, "GET", "/api/departments", "", browser(c)...)
	assert.Equal(t, 200, res.StatusCode, "the bearer is attached")

	body := `{"name":"ünïcode","n":[1,2,3]}`
	req, _ := http.NewRequest("PUT", worker+"/api/echo?x=1", strings.NewReader(body))
	req.Header.Set("X-CSRF", "1")
	req.Header.Set("Content-Type", "application/json")
	for _, ck := range browser(c) {
		req.AddCookie(ck)
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, body, string(got), "the body arrives intact")
	assert.Equal(t, "PUT", res.Header.Get("X-Echo-Method"))
}

// An upstream that fails during refresh is not a logout: 502/503, and no
// Set-Cookie.
func TestRefreshWithUpstreamDown(t *testing.T) {
	c := login(t)
	defer mode.Store("up")
	for _, tt := range []struct {
		mode string
		want int
	}{{"500", 503}, {"down", 502}} {
		mode.Store(tt.mode)
		res := call(t, "POST", "/api/auth/refresh", "", browser(c)...)
		assert.Equal(t, tt.want, res.StatusCode, tt.mode)
		assert.Empty(t, res.Header.Values("Set-Cookie"), tt.mode)
	}
	mode.Store("up")
	res := call(t, "POST", "/api/auth/refresh", "", browser(c)...)
	assert.Equal(t, 200, res.StatusCode, "the session survived")
}

func TestStaticAssets(t *testing.T) {
	res, err := http.Get(worker + "/js/fetch-with-refresh.wasm")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "application/wasm", res.Header.Get("Content-Type"))
	res, err = http.Get(worker + "/")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self' 'wasm-unsafe-eval'", "cmd/worker/_headers")
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	assert.Equal(t, "same-origin", res.Header.Get("Referrer-Policy"))
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	for _, p := range []string{"/js/fetch-with-refresh.d.ts", "/js/tsconfig.json", "/_headers"} {
		res, err = http.Get(worker + p)
		require.NoError(t, err)
		res.Body.Close()
		assert.NotEqual(t, 200, res.StatusCode, "%s is not served", p)
	}
}

// The browser storm through the Worker: 50 calls after expiry, one refresh
// upstream, all succeed.
func TestBrowserStorm(t *testing.T) {
	browser, stop, err := browsertest.Start()
	require.NoError(t, err)
	defer stop()
	var got struct {
		Results                   []scenario.CallResult
		UpstreamRefreshes, Reuses int
	}
	browsertest.Scenario(t, browser, worker, &got, "storm", 50)
	require.Len(t, got.Results, 50)
	for i, r := range got.Results {
		assert.Empty(t, r.Error, "call %d (%s)", i, r.Kind)
		assert.True(t, r.Intact, "call %d (%s) status %d", i, r.Kind, r.Status)
	}
	assert.Equal(t, 1, got.UpstreamRefreshes)
	assert.Zero(t, got.Reuses)
}

// wrangler deploy --dry-run bundles the Worker as a deploy would, offline:
// the configuration (the Durable Object binding and its migration
// included) is accepted and the upload fits the free plan.
func TestDeployDryRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npx", "--no-install", "wrangler", "--config", "cmd/worker/wrangler.toml",
		"deploy", "--dry-run", "--outdir", t.TempDir())
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "WRANGLER_SEND_METRICS=false", "XDG_CONFIG_HOME="+filepath.Join(root, ".config"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	m := regexp.MustCompile(`Total Upload: ([\d.]+) KiB / gzip: ([\d.]+) KiB`).FindStringSubmatch(string(out))
	require.NotNil(t, m, string(out))
	t.Logf("wrangler deploy --dry-run: upload %s KiB, gzip %s KiB (free plan limit: 3 MB gzip)", m[1], m[2])
	gzip, err := strconv.ParseFloat(m[2], 64)
	require.NoError(t, err)
	assert.Less(t, gzip, 3e6/1024, "KiB gzip: the free plan takes 3 MB")
	assert.Regexp(t, `env\.ABSORB \(AbsorbObject\)\s+Durable Object`, string(out))
}

// SessionKey seals the Worker's sessions (FWR_SESSION_KEYS), so that the
// tests open them.
const SessionKey = "d29ya2VydGVzdC1zZXNzaW9uLWtleS0zMmJ5dGVzISE="

// codec is the Worker's session codec.
var codec = func() cookies.Codec {
	keys, err := cookies.ParseKeys(SessionKey)
	if err != nil {
		panic(err)
	}
	return cookies.Codec{Keys: keys}
}()

// open returns the session of cookies set by an answer (cookieMap), or nil.
func open(set map[string]*http.Cookie) *cookies.Session {
	var jar []*http.Cookie
	for _, c := range set {
		jar = append(jar, c)
	}
	s, _ := codec.Open(jar)
	return s
}

// sealed returns the cookies of a session holding the pair (and expiring
// at expires, if not zero), as the Worker seals them.
func sealed(t *testing.T, access, refresh string, expires time.Time) []*http.Cookie {
	t.Helper()
	jar, err := codec.Seal(codec.NewSession(authclient.Tokens{AccessToken: access, RefreshToken: refresh, Expires: expires}, ""))
	require.NoError(t, err)
	return jar
}

// Tokens of an identity provider's size through the Worker, in Chromium:
// an upstream issuing 8 KB access tokens and 2 KB refresh tokens; login,
// 50 concurrent calls after expiry (one upstream refresh, no reuse), the
// user named, a reload, a logout; the browser keeps the sealed session in
// __Host-Http- cookies, none of which holds a token.
func TestLargeTokensThroughTheWorker(t *testing.T) {
	up := demo.New(demo.Config{AccessTokenBytes: 8 << 10, RefreshTokenBytes: 2 << 10})
	srv := httptest.NewServer(up)
	defer srv.Close()
	assets, err := testAssets()
	require.NoError(t, err)
	defer os.RemoveAll(assets)
	base, stop, err := startWorker("cmd/worker/wrangler.toml",
		"--var", "FWR_UPSTREAM:"+srv.URL, "--var", "FWR_SESSION_KEYS:"+SessionKey, "--assets", assets)
	require.NoError(t, err)
	defer stop()
	browser, stopBrowser, err := browsertest.Start()
	require.NoError(t, err)
	defer stopBrowser()

	var storm struct {
		Results                   []scenario.CallResult
		UpstreamRefreshes, Reuses int
	}
	tab := browsertest.Scenario(t, browser, base, &storm, "storm", 50)
	require.Len(t, storm.Results, 50)
	for i, r := range storm.Results {
		assert.True(t, r.Intact, "call %d (%s) status %d %s", i, r.Kind, r.Status, r.Error)
	}
	assert.Equal(t, 1, storm.UpstreamRefreshes)
	assert.Zero(t, storm.Reuses)

	s := browsertest.Session(t, tab, base, codec)
	require.NotNil(t, s, "Chromium kept the Worker's session")
	assert.Len(t, s.AccessToken, 8<<10)
	assert.Len(t, s.RefreshToken, 2<<10)
	chunks := 0
	for _, c := range browsertest.Jar(t, tab, base) {
		if strings.HasPrefix(c.Name, cookies.HTTPOnlyPrefix+cookies.SessionCookie+".") {
			chunks++
		}
	}
	assert.Equal(t, 4, chunks)
	var who struct {
		Session struct {
			Authenticated bool
			User          map[string]any
		}
	}
	browsertest.Call(t, tab, &who, "whoAmI")
	assert.True(t, who.Session.Authenticated)
	assert.Equal(t, "Demo User (demo)", who.Session.User["name"])

	require.NoError(t, chromedp.Do(tab, chromedp.Reload()))
	var after struct{ Outcomes []scenario.Outcome }
	browsertest.Call(t, tab, &after, "burst", 3)
	for _, o := range after.Outcomes {
		assert.Equal(t, scenario.Outcome{Status: 200}, o, "the session survives a reload")
	}
	var status int
	browsertest.Call(t, tab, &status, "logoutOnly")
	assert.Equal(t, 204, status)
	assert.True(t, browsertest.Session(t, tab, base, codec) == nil, "the logout ended the session")
}

// setHang makes the upstream's refreshes hang (on) or ends that: the held
// ones then fail without reaching the demo.
func setHang(on bool) {
	if on {
		hanging.Store(make(chan struct{}))
		mode.Store("hang")
		return
	}
	mode.Store("up")
	close(hanging.Load().(chan struct{}))
}
