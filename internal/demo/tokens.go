package demo

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// Errors of the token store. The HTTP layer answers all of them with 401
// invalid_grant; tests tell them apart.
var (
	ErrUnknownToken = errors.New("upstream: unknown token")
	ErrExpiredToken = errors.New("upstream: expired token")
	ErrRevoked      = errors.New("upstream: session revoked")
	ErrReused       = errors.New("upstream: refresh token reused; session revoked")
)

// family is one login session: every token rotated from one login.
type family struct {
	user    string
	revoked bool
}

type accessToken struct {
	fam     *family
	expires time.Time
}

type refreshToken struct {
	fam       *family
	expires   time.Time
	rotatedAt time.Time              // zero while the token is current
	successor *authclient.JSONAnswer // what its rotation handed out, for the grace window
}

// store holds the demo's tokens in memory. It rotates refresh tokens on
// every use and treats a second use as theft (RFC 9700 §4.14.2): the whole
// family is revoked, unless the second use falls within the grace window,
// which hands out the same successor pair again.
type store struct {
	accessTTL, refreshTTL, grace time.Duration
	noRotate                     bool // refresh hands the same refresh token back
	accessBytes, refreshBytes    int  // the tokens' sizes (0: 43 bytes)
	now                          func() time.Time

	mu      sync.Mutex // protects the maps and the families in them
	access  map[string]*accessToken
	refresh map[string]*refreshToken
	sweepAt int // sweep expired tokens when the maps hold this many
	stats   Stats
}

// Stats counts what the store did, for tests and the demo page.
type Stats struct {
	Logins    int `json:"logins"`
	Refreshes int `json:"refreshes"` // successful rotations
	Graces    int `json:"graces"`    // reuses answered within the grace window
	Reuses    int `json:"reuses"`    // reuses detected: a family revoked
	Rejected  int `json:"rejected"`  // refreshes refused for any reason
	Logouts   int `json:"logouts"`   // families revoked by POST /auth/logout
}

func newStore(accessTTL, refreshTTL, grace time.Duration, now func() time.Time) *store {
	return &store{
		accessTTL: accessTTL, refreshTTL: refreshTTL, grace: grace, now: now,
		access:  map[string]*accessToken{},
		refresh: map[string]*refreshToken{},
	}
}

// login starts a family for user.
func (s *store) login(user string) authclient.JSONAnswer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Logins++
	return s.issue(&family{user: user})
}

// rotate exchanges a refresh token for a new pair.
func (s *store) rotate(token string) (authclient.JSONAnswer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[token]
	now := s.now()
	switch {
	case !ok:
		s.stats.Rejected++
		return authclient.JSONAnswer{}, ErrUnknownToken
	case rt.fam.revoked:
		s.stats.Rejected++
		return authclient.JSONAnswer{}, ErrRevoked
	case !now.Before(rt.expires):
		s.stats.Rejected++
		return authclient.JSONAnswer{}, ErrExpiredToken
	case !rt.rotatedAt.IsZero() && now.Sub(rt.rotatedAt) < s.grace:
		s.stats.Graces++
		return *rt.successor, nil
	case !rt.rotatedAt.IsZero():
		rt.fam.revoked = true
		s.stats.Reuses++
		s.stats.Rejected++
		return authclient.JSONAnswer{}, ErrReused
	}
	s.stats.Refreshes++
	if s.noRotate {
		t := s.issue(rt.fam)
		delete(s.refresh, t.RefreshToken)
		t.RefreshToken = token
		return t, nil
	}
	t := s.issue(rt.fam)
	rt.rotatedAt, rt.successor = now, &t
	return t, nil
}

// user returns the user of a valid access token.
func (s *store) user(token string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.access[token]
	switch {
	case !ok:
		return "", ErrUnknownToken
	case at.fam.revoked:
		return "", ErrRevoked
	case !s.now().Before(at.expires):
		return "", ErrExpiredToken
	}
	return at.fam.user, nil
}

// expireAccess makes every access token of token's family expired now.
func (s *store) expireAccess(token string) error {
	return s.withFamily(token, func(f *family) {
		now := s.now()
		for _, at := range s.access {
			if at.fam == f {
				at.expires = now
			}
		}
	})
}

// revoke revokes token's family, as a detected theft would.
func (s *store) revoke(token string) error {
	return s.withFamily(token, func(f *family) { f.revoked = true })
}

// logout revokes the family of a refresh token, spent or not; an unknown
// token does nothing.
func (s *store) logout(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt, ok := s.refresh[token]; ok {
		rt.fam.revoked = true
		s.stats.Logouts++
	}
}

// withFamily runs fn on the family of an access token, expired or not.
func (s *store) withFamily(token string, fn func(*family)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.access[token]
	if !ok {
		return ErrUnknownToken
	}
	fn(at.fam)
	return nil
}

// snapshot returns a copy of the counters.
func (s *store) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// issue makes a new pair in family f. Called with s.mu held.
func (s *store) issue(f *family) authclient.JSONAnswer {
	now := s.now()
	if len(s.access)+len(s.refresh) >= s.sweepAt {
		s.sweep(now)
	}
	t := authclient.JSONAnswer{AccessToken: randomToken(s.accessBytes), RefreshToken: randomToken(s.refreshBytes), ExpiresIn: int64(s.accessTTL / time.Second)}
	s.access[t.AccessToken] = &accessToken{fam: f, expires: now.Add(s.accessTTL)}
	s.refresh[t.RefreshToken] = &refreshToken{fam: f, expires: now.Add(s.refreshTTL)}
	return t
}

// randomToken returns 256 random bits, base64url-encoded (an opaque
// token), padded with random base64url to size bytes when size is larger.
func randomToken(size int) string {
	b := make([]byte, max(32, size*3/4+1))
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	t := base64.RawURLEncoding.EncodeToString(b)
	if size > 43 {
		t = t[:size]
	}
	return t
}

// sweep drops expired tokens, so that memory stays bounded by the live
// sessions; it runs when the maps have doubled since the last sweep, which
// keeps its cost constant per token. Called with s.mu held.
func (s *store) sweep(now time.Time) {
	for k, at := range s.access {
		if !now.Before(at.expires.Add(s.accessTTL)) { // kept one TTL longer: "expired" beats "unknown"
			delete(s.access, k)
		}
	}
	for k, rt := range s.refresh {
		if !now.Before(rt.expires) {
			delete(s.refresh, k)
		}
	}
	s.sweepAt = 2*(len(s.access)+len(s.refresh)) + 1024
}
