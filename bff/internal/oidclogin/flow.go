package oidclogin

import (
	"cmp"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// flow is one login in progress, kept in the browser between GET
// /auth/login and GET /auth/callback: the state and nonce to check, the
// PKCE verifier to redeem the code with, and where to go afterwards.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"next"`
	Expires  int64  `json:"exp"` // Unix seconds
}

// flowTTL bounds how long a login may take at the provider.
const flowTTL = 10 * time.Minute

// maxFlows bounds the logins in progress in one browser: each has its own
// flow cookie, and a login that would make one more drops the oldest.
// (Logins started at the same instant each see the same cookies, so a
// browser may briefly hold a few more; the next login trims them.)
const maxFlows = 5

// flowPrefix starts the name of every flow cookie, after the __Host-
// prefix in secure mode.
const flowPrefix = "fwr-oidc-flow-"

// flowName returns the name of the flow cookie of the login whose state is
// state: prefix, then 16 characters of the state's SHA-256, so that
// concurrent logins (two tabs, a double click) each keep their own cookie
// and the callback finds its own by the state it receives.
func flowName(prefix, state string) string {
	sum := sha256.Sum256([]byte(state))
	return prefix + base64.RawURLEncoding.EncodeToString(sum[:12])
}

// sealedFlow is a flow cookie the request carried, opened.
type sealedFlow struct {
	name string
	flow flow
	ok   bool // false: forged, altered or expired
}

// flowCookies returns the flow cookies of r whose names start with prefix,
// opened with s at now.
func (s *sealer) flowCookies(r *http.Request, prefix string, now time.Time) []sealedFlow {
	var out []sealedFlow
	for _, c := range r.Cookies() {
		if !strings.HasPrefix(c.Name, prefix) || slices.ContainsFunc(out, func(f sealedFlow) bool { return f.name == c.Name }) {
			continue
		}
		f, err := s.open(c.Name, c.Value, now)
		out = append(out, sealedFlow{name: c.Name, flow: f, ok: err == nil})
	}
	return out
}

// stale returns the names of the flow cookies to delete before one more
// login starts: those that do not open, and the oldest of the others
// beyond maxFlows-1.
func stale(flows []sealedFlow) []string {
	var names []string
	valid := flows[:0:0]
	for _, f := range flows {
		if f.ok {
			valid = append(valid, f)
		} else {
			names = append(names, f.name)
		}
	}
	slices.SortStableFunc(valid, func(a, b sealedFlow) int { return cmp.Compare(a.flow.Expires, b.flow.Expires) })
	for len(valid) > maxFlows-1 {
		names = append(names, valid[0].name)
		valid = valid[1:]
	}
	return names
}

// errBadFlow is any flow cookie that is missing, forged, altered or expired.
var errBadFlow = errors.New("oidclogin: no valid login in progress (missing, altered or expired flow cookie)")

// sealer seals flows with AES-256-GCM: the cookie is unreadable and any
// change to it is detected.
type sealer struct{ aead cipher.AEAD }

// newSealer derives the key from secret with HKDF-SHA256, so that every
// instance sharing the client secret opens the others' cookies (a login
// may start on one and end on another); without a secret (a public
// client) the key is random and flows are bound to this process.
func newSealer(secret string) (*sealer, error) {
	key := make([]byte, 32)
	if secret == "" {
		_, _ = rand.Read(key) // never fails (crypto/rand documents it)
	} else {
		var err error
		if key, err = hkdf.Key(sha256.New, []byte(secret), nil, "fetch-with-refresh oidc flow cookie", 32); err != nil {
			return nil, err
		}
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead}, nil
}

// seal returns f as a cookie value; name is authenticated with it, so a
// value cannot move between cookies.
func (s *sealer) seal(name string, f flow) string {
	plain, _ := json.Marshal(f) // a struct of strings and an int always encodes
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name)))
}

// open returns the flow of a cookie value sealed under name, if it is
// authentic and has not expired at now.
func (s *sealer) open(name, value string, now time.Time) (flow, error) {
	data, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(data) < s.aead.NonceSize() {
		return flow{}, errBadFlow
	}
	plain, err := s.aead.Open(nil, data[:s.aead.NonceSize()], data[s.aead.NonceSize():], []byte(name))
	if err != nil {
		return flow{}, errBadFlow
	}
	var f flow
	if err := json.Unmarshal(plain, &f); err != nil || now.Unix() >= f.Expires || f.State == "" {
		return flow{}, errBadFlow
	}
	return f, nil
}

// flowCookie is the cookie that carries a flow: HttpOnly, SameSite=Lax
// (the callback is a top-level navigation from the provider's site, which
// Strict would leave without it), short-lived.
func flowCookie(name, value string, maxAge int, insecure bool) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: !insecure, SameSite: http.SameSiteLaxMode,
	}
}

// random returns n random bytes, base64url-encoded.
func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
