package cookies

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/reply"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// The reading side: Guard opens each request's session once, From hands
// it to the handlers.

// state is what Guard learned of a request's session cookies.
type state struct {
	session *Session // nil: none
	legacy  bool     // it carried legacy cookies (until Guard upgraded them)
	bad     bool     // it carried chunks that did not open
}

type stateKey struct{}

func stateOf(r *http.Request) *state {
	if r == nil {
		return nil
	}
	st, _ := r.Context().Value(stateKey{}).(*state)
	return st
}

// From returns the session of a request behind Guard, or nil when it has
// none.
func From(r *http.Request) *Session {
	if st := stateOf(r); st != nil {
		return st.session
	}
	return nil
}

// With returns a copy of r (behind Guard) whose session is s: a handler
// that renewed the session hands the next one the new tokens.
func With(r *http.Request, s *Session) *http.Request {
	st := state{session: s}
	if old := stateOf(r); old != nil {
		st.legacy = old.legacy
	}
	return r.WithContext(context.WithValue(r.Context(), stateKey{}, &st))
}

// Guard opens the request's session once (Read) and hands next the request
// with it (From). A request that carries a session cookie twice is refused
// with 400 JSON. A session in the legacy cookies is sealed at once: the
// answer carries the new cookies and deletes the old ones.
func (c Codec) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := c.read(r)
		if errors.Is(err, ErrDuplicate) {
			reply.Error(w, http.StatusBadRequest, "duplicate_cookie", err.Error()+": clear this site's cookies")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		if st.legacy && st.session != nil {
			if err := c.Set(w, r, *st.session); err == nil {
				st.legacy = false
				st.session.NotAfter = time.Now().Add(c.refreshMaxAge()) // as Set sealed it
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Open opens the session that a browser holding jar would present (the
// cookies of a jar, or those an answer set: deletions are skipped), as Read
// does: for tests and tools that hold cookies rather than a request.
func (c Codec) Open(jar []*http.Cookie) (*Session, error) {
	kept := map[string]string{} // by name, as a browser keeps them: the last one wins, a deletion removes
	var order []string
	for _, ck := range jar {
		if _, ok := kept[ck.Name]; !ok {
			order = append(order, ck.Name)
		}
		kept[ck.Name] = ck.Value
		if ck.MaxAge < 0 {
			kept[ck.Name] = ""
		}
	}
	r := &http.Request{Header: http.Header{}}
	for _, name := range order {
		if v := kept[name]; v != "" {
			r.AddCookie(&http.Cookie{Name: name, Value: v})
		}
	}
	return c.Read(r)
}

// Seal returns the cookies of s that a browser keeps after Set (not the
// deletions), to send back: for tests and tools that need a session
// without a login.
func (c Codec) Seal(s Session) ([]*http.Cookie, error) {
	h := headers{}
	if err := c.Set(h, nil, s); err != nil {
		return nil, err
	}
	var jar []*http.Cookie
	for _, line := range http.Header(h).Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(line); err == nil && ck.MaxAge >= 0 {
			jar = append(jar, &http.Cookie{Name: ck.Name, Value: ck.Value})
		}
	}
	return jar, nil
}

// headers is a ResponseWriter that keeps only its headers (Seal's).
type headers http.Header

func (h headers) Header() http.Header       { return http.Header(h) }
func (headers) Write(p []byte) (int, error) { return len(p), nil }
func (headers) WriteHeader(int)             {}

// Read opens the session of r's cookies: ErrNoSession when it carries
// none, ErrBadSession when they do not open, ErrDuplicate when a session
// cookie came twice.
func (c Codec) Read(r *http.Request) (*Session, error) {
	st, err := c.read(r)
	if err != nil {
		return nil, err
	}
	switch {
	case st.bad:
		return nil, ErrBadSession
	case st.session == nil:
		return nil, ErrNoSession
	}
	return st.session, nil
}

// read collects the session cookies of r by their names on the wire and
// opens them. Only ErrDuplicate is an error; a session that does not open
// is a state without one.
func (c Codec) read(r *http.Request) (*state, error) {
	var chunks [MaxChunks]string
	var legacyAccess, legacyRefresh, expires, binding string
	st := &state{}
	n := 0 // chunks: one past the highest index seen
	seen := map[string]bool{}
	for _, line := range r.Header["Cookie"] {
		// Not r.Cookies(): it checks every byte of every value, 12 KB of
		// them here on every call. The session's values are checked by
		// base64 and the AEAD; the others are only compared.
		for part := range strings.SplitSeq(line, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
			plain, ok := c.plainName(name)
			if !ok || value == "" { // an empty value is a deleted cookie sent back by a client that kept it
				continue
			}
			if seen[plain] {
				return st, fmt.Errorf("%w: %s", ErrDuplicate, name)
			}
			seen[plain] = true
			value = strings.Trim(value, `"`)
			switch plain {
			case ExpiresCookie:
				expires = value
			case BindCookie:
				binding = value
			case LegacyAccessCookie:
				legacyAccess, st.legacy = value, true
			case LegacyRefreshCookie:
				legacyRefresh, st.legacy = value, true
			default:
				i, _ := strconv.Atoi(strings.TrimPrefix(plain, SessionCookie+"."))
				chunks[i] = value
				n = max(n, i+1)
			}
		}
	}
	if n > 0 {
		st.session = c.open(chunks[:n])
		st.bad = st.session == nil
		if s := st.session; s != nil && subtle.ConstantTimeCompare([]byte(s.Binding), []byte(binding)) != 1 {
			s.Binding = "" // a copy without this browser's binding: never absorbed
		}
		return st, nil
	}
	if legacyRefresh != "" { // the previous format: accepted once, unbound
		s := c.NewSession(authclient.Tokens{AccessToken: legacyAccess, RefreshToken: legacyRefresh}, "")
		s.Expires, s.Lifetime, _ = ParseExpires(expires)
		s.Binding = ""
		st.session = &s
	}
	return st, nil
}

// plainName returns the plain name of a session cookie's name on the wire,
// and false for any other cookie (in secure mode, a session cookie's plain
// name: a sibling domain may set those).
func (c Codec) plainName(wire string) (string, bool) {
	plain := wire
	if !c.Insecure {
		var ok bool
		if plain, ok = strings.CutPrefix(wire, HTTPOnlyPrefix); ok {
			return plain, isChunk(plain) || plain == BindCookie
		}
		if plain, ok = strings.CutPrefix(wire, HostPrefix); !ok {
			return "", false
		}
	}
	switch plain {
	case ExpiresCookie, LegacyAccessCookie, LegacyRefreshCookie:
		return plain, true
	}
	return plain, c.Insecure && (isChunk(plain) || plain == BindCookie)
}

// isChunk reports whether plain names a chunk this codec reads: its index
// written as chunkName writes it (no sign, no leading zero), so that two
// names never stand for one chunk.
func isChunk(plain string) bool {
	n, ok := strings.CutPrefix(plain, SessionCookie+".")
	if !ok {
		return false
	}
	i, err := strconv.Atoi(n)
	return err == nil && i >= 0 && i < MaxChunks && strconv.Itoa(i) == n
}

// open reassembles and opens the chunks; nil when they do not open, are
// incomplete, or hold a session past its NotAfter.
func (c Codec) open(chunks []string) *Session {
	size := 0
	for i, part := range chunks {
		if part == "" || len(part) > ChunkSize || i < len(chunks)-1 && len(part) != ChunkSize {
			return nil // a chunk is missing, cut short, or longer than any we set
		}
		size += base64.RawURLEncoding.DecodedLen(len(part))
	}
	// ChunkSize is a multiple of 4: each chunk decodes on its own.
	sealed := make([]byte, size)
	at := 0
	for _, part := range chunks {
		n, err := base64.RawURLEncoding.Decode(sealed[at:], []byte(part))
		if err != nil {
			return nil
		}
		at += n
	}
	plain, err := c.keys().open(sealed[:at])
	if err != nil {
		return nil
	}
	s, err := decode(plain)
	if err != nil || !s.NotAfter.IsZero() && !time.Now().Before(s.NotAfter) {
		return nil
	}
	return &s
}
