package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingUpstream counts the refreshes that reach the demo upstream and
// can hold them until released, so that duplicates pile up.
type countingUpstream struct {
	*demo.Server
	refreshes atomic.Int64
	hold      chan struct{} // when not nil, refreshes wait for it to close
}

func (u *countingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/auth/refresh" {
		u.refreshes.Add(1)
		if u.hold != nil {
			<-u.hold
		}
	}
	u.Server.ServeHTTP(w, r)
}

// handlerTransport sends requests to a handler in memory: no sockets, so
// that tests can run in a synctest bubble.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	if err := r.Context().Err(); err != nil { // as a real transport: no answer after the call's end
		return nil, err
	}
	return w.Result(), nil
}

func newBFF(t *testing.T, up http.Handler, window time.Duration, store ...absorb.Store) *Handler {
	t.Helper()
	u, _ := url.Parse("http://demo.test")
	// Insecure: plain cookie names; send puts the handler behind Guard,
	// as bff.New does.
	cfg := Config{Upstream: u, Transport: handlerTransport{up}, AbsorbWindow: window, Cookies: codec}
	if len(store) > 0 {
		cfg.Store = store[0]
	}
	return New(cfg)
}

// codec is the tests' session codec: plain names, the process's key.
var codec = cookies.Codec{Insecure: true}

// send POSTs to h behind Guard (which opens the session), as bff.New
// serves it.
func send(h http.Handler, path, body string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	codec.Guard(h).ServeHTTP(w, r)
	return w
}

// sessionCookies returns the cookies that a browser sends back after w to
// present the session w set: the sealed session (the tests' sessions are
// small: one chunk) and its binding; nil when w set no session.
func sessionCookies(w *httptest.ResponseRecorder) []*http.Cookie {
	var jar []*http.Cookie
	for _, c := range w.Result().Cookies() {
		if (c.Name == cookies.SessionCookie+".0" || c.Name == cookies.BindCookie) && c.MaxAge > 0 {
			jar = append(jar, &http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	if len(jar) == 0 || jar[0].Name != cookies.SessionCookie+".0" {
		return nil
	}
	return jar
}

// tokensOf returns the tokens of the session w set (zero: none).
func tokensOf(t *testing.T, w *httptest.ResponseRecorder) authclient.Tokens {
	t.Helper()
	return tokensIn(t, sessionCookies(w))
}

// tokensIn returns the tokens of the session in jar (zero: none).
func tokensIn(t *testing.T, jar []*http.Cookie) authclient.Tokens {
	t.Helper()
	if jar == nil {
		return authclient.Tokens{}
	}
	s, err := codec.Open(jar)
	require.NoError(t, err)
	return s.Tokens()
}

// sealedCookies returns the cookies of a session holding refresh (and no
// access token).
func sealedCookies(t *testing.T, refresh string) []*http.Cookie {
	t.Helper()
	jar, err := codec.Seal(codec.NewSession(authclient.Tokens{RefreshToken: refresh}, ""))
	require.NoError(t, err)
	return jar
}

// loginCookies logs in to h and returns the session's cookies.
func loginCookies(t *testing.T, h http.Handler) []*http.Cookie {
	t.Helper()
	w := send(h, "/api/auth/login", `{"username":"demo","password":"demo"}`)
	require.Equal(t, 200, w.Code)
	jar := sessionCookies(w)
	require.Len(t, jar, 2, "the session and its binding")
	return jar
}

// 50 concurrent refreshes presenting the same cookie: one upstream refresh,
// 50 identical new pairs, no reuse detected. The upstream holds the first
// refresh until every other call is blocked waiting (synctest.Wait), so the
// 50 overlap for sure: without absorption each would reach the demo.
func TestAbsorbConcurrentDuplicates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &countingUpstream{Server: demo.New(demo.Config{})}
		h := newBFF(t, up, 0)
		cookie := loginCookies(t, h)
		up.hold = make(chan struct{})

		const n = 50
		var wg sync.WaitGroup
		results := make([]*httptest.ResponseRecorder, n)
		for i := range n {
			wg.Go(func() { results[i] = send(h, "/api/auth/refresh", "", cookie...) })
		}
		synctest.Wait() // every call is blocked: one at the upstream, the others on it
		close(up.hold)
		wg.Wait()
		checkOneSharedRefresh(t, up, results)
	})
}

// checkOneSharedRefresh asserts that results are one upstream refresh's
// pair, handed to every call, and that the upstream saw no reuse.
func checkOneSharedRefresh(t *testing.T, up *countingUpstream, results []*httptest.ResponseRecorder) {
	t.Helper()

	assert.EqualValues(t, 1, up.refreshes.Load())
	first := tokensOf(t, results[0])
	for i, w := range results {
		require.Equal(t, 200, w.Code, "call %d", i)
		got := tokensOf(t, w)
		assert.Equal(t, first.AccessToken, got.AccessToken, "call %d: the same access token", i)
		assert.Equal(t, first.RefreshToken, got.RefreshToken, "call %d: the same refresh token", i)
	}
	assert.Zero(t, up.Stats().Reuses)
}

// A duplicate within the window gets the same pair; after the window the
// upstream decides, and a reuse revokes the cookies. The result is dropped
// with its window.
func TestAbsorbWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &countingUpstream{Server: demo.New(demo.Config{})}
		store := absorb.NewMemory(0, nil)
		h := newBFF(t, up, 10*time.Second, store)
		cookie := loginCookies(t, h)

		first := send(h, "/api/auth/refresh", "", cookie...)
		require.Equal(t, 200, first.Code)
		time.Sleep(9 * time.Second)
		dup := send(h, "/api/auth/refresh", "", cookie...)
		require.Equal(t, 200, dup.Code)
		assert.Equal(t, tokensOf(t, first).RefreshToken, tokensOf(t, dup).RefreshToken)
		assert.EqualValues(t, 1, up.refreshes.Load())

		time.Sleep(2 * time.Second)
		late := send(h, "/api/auth/refresh", "", cookie...)
		assert.Equal(t, 401, late.Code, "after the window the upstream sees a reuse")
		assert.EqualValues(t, 2, up.refreshes.Load())
		assert.Equal(t, 1, up.Stats().Reuses)
		assert.Zero(t, store.Len(), "nothing kept past its window")
	})
}

// Only the browser that made a refresh gets its result: a copy of its
// session cookies without its binding (or with a made-up one), replayed
// after the refresh, goes upstream, which sees the reuse; so does the
// browser's own copy once the session it opened has logged out.
func TestAbsorbOnlyTheSameBrowser(t *testing.T) {
	tests := []struct {
		name       string
		replay     func(t *testing.T, h http.Handler, before, after []*http.Cookie) []*http.Cookie
		want       int
		refreshes  int64
		wantReuses int
	}{
		{"the same browser", func(_ *testing.T, _ http.Handler, before, _ []*http.Cookie) []*http.Cookie {
			return before
		}, http.StatusOK, 1, 0},
		{"a copy without the binding", func(_ *testing.T, _ http.Handler, before, _ []*http.Cookie) []*http.Cookie {
			return before[:1]
		}, http.StatusUnauthorized, 2, 1},
		{"a copy with a binding of its own", func(_ *testing.T, _ http.Handler, before, _ []*http.Cookie) []*http.Cookie {
			return []*http.Cookie{before[0], {Name: cookies.BindCookie, Value: "AAAAAAAAAAAAAAAAAAAAAA"}}
		}, http.StatusUnauthorized, 2, 1},
		{"the same browser after logout", func(t *testing.T, h http.Handler, before, after []*http.Cookie) []*http.Cookie {
			require.Equal(t, http.StatusNoContent, send(h, "/api/auth/logout", "", after...).Code)
			return before
		}, http.StatusUnauthorized, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &countingUpstream{Server: demo.New(demo.Config{})}
			h := newBFF(t, up, 0)
			before := loginCookies(t, h)
			first := send(h, "/api/auth/refresh", "", before...)
			require.Equal(t, http.StatusOK, first.Code)

			replay := send(h, "/api/auth/refresh", "", tt.replay(t, h, before, sessionCookies(first))...)
			assert.Equal(t, tt.want, replay.Code, replay.Body.String())
			assert.Equal(t, tt.refreshes, up.refreshes.Load(), "upstream refreshes")
			assert.Equal(t, tt.wantReuses, up.Stats().Reuses)
		})
	}
}

// Failures are not absorbed: the next duplicate asks the upstream again.
func TestAbsorbDoesNotKeepFailures(t *testing.T) {
	up := &countingUpstream{Server: demo.New(demo.Config{})}
	h := newBFF(t, up, 0)
	bogus := sealedCookies(t, "bogus")
	assert.Equal(t, 401, send(h, "/api/auth/refresh", "", bogus...).Code)
	assert.Equal(t, 401, send(h, "/api/auth/refresh", "", bogus...).Code)
	assert.EqualValues(t, 2, up.refreshes.Load())
}

// 200 goroutines keep 50 sessions alive, four to a session, refreshing
// with whatever cookie their session last got: the absorber turns the
// races into shared refreshes, and no session is lost.
func TestConcurrentSessionsNothingLost(t *testing.T) {
	up := &countingUpstream{Server: demo.New(demo.Config{})}
	h := newBFF(t, up, 0)
	type jar struct {
		mu     sync.Mutex
		cookie []*http.Cookie
	}
	const sessions, perSession, rounds = 50, 4, 5
	jars := make([]*jar, sessions)
	for i := range jars {
		jars[i] = &jar{cookie: loginCookies(t, h)}
	}
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := range sessions * perSession {
		j := jars[g%sessions]
		wg.Go(func() {
			for range rounds {
				j.mu.Lock()
				cookie := j.cookie
				j.mu.Unlock()
				w := send(h, "/api/auth/refresh", "", cookie...)
				if w.Code != 200 {
					failures.Add(1)
					return
				}
				next := sessionCookies(w)
				j.mu.Lock()
				j.cookie = next
				j.mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Zero(t, failures.Load())
	assert.Zero(t, up.Stats().Reuses)
	for _, j := range jars { // every session is still alive
		w := send(h, "/api/auth/refresh", "", j.cookie...)
		require.Equal(t, 200, w.Code)
		var body struct{ Success bool }
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		assert.True(t, body.Success)
	}
}

// fuzzHandler is a Handler in front of a demo upstream on loopback.
func fuzzHandler(f *testing.F) *Handler {
	srv := httptest.NewServer(demo.New(demo.Config{}))
	f.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return New(Config{Upstream: u, Transport: http.DefaultTransport})
}

func FuzzLoginBody(f *testing.F) {
	for _, seed := range []string{
		`{"username":"demo","password":"demo"}`, `{"username":"demo"}`, `{}`, `[]`, `null`, ``,
		`{"username":"demo","password":"demo"} trailing`, `{"username":"\u0000","password":"x"}`,
		`{"username":["a"],"password":{"b":1}}`, strings.Repeat("[", 10000),
	} {
		f.Add(seed)
	}
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, body string) {
		w := send(h, "/api/auth/login", body)
		assert.Contains(t, []int{200, 400, 401, 413}, w.Code, body)
		assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
		if w.Code != 200 {
			assert.Empty(t, w.Header().Values("Set-Cookie"))
		}
	})
}

func FuzzRefreshCookie(f *testing.F) {
	for _, seed := range []string{"fwr-session.0=abc", "fwr-session.0=", "fwr-session.0", "a=b; fwr-session.0=\"x\"", ";;=;", "fwr-session.0=\x00",
		"fwr-session.0=" + strings.Repeat("z", 5000), "refreshToken=abc", "fwr-session.0=" + strings.Repeat("A", 3800) + "; fwr-session.1=AAAA"} {
		f.Add(seed)
	}
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("POST", "/api/auth/refresh", nil)
		r.Header.Set("Cookie", header)
		w := httptest.NewRecorder()
		h.Cookies().Guard(h).ServeHTTP(w, r)
		assert.Equal(t, 401, w.Code, header) // no cookie here is a live session
		assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	})
}
