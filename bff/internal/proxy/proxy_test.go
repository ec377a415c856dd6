package proxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/internal/proxy"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/forwarded"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodingUpstream serves files the way a careless static server does: it
// percent-decodes the raw path (backslashes as slashes) and cleans it, so
// that an encoded "..", "/" or "\" moves up a directory. /internal.txt lies
// outside the base path /v1 that the proxy puts calls under.
type decodingUpstream struct {
	mu   sync.Mutex
	seen []string // raw paths of every request
	last *http.Request
}

func (u *decodingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.EscapedPath()
	if r.Method == http.MethodConnect {
		raw = r.RequestURI
	}
	u.mu.Lock()
	u.seen, u.last = append(u.seen, raw), r
	u.mu.Unlock()
	p := raw
	for range 3 { // decodes until nothing changes: double encoding too
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			break
		}
		p = d
	}
	p = path.Clean("/" + strings.ReplaceAll(p, "\\", "/"))
	files := map[string]string{"/v1/ok.txt": "ok", "/internal.txt": "SECRET"}
	body, ok := files[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = io.WriteString(w, body)
}

func (u *decodingUpstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

// front starts the real handler (ServeMux, CSRF, cookie guard, proxy) in
// front of h mounted at /v1, as a real server: raw requests go through
// net/http's parsing as they would from a browser or an attacker.
func front(t *testing.T, h http.Handler, mutate ...func(*bff.Config)) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(h)
	t.Cleanup(up.Close)
	u, err := url.Parse(up.URL + "/v1")
	require.NoError(t, err)
	cfg := bff.Config{Upstream: u, Transport: http.DefaultTransport, ProxyTimeout: 5 * time.Second, RefreshAhead: -1}
	for _, m := range mutate {
		m(&cfg)
	}
	handler, _ := bff.New(cfg)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

// raw sends a request line as written, with a session and the CSRF header,
// and returns the answer.
func raw(t *testing.T, srv *httptest.Server, method, target string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, method+" "+target+" HTTP/1.1\r\nHost: "+srv.Listener.Addr().String()+
		"\r\nX-CSRF: 1\r\nCookie: "+access("tok")+"\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body = io.NopCloser(strings.NewReader(string(body)))
	return res
}

// access returns a Cookie header with a session that holds the access
// token (sealed as bff.New's zero cookies.Codec seals: the process's key).
func access(token string) string {
	ck := session(token, "", time.Time{})[0]
	return ck.Name + "=" + ck.Value
}

// session returns the cookies of a session holding the pair.
func session(access, refresh string, expires time.Time) []*http.Cookie {
	c := cookies.Codec{}
	jar, err := c.Seal(c.NewSession(authclient.Tokens{AccessToken: access, RefreshToken: refresh, Expires: expires}, ""))
	if err != nil {
		panic(err)
	}
	return jar
}

func errorCode(t *testing.T, res *http.Response) string {
	t.Helper()
	var body struct{ Error string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	assert.Equal(t, "application/json; charset=utf-8", res.Header.Get("Content-Type"))
	return body.Error
}

// Finding 2: encoded dot segments and separators, refused before they
// reach an upstream that decodes them.
func TestPathEscapesAreRefused(t *testing.T) {
	up := &decodingUpstream{}
	srv := front(t, up)

	res := raw(t, srv, "GET", "/api/ok.txt")
	require.Equal(t, http.StatusOK, res.StatusCode, "the control: an ordinary path works")
	require.Equal(t, []string{"/v1/ok.txt"}, up.requests())

	for _, target := range []string{
		"/api/%2e%2e/internal.txt",
		"/api/%2E%2E/internal.txt",
		"/api/.%2e/internal.txt",
		"/api/x%2F..%2F..%2Finternal.txt",
		"/api/x%2f%2e%2e%2f%2e%2e%2finternal.txt",
		"/api/..%5c..%5cinternal.txt",
		"/api/..%5Cinternal.txt",
		"/api/%252e%252e/internal.txt", // encoded twice
		"/api/x%252f..%252f..%252finternal.txt",
		"/api/..;/internal.txt",
		"/api/a\\..\\..\\internal.txt",
		"/api/%00/ok.txt",
	} {
		t.Run(target, func(t *testing.T) {
			res := raw(t, srv, "GET", target)
			assert.Equal(t, http.StatusBadRequest, res.StatusCode)
			assert.Equal(t, "invalid_path", errorCode(t, res))
		})
	}
	assert.Equal(t, []string{"/v1/ok.txt"}, up.requests(), "none reached the upstream")
}

// Finding 2: CONNECT (whose path ServeMux does not clean), TRACE and
// unknown methods are refused with 405.
func TestMethodsOutsideTheAPIAreRefused(t *testing.T) {
	up := &decodingUpstream{}
	srv := front(t, up)
	for _, tt := range []struct{ method, target string }{
		{"CONNECT", "/api/../../admin"},
		{"CONNECT", "/api/ok.txt"},
		{"TRACE", "/api/ok.txt"},
		{"PROPFIND", "/api/ok.txt"},
		{"BREW", "/api/ok.txt"},
	} {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			res := raw(t, srv, tt.method, tt.target)
			assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
			assert.Equal(t, proxy.Allow, res.Header.Get("Allow"))
			assert.Equal(t, "method_not_allowed", errorCode(t, res))
		})
	}
	assert.Empty(t, up.requests())
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		res := raw(t, srv, m, "/api/ok.txt")
		assert.NotEqual(t, http.StatusMethodNotAllowed, res.StatusCode, m)
	}
}

func TestCheckPath(t *testing.T) {
	for _, tt := range []struct {
		path string
		want error
	}{
		{"/api/departments", nil},
		{"/api/items/42;v=1", nil},
		{"/api/a%20b", nil},
		{"/api/%41", nil},
		{"/api/..", proxy.ErrDotSegment},
		{"/api/./x", proxy.ErrDotSegment},
		{"/api/x/..;y/z", proxy.ErrDotSegment},
		{"/api/%2e", proxy.ErrEncodedSeparator},
		{"/api/a%2fb", proxy.ErrEncodedSeparator},
		{"/api/a%5Cb", proxy.ErrEncodedSeparator},
		{"/api/%252E", proxy.ErrEncodedSeparator},
		{"/api/a\\b", proxy.ErrEncodedSeparator}, // url.URL escapes it
		{"/api/a%0ab", proxy.ErrControl},
		{"/api/a%7f", proxy.ErrControl},
	} {
		u, err := url.Parse("http://h" + tt.path)
		require.NoError(t, err, tt.path)
		assert.ErrorIs(t, proxy.CheckPath(u), tt.want, tt.path)
		if tt.want == nil {
			assert.NoError(t, proxy.CheckPath(u), tt.path)
		}
	}
}

// readSpy fails the test if the handler reads the body.
type readSpy struct {
	mu   sync.Mutex
	read bool
}

func (s *readSpy) Read(p []byte) (int, error) {
	s.mu.Lock()
	s.read = true
	s.mu.Unlock()
	return 0, io.EOF
}

// Finding 3: no session, no reading: the 401 comes before the body.
func TestNoSessionIs401BeforeTheBody(t *testing.T) {
	h := proxy.New(proxy.Config{Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, Transport: http.DefaultTransport})
	for _, cookie := range []string{"", "theme=dark", "fwr-session.0=r", "__Host-Http-fwr-session.0=r"} {
		spy := &readSpy{}
		r := httptest.NewRequest("POST", "/api/echo", spy)
		r.ContentLength = 10 << 20
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		cookies.Codec{}.Guard(h).ServeHTTP(w, r)
		assert.Equal(t, http.StatusUnauthorized, w.Code, cookie)
		assert.Contains(t, w.Body.String(), `"no_session"`)
		assert.False(t, spy.read, "the body was not read")
	}
}

// Without a session and without a body, a call goes on without
// Authorization: the upstream decides (a public resource, or its 401).
func TestNoSessionWithoutBodyReachesTheUpstream(t *testing.T) {
	up := &decodingUpstream{}
	srv := front(t, up)
	req, err := http.NewRequest("GET", srv.URL+"/api/ok.txt", nil)
	require.NoError(t, err)
	req.Header.Set("X-CSRF", "1")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	up.mu.Lock()
	defer up.mu.Unlock()
	assert.Empty(t, up.last.Header.Values("Authorization"))
}

// Finding 3: natively the body streams: the upstream reads the first part
// before the client has sent the rest.
func TestBodiesStreamNatively(t *testing.T) {
	firstPart := make(chan string)
	srv := front(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		_, err := io.ReadFull(r.Body, buf)
		if err != nil {
			close(firstPart)
			return
		}
		firstPart <- string(buf)
		rest, _ := io.ReadAll(r.Body)
		_, _ = w.Write(rest)
	}))
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", srv.URL+"/api/upload", pr)
	require.NoError(t, err)
	req.Header.Set("X-CSRF", "1")
	req.Header.Set("Cookie", access("tok"))
	type result struct {
		res *http.Response
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		done <- result{res, err}
	}()
	_, err = io.WriteString(pw, "first")
	require.NoError(t, err)
	select {
	case got := <-firstPart:
		assert.Equal(t, "first", got)
	case <-time.After(20 * time.Second): // a hang detector, not a timing assertion
		t.Fatal("the upstream got nothing before the body ended: it was buffered")
	}
	_, err = io.WriteString(pw, " and the rest")
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	r := <-done
	require.NoError(t, r.err)
	defer r.res.Body.Close()
	body, _ := io.ReadAll(r.res.Body)
	assert.Equal(t, http.StatusOK, r.res.StatusCode)
	assert.Equal(t, " and the rest", string(body))
}

func TestStreamedBodyOverTheLimitIs413(t *testing.T) {
	var mu sync.Mutex
	var got []int64 // bytes the upstream read of each call
	srv := front(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
	}))
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked %v", chunked), func(t *testing.T) {
			var body io.Reader = strings.NewReader(strings.Repeat("x", proxy.MaxBody+1))
			if chunked {
				body = io.MultiReader(body) // no length: sent chunked
			}
			req, err := http.NewRequest("POST", srv.URL+"/api/upload", body)
			require.NoError(t, err)
			req.Header.Set("X-CSRF", "1")
			req.Header.Set("Cookie", access("tok"))
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err, "the answer comes before the client is done sending")
			res.Body.Close()
			assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range got {
		assert.LessOrEqual(t, n, int64(proxy.MaxBody), "the upstream never got more than the limit")
	}
}

// Finding 3, where bodies are buffered (Workers): the bytes held at once
// are bounded; a call that finds no room waits, then gets 503.
func TestBufferedBodiesAreBounded(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 2)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	h := proxy.New(proxy.Config{Upstream: u, Transport: http.DefaultTransport, Buffer: true, MaxBuffered: proxy.MaxBody})
	send := func(ctx context.Context) *httptest.ResponseRecorder {
		r := httptest.NewRequestWithContext(ctx, "POST", "/api/echo", io.MultiReader(strings.NewReader("x")))
		r.ContentLength = -1 // unknown length: room for MaxBody
		r.Header.Set("Cookie", access("tok"))
		w := httptest.NewRecorder()
		cookies.Codec{}.Guard(h).ServeHTTP(w, r)
		return w
	}
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- send(context.Background()) }()
	<-arrived // the first call holds the whole budget while the upstream waits

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond) // how long the second waits for room
	defer cancel()
	w := send(ctx)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Contains(t, w.Body.String(), `"busy"`)
	assert.Empty(t, arrived, "the second call never reached the upstream")

	close(release)
	assert.Equal(t, http.StatusOK, (<-first).Code)
	w = send(context.Background())
	assert.Equal(t, http.StatusOK, w.Code, "the budget is back")
}

// Finding 5: what the upstream answers is filtered before the browser sees
// it.
func TestUpstreamAnswersAreFiltered(t *testing.T) {
	demo := demo.New(demo.Config{})
	srv := front(t, http.StripPrefix("/v1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "https://evil.example/", http.StatusFound)
		case "/not-modified":
			w.WriteHeader(http.StatusNotModified)
		case "/page":
			h.Set("Content-Type", "text/html")
			h.Set("Cache-Control", "public, max-age=3600")
			h.Set(cookies.ExpiresHeader, "1")
			h.Set(cookies.LifetimeHeader, "1")
			h.Add("Set-Cookie", "upstream=x; Path=/")
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Clear-Site-Data", `"cookies"`)
			h.Set("Content-Security-Policy", "script-src *")
			h.Set("Content-Security-Policy-Report-Only", "script-src *")
			_, _ = io.WriteString(w, "<script>alert(1)</script>")
		case "/private":
			h.Set("Cache-Control", "no-store, max-age=0")
		default:
			demo.ServeHTTP(w, r)
		}
	})), func(c *bff.Config) { c.RefreshAhead = 0 })
	call := func(p string, cookies ...*http.Cookie) *http.Response {
		req, err := http.NewRequest("GET", srv.URL+p, nil)
		require.NoError(t, err)
		req.Header.Set("X-CSRF", "1")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	tok := session("tok", "", time.Time{})[0]

	res := call("/api/redirect", tok)
	assert.Equal(t, http.StatusBadGateway, res.StatusCode, "an upstream redirect is not followed by the browser")
	assert.Empty(t, res.Header.Get("Location"))
	assert.Equal(t, "upstream_redirect", errorCode(t, res))

	res = call("/api/not-modified", tok)
	assert.Equal(t, http.StatusNotModified, res.StatusCode, "304 is an answer, not a redirect")

	res = call("/api/page", tok)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	assert.Empty(t, res.Header.Values("Set-Cookie"), "the upstream's cookies are not the origin's")
	assert.Empty(t, res.Header.Get(cookies.ExpiresHeader), "the upstream's expiry is not ours")
	assert.Empty(t, res.Header.Get(cookies.LifetimeHeader))
	assert.Equal(t, "private, max-age=3600", res.Header.Get("Cache-Control"), "an authenticated answer is nobody else's: private in the place of public")
	for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Clear-Site-Data", "Content-Security-Policy", "Content-Security-Policy-Report-Only"} {
		assert.Empty(t, res.Header.Values(name), "the upstream's %s does not reach the browser", name)
	}
	res = call("/api/private", tok)
	assert.Equal(t, "no-store, max-age=0", res.Header.Get("Cache-Control"), "no-store stays as the upstream said it")
	res = call("/api/page")
	assert.Equal(t, "public, max-age=3600", res.Header.Get("Cache-Control"), "without a session the upstream decides")

	// With a refresh ahead, the same answer carries our cookies: no-store,
	// and our X-Access-Expires, not the upstream's.
	login, err := http.NewRequest("POST", srv.URL+"/api/auth/login", strings.NewReader(`{"username":"demo","password":"demo"}`))
	require.NoError(t, err)
	login.Header.Set("X-CSRF", "1")
	lres, err := http.DefaultClient.Do(login)
	require.NoError(t, err)
	lres.Body.Close()
	require.Equal(t, http.StatusOK, lres.StatusCode)
	r := httptest.NewRequest("GET", "/", nil)
	for _, c := range lres.Cookies() {
		r.AddCookie(c)
	}
	s, err := cookies.Codec{}.Read(r)
	require.NoError(t, err)
	jar := session(s.AccessToken, s.RefreshToken, time.Now().Add(-time.Hour)) // due long ago
	res = call("/api/page", jar...)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	rotated, err := cookies.Codec{}.Open(res.Cookies())
	require.NoError(t, err, "the rotated session")
	assert.NotEqual(t, s.RefreshToken, rotated.RefreshToken)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.NotEqual(t, "1", res.Header.Get(cookies.ExpiresHeader))
	assert.NotEqual(t, "1", res.Header.Get(cookies.LifetimeHeader))
	assert.NotEmpty(t, res.Header.Get(cookies.ExpiresHeader))
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
}

// Finding 7: what the client says about itself stays here; the upstream
// learns the client from the connection, or from a trusted front proxy.
func TestClientIdentityHeaders(t *testing.T) {
	spoof := map[string]string{
		"X-Real-IP": "6.6.6.6", "X-Original-URL": "/admin", "X-Rewrite-URL": "/admin",
		"Forwarded": "for=6.6.6.6;host=evil.example", "X-Forwarded-For": "6.6.6.6",
		"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443",
		"X-Forwarded-Prefix": "/admin", "True-Client-IP": "6.6.6.6", "X-Client-IP": "6.6.6.6",
	}
	for _, tt := range []struct {
		name    string
		trusted string
		want    map[string]string
	}{
		{"direct", "", map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http"}},
		{"behind a trusted proxy", "127.0.0.0/8", map[string]string{"X-Forwarded-For": "6.6.6.6, 127.0.0.1", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}},
		{"another proxy trusted", "10.0.0.0/8", map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := &decodingUpstream{}
			trusted, err := forwarded.Parse(tt.trusted)
			require.NoError(t, err)
			srv := front(t, up, func(c *bff.Config) { c.TrustedProxies = trusted })
			req, err := http.NewRequest("GET", srv.URL+"/api/ok.txt", nil)
			require.NoError(t, err)
			req.Header.Set("X-CSRF", "1")
			req.Header.Set("Cookie", access("tok"))
			for k, v := range spoof {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode)

			up.mu.Lock()
			got := up.last.Header
			up.mu.Unlock()
			for k := range spoof {
				want, ok := tt.want[k]
				if k == "X-Forwarded-Host" && !ok {
					want = strings.TrimPrefix(srv.URL, "http://") // the connection's Host
				}
				assert.Equal(t, want, got.Get(k), k)
			}
		})
	}
}

// Finding 8: behind a front proxy that rewrites Host, the CSRF check
// compares the Origin with the host the browser asked for, if (and only
// if) that proxy is trusted; a refusal says "csrf".
func TestCSRFBehindAProxyThatRewritesHost(t *testing.T) {
	for _, tt := range []struct {
		trusted string
		want    int
	}{{"", http.StatusForbidden}, {"127.0.0.1", http.StatusUnauthorized}} { // 401: passed the check, no session
		trusted, err := forwarded.Parse(tt.trusted)
		require.NoError(t, err)
		srv := front(t, &decodingUpstream{}, func(c *bff.Config) { c.TrustedProxies = trusted })
		req, err := http.NewRequest("POST", srv.URL+"/api/auth/refresh", nil)
		require.NoError(t, err)
		req.Host = "internal:8080"
		req.Header.Set("X-CSRF", "1")
		req.Header.Set("Origin", "https://bff.example")
		req.Header.Set("X-Forwarded-Host", "bff.example")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		assert.Equal(t, tt.want, res.StatusCode, "trusted %q", tt.trusted)
		if tt.want == http.StatusForbidden {
			assert.Equal(t, "csrf", errorCode(t, res))
		}
		res.Body.Close()
	}
}
