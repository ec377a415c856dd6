package multitest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// Balancer hands out the instances' base URLs round-robin, as a load
// balancer without affinity does.
type Balancer struct {
	bases []string
	next  atomic.Uint64
}

// NewBalancer returns a Balancer over bases.
func NewBalancer(bases ...string) *Balancer { return &Balancer{bases: bases} }

// Next returns the next base URL.
func (b *Balancer) Next() string { return b.bases[(b.next.Add(1)-1)%uint64(len(b.bases))] }

// Client sends the calls of one browser: its cookies, the CSRF header.
var Client = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	},
}

// Session is one user's cookie jar (the browser's, shared by its tabs).
type Session struct {
	mu      sync.Mutex // protects cookies
	cookies map[string]string
}

// Login logs in through base and returns the cookies.
func Login(ctx context.Context, base string) (*Session, error) {
	s := &Session{cookies: map[string]string{}}
	res, err := s.Do(ctx, base, http.MethodPost, "/api/auth/login", `{"username":"demo","password":"demo"}`)
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, errors.New("login: " + http.StatusText(res.Status))
	}
	return s, nil
}

// Result is an answer, read in full.
type Result struct {
	Status int
	Body   string
	// Set holds the cookies the answer set (empty value: cleared).
	Set map[string]string
}

// Tokens returns the tokens of the session the answer set (zero when it
// set none).
func (r Result) Tokens() authclient.Tokens {
	if s := Open(r.Set); s != nil {
		return s.Tokens()
	}
	return authclient.Tokens{}
}

// Do sends a call with the session's cookies to base and keeps the
// cookies of the answer, as a browser does.
func (s *Session) Do(ctx context.Context, base, method, path, body string) (Result, error) {
	return s.DoWith(ctx, base, method, path, body, s.Cookies())
}

// DoWith is Do with the cookies given, for calls that a browser sent with
// cookies it has since replaced (a request in flight).
func (s *Session) DoWith(ctx context.Context, base, method, path, body string, cookies map[string]string) (Result, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("X-CSRF", "1")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	res, err := Client.Do(req)
	if err != nil {
		return Result{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return Result{}, err
	}
	set := map[string]string{}
	for _, c := range res.Cookies() {
		set[c.Name] = c.Value
	}
	s.keep(res.Cookies())
	return Result{Status: res.StatusCode, Body: string(data), Set: set}, nil
}

func (s *Session) keep(cs []*http.Cookie) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(s.cookies, c.Name)
		} else {
			s.cookies[c.Name] = c.Value
		}
	}
}

// Cookies returns a copy of the session's cookies.
func (s *Session) Cookies() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.cookies))
	for k, v := range s.cookies {
		out[k] = v
	}
	return out
}

// SessionKey is the session key every instance is started with
// (-session-keys), so that each opens the others' sessions, and the tests
// can open them too (Open).
const SessionKey = "bXVsdGl0ZXN0LXNlc3Npb24ta2V5LTMyLWJ5dGVzISE="

// codec opens the sessions the instances seal (insecure cookies).
var codec = func() cookies.Codec {
	keys, err := cookies.ParseKeys(SessionKey)
	if err != nil {
		panic(err)
	}
	return cookies.Codec{Keys: keys, Insecure: true}
}()

// Open returns the session a jar of cookies holds, or nil when it holds
// none that opens.
func Open(jar map[string]string) *cookies.Session {
	var cs []*http.Cookie
	for k, v := range jar {
		cs = append(cs, &http.Cookie{Name: k, Value: v})
	}
	s, _ := codec.Open(cs)
	return s
}

// Tokens returns the session's tokens (zero when it has none).
func (s *Session) Tokens() authclient.Tokens {
	if sess := Open(s.Cookies()); sess != nil {
		return sess.Tokens()
	}
	return authclient.Tokens{}
}

// LoggedIn reports whether the session still has its session cookies: a
// session that lost them sends its user to the login page.
func (s *Session) LoggedIn() bool { return Open(s.Cookies()) != nil }

// Expires returns the access token's expiry from the accessExpires cookie.
func (s *Session) Expires() time.Time {
	exp, _, _ := cookies.ParseExpires(s.Cookies()[cookies.ExpiresCookie])
	return exp
}
