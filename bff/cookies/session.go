package cookies

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// Session is what the sealed session cookie holds: the upstream's tokens
// and what the BFF needs to know of the session later. Only the server
// can read it.
type Session struct {
	// AccessToken and RefreshToken are the upstream's tokens.
	AccessToken, RefreshToken string
	// Expires is when AccessToken expires; Lifetime how long it lived
	// from its issue (zero if unknown).
	Expires  time.Time
	Lifetime time.Duration
	// ID identifies the session: the ID token's sid in OpenID Connect
	// mode, else random per login. Refreshes keep it.
	ID string
	// Subject is the user's identifier at the auth server ("sub"), if it
	// said.
	Subject string
	// Started is when the login happened. Refreshes keep it.
	Started time.Time
	// NotAfter is when the session cookie expires: Set makes it now plus
	// the cookie's Max-Age, and a session past it does not open (a copied
	// cookie jar ignores Max-Age).
	NotAfter time.Time
	// User holds the claims about the user that Codec.Claims names, as a
	// JSON object (nil: none); never a token.
	User json.RawMessage
	// DeviceKey is the public key a device-bound session is bound to (nil:
	// unbound).
	DeviceKey []byte
	// Binding is a random value of this session that the browser also
	// holds in a cookie of its own (BindCookie): the session opens with
	// it only when the request carried that cookie, else with Binding
	// empty. Refreshes absorb one another only under a binding
	// (absorb.Presented), so a copy of the session cookies taken without
	// it, or a session upgraded from the legacy cookies, refreshes
	// upstream. Refreshes keep it; a refresh of a session without one
	// draws a new one.
	Binding string
	// Predecessor is the absorption key (absorb.Presented.Key) of the
	// refresh that made this session, for a logout to forget ("": none).
	Predecessor string
}

// Tokens returns the session's token pair.
func (s *Session) Tokens() authclient.Tokens {
	return authclient.Tokens{AccessToken: s.AccessToken, RefreshToken: s.RefreshToken, Expires: s.Expires}
}

// Presented returns what a refresh of s presents to the absorber.
func (s *Session) Presented() absorb.Presented {
	return absorb.Presented{RefreshToken: s.RefreshToken, AccessToken: s.AccessToken, Binding: s.Binding}
}

// renew returns s with the new pair t from a refresh: the same ID,
// subject, start, binding and user, unless t names a user of its own (of
// whose claims those named are kept). Its Predecessor is s's absorption
// key; a session without a binding gets one.
func (s Session) renew(t authclient.Tokens, claims []string) Session {
	s.Predecessor = ""
	if s.Binding != "" {
		s.Predecessor = s.Presented().Key()
	} else {
		s.Binding = random()
	}
	s.AccessToken, s.RefreshToken, s.Expires = t.AccessToken, t.RefreshToken, t.Expires
	s.Lifetime = max(time.Until(t.Expires), 0)
	if t.User != nil {
		s.User = pick(t.User, claims)
	}
	return s
}

// newSession returns the session that a login with the pair t opens: id
// is the provider's session id ("" for a random one), t.User the claims
// the login learned (Subject is its "sub"), of which those named are kept.
func newSession(t authclient.Tokens, id string, claims []string) Session {
	if id == "" {
		id = random()
	}
	s := Session{ID: id, Started: time.Now()} // renew draws its binding
	s.Subject, _ = t.User["sub"].(string)
	return s.renew(t, claims)
}

// random returns 128 random bits, base64url.
func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DefaultClaims are the claims a session keeps when Codec.Claims is nil.
var DefaultClaims = []string{"sub", "name", "email", "picture", "preferred_username"}

// pick returns the claims of all that names lists, as a JSON object; nil
// when none are there.
func pick(all map[string]any, names []string) json.RawMessage {
	if names == nil {
		names = DefaultClaims
	}
	kept := map[string]any{}
	for _, n := range names {
		if v, ok := all[n]; ok {
			kept[n] = v
		}
	}
	if len(kept) == 0 {
		return nil
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return nil
	}
	return b
}

// encodingVersion is the first byte of an encoded session.
const encodingVersion = 1

// encode writes s compactly: a version, then each field, strings with
// their lengths, times as Unix milliseconds.
func (s *Session) encode() []byte {
	fields := [...][]byte{[]byte(s.AccessToken), []byte(s.RefreshToken), []byte(s.ID), []byte(s.Subject), s.User, s.DeviceKey, []byte(s.Binding), []byte(s.Predecessor)}
	size := 64
	for _, f := range fields {
		size += len(f)
	}
	b := make([]byte, 0, size)
	b = append(b, encodingVersion)
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	for _, n := range [...]int64{millis(s.Expires), s.Lifetime.Milliseconds(), millis(s.Started), millis(s.NotAfter)} {
		b = binary.AppendVarint(b, n)
	}
	return b
}

// errEncoding is the error of a session that does not decode.
var errEncoding = errors.New("cookies: malformed session")

// decode reads what encode wrote.
func decode(b []byte) (Session, error) {
	if len(b) == 0 || b[0] != encodingVersion {
		return Session{}, errEncoding
	}
	b = b[1:]
	var fields [8][]byte
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return Session{}, errEncoding
		}
		fields[i], b = b[k:k+int(n)], b[k+int(n):]
	}
	var nums [4]int64
	for i := range nums {
		n, k := binary.Varint(b)
		if k <= 0 {
			return Session{}, errEncoding
		}
		nums[i], b = n, b[k:]
	}
	if len(b) != 0 {
		return Session{}, errEncoding
	}
	s := Session{
		AccessToken: string(fields[0]), RefreshToken: string(fields[1]), ID: string(fields[2]), Subject: string(fields[3]),
		Expires: fromMillis(nums[0]), Lifetime: time.Duration(nums[1]) * time.Millisecond,
		Started: fromMillis(nums[2]), NotAfter: fromMillis(nums[3]),
		Binding: string(fields[6]), Predecessor: string(fields[7]),
	}
	if len(fields[4]) > 0 {
		s.User = json.RawMessage(fields[4])
	}
	if len(fields[5]) > 0 {
		s.DeviceKey = fields[5]
	}
	return s, nil
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
