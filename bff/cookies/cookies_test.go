package cookies

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newKey returns a random key in the form ParseKeys reads.
func newKeyText(t testing.TB) string {
	t.Helper()
	b := make([]byte, KeySize)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func mustKeys(t testing.TB, list string) *Keys {
	t.Helper()
	k, err := ParseKeys(list)
	require.NoError(t, err)
	return k
}

// token returns a token of n bytes.
func token(n int, c byte) string { return strings.Repeat(string(c), n) }

// set seals s with c and returns the cookies the answer set.
func set(t testing.TB, c Codec, r *http.Request, s Session) []*http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	require.NoError(t, c.Set(w, r, s))
	return w.Result().Cookies()
}

// live returns the cookies a browser keeps of set (not the deletions).
func live(set []*http.Cookie) []*http.Cookie {
	var out []*http.Cookie
	for _, ck := range set {
		if ck.MaxAge >= 0 {
			out = append(out, &http.Cookie{Name: ck.Name, Value: ck.Value})
		}
	}
	return out
}

// request returns a request carrying jar.
func request(jar ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example/api/x", nil)
	for _, ck := range jar {
		r.AddCookie(ck)
	}
	return r
}

func pair(access, refresh int) authclient.Tokens {
	return authclient.Tokens{AccessToken: token(access, 'a'), RefreshToken: token(refresh, 'r'), Expires: time.Now().Add(time.Minute),
		User: map[string]any{"sub": "user-1", "name": "Ada", "email": "ada@example.com", "groups": []string{"not", "kept"}}}
}

// A session of any size up to MaxSealed goes out in as many cookies as it
// needs, each Set-Cookie well under 4,096 bytes, none holding a token,
// and comes back whole.
func TestRoundTripAnySize(t *testing.T) {
	for _, secure := range []bool{true, false} {
		c := Codec{Keys: mustKeys(t, newKeyText(t)), Insecure: !secure}
		tests := []struct {
			name            string
			access, refresh int
			chunks          int
		}{
			{"small", 40, 40, 1},
			{"3 KB", 3000, 40, 2},
			{"5 KB (Entra, Keycloak)", 5000, 40, 2},
			{"8 KB access, 2 KB refresh", 8 << 10, 2 << 10, 4},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := c.NewSession(pair(tt.access, tt.refresh), "")
				cs := set(t, c, nil, s)
				chunks := 0
				for _, ck := range cs {
					line := (&http.Cookie{Name: ck.Name, Value: ck.Value, Path: "/", MaxAge: ck.MaxAge, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}).String()
					assert.Less(t, len(line), 4000, "%s: a Set-Cookie a browser keeps", ck.Name)
					assert.NotContains(t, ck.Value, token(32, 'a'), "no access token in a cookie")
					assert.NotContains(t, ck.Value, token(32, 'r'), "no refresh token in a cookie")
					if strings.Contains(ck.Name, SessionCookie) && ck.MaxAge > 0 {
						chunks++
						assert.True(t, ck.HttpOnly)
						assert.Equal(t, secure, strings.HasPrefix(ck.Name, HTTPOnlyPrefix), ck.Name)
					}
				}
				assert.Equal(t, tt.chunks, chunks)
				got, err := c.Read(request(live(cs)...))
				require.NoError(t, err)
				assert.Equal(t, s.AccessToken, got.AccessToken)
				assert.Equal(t, s.RefreshToken, got.RefreshToken)
				assert.Equal(t, s.ID, got.ID)
				assert.Equal(t, "user-1", got.Subject)
				assert.JSONEq(t, `{"sub":"user-1","name":"Ada","email":"ada@example.com"}`, string(got.User), "only the claims named")
				assert.Equal(t, s.Expires.UnixMilli(), got.Expires.UnixMilli())
			})
		}
	}
}

// A login whose tokens exceed the budget is a *TooLargeError naming the
// sizes, and nothing is set.
func TestTooLarge(t *testing.T) {
	c := Codec{}
	w := httptest.NewRecorder()
	err := c.Set(w, nil, c.NewSession(pair(15<<10, 2<<10), ""))
	require.ErrorIs(t, err, ErrTooLarge)
	var large *TooLargeError
	require.ErrorAs(t, err, &large)
	assert.Equal(t, 15<<10, large.AccessToken)
	assert.Equal(t, 2<<10, large.RefreshToken)
	assert.NotContains(t, err.Error(), token(16, 'a'), "sizes, never values")
	assert.Empty(t, w.Result().Cookies())
}

// Anything that does not open is no session: never an error the caller
// must tell apart, never a panic.
func TestWhatDoesNotOpen(t *testing.T) {
	oldKey, newKey := newKeyText(t), newKeyText(t)
	sealer := Codec{Keys: mustKeys(t, oldKey)}
	cs := live(set(t, sealer, nil, sealer.NewSession(pair(8<<10, 2<<10), "")))
	require.Len(t, cs, 6, "4 chunks, the binding and the expiry cookie")
	chunks, expiry := cs[:4], cs[5]
	flip := func(v string) string { b := []byte(v); b[len(b)/2] ^= 1; return string(b) }
	renamed := func(ck *http.Cookie, name string) *http.Cookie { return &http.Cookie{Name: name, Value: ck.Value} }
	tests := []struct {
		name   string
		reader Codec
		jar    []*http.Cookie
		want   error
	}{
		{"whole, same key", sealer, cs, nil},
		{"an old key still opens", Codec{Keys: mustKeys(t, newKey+","+oldKey)}, cs, nil},
		{"a removed key", Codec{Keys: mustKeys(t, newKey)}, cs, ErrBadSession},
		{"no session cookie", sealer, []*http.Cookie{expiry}, ErrNoSession},
		{"a chunk missing", sealer, []*http.Cookie{chunks[0], chunks[1], chunks[3], expiry}, ErrBadSession},
		{"the last chunk missing", sealer, chunks[:3], ErrBadSession},
		{"the first chunk missing", sealer, chunks[1:], ErrBadSession},
		{"truncated", sealer, []*http.Cookie{chunks[0], chunks[1], chunks[2], {Name: chunks[3].Name, Value: chunks[3].Value[:10]}}, ErrBadSession},
		{"reordered", sealer, []*http.Cookie{renamed(chunks[1], chunks[0].Name), renamed(chunks[0], chunks[1].Name), chunks[2], chunks[3]}, ErrBadSession},
		{"tampered", sealer, []*http.Cookie{chunks[0], {Name: chunks[1].Name, Value: flip(chunks[1].Value)}, chunks[2], chunks[3]}, ErrBadSession},
		{"an extra chunk", sealer, append(append([]*http.Cookie{}, chunks...), &http.Cookie{Name: HTTPOnlyPrefix + SessionCookie + ".4", Value: "stale"}), ErrBadSession},
		{"duplicated", sealer, append(append([]*http.Cookie{}, chunks...), chunks[2]), ErrDuplicate},
		{"not base64", sealer, []*http.Cookie{{Name: chunks[0].Name, Value: "!!!"}}, ErrBadSession},
		{"an unknown key id", sealer, []*http.Cookie{{Name: chunks[0].Name, Value: base64.RawURLEncoding.EncodeToString(append([]byte{sealVersion, 1, 2, 3, 4}, make([]byte, 40)...))}}, ErrBadSession},
		{"another version", sealer, []*http.Cookie{{Name: chunks[0].Name, Value: base64.RawURLEncoding.EncodeToString(make([]byte, 60))}}, ErrBadSession},
		{"a plain name in secure mode", sealer, []*http.Cookie{renamed(chunks[0], SessionCookie+".0")}, ErrNoSession},
		{"aliased chunk names are not chunks", sealer, append(append([]*http.Cookie{}, cs...),
			&http.Cookie{Name: HTTPOnlyPrefix + SessionCookie + ".+0", Value: "planted"},
			&http.Cookie{Name: HTTPOnlyPrefix + SessionCookie + ".-1", Value: "planted"},
			&http.Cookie{Name: HTTPOnlyPrefix + SessionCookie + ".00", Value: "planted"}), nil},
		{"a last chunk longer than any set", sealer, []*http.Cookie{chunks[0], chunks[1], chunks[2], {Name: chunks[3].Name, Value: chunks[3].Value + strings.Repeat("A", ChunkSize)}}, ErrBadSession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.reader.Read(request(tt.jar...))
			if tt.want == nil {
				require.NoError(t, err)
				assert.Equal(t, token(8<<10, 'a'), s.AccessToken)
				return
			}
			assert.ErrorIs(t, err, tt.want)
			assert.Nil(t, s)
		})
	}
}

// A session past its NotAfter does not open, whatever the cookie's
// Max-Age said (a copied jar ignores it).
func TestNotAfter(t *testing.T) {
	c := Codec{RefreshMaxAge: time.Second}
	cs := live(set(t, c, nil, c.NewSession(pair(10, 10), "")))
	_, err := c.Read(request(cs...))
	require.NoError(t, err)
	plain, err := c.keys().open(mustDecode(t, cs[0].Value))
	require.NoError(t, err)
	s, err := decode(plain)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Second), s.NotAfter, time.Second)
	s.NotAfter = time.Now().Add(-time.Millisecond)
	sealed := base64.RawURLEncoding.EncodeToString(c.keys().seal(s.encode()))
	_, err = c.Read(request(&http.Cookie{Name: cs[0].Name, Value: sealed}))
	assert.ErrorIs(t, err, ErrBadSession)
}

func mustDecode(t *testing.T, v string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(v)
	require.NoError(t, err)
	return b
}

// A smaller session deletes the chunks of the larger one it replaces.
func TestSetDeletesLeftoverChunks(t *testing.T) {
	c := Codec{}
	big := live(set(t, c, nil, c.NewSession(pair(8<<10, 10), "")))
	require.Len(t, big, 5, "3 chunks, the binding and the expiry cookie")
	var got *http.Request
	c.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r })).ServeHTTP(httptest.NewRecorder(), request(big...))
	require.NotNil(t, From(got))
	small := set(t, c, got, c.Renew(*From(got), pair(10, 10)))
	deleted := map[string]bool{}
	for _, ck := range small {
		if ck.MaxAge < 0 {
			deleted[ck.Name] = true
		}
	}
	want := map[string]bool{}
	for i := 1; i < MaxChunks; i++ {
		want[HTTPOnlyPrefix+SessionCookie+"."+strconv.Itoa(i)] = true
	}
	assert.Equal(t, want, deleted, "every chunk name past the new session's one: a browser may hold them from any answer")
}

// A browser that holds the previous format's cookies keeps its session:
// Guard hands the handler the session and answers with the sealed cookies,
// deleting the old ones.
func TestLegacyCookiesUpgraded(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		c := Codec{Insecure: insecure}
		exp := time.Now().Add(time.Minute).Truncate(time.Millisecond)
		r := request(
			&http.Cookie{Name: c.Name(LegacyAccessCookie), Value: "old-access"},
			&http.Cookie{Name: c.Name(LegacyRefreshCookie), Value: "old-refresh"},
			&http.Cookie{Name: c.Name(ExpiresCookie), Value: FormatExpires(exp, time.Minute)})
		w := httptest.NewRecorder()
		var s *Session
		c.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s = From(r) })).ServeHTTP(w, r)
		require.NotNil(t, s)
		assert.Equal(t, "old-access", s.AccessToken)
		assert.Equal(t, "old-refresh", s.RefreshToken)
		assert.Equal(t, exp, s.Expires)
		assert.Empty(t, s.Binding, "unbound: cookies anyone could make up are never absorbed")
		set := map[string]int{}
		for _, ck := range w.Result().Cookies() {
			set[ck.Name] = ck.MaxAge
		}
		assert.Negative(t, set[c.Name(LegacyAccessCookie)], "the old cookies are deleted")
		assert.Negative(t, set[c.Name(LegacyRefreshCookie)])
		assert.Positive(t, set[c.Name(SessionCookie+".0")], "the sealed session replaces them")
		again, err := c.Read(request(live(w.Result().Cookies())...))
		require.NoError(t, err)
		assert.Equal(t, "old-refresh", again.RefreshToken, "the new cookies hold the same session")
	}
}

// A session opens with its binding only beside its binding cookie; a
// refresh keeps the binding and records its predecessor's absorption key,
// and gives an unbound session a binding; Clear deletes the cookie.
func TestBinding(t *testing.T) {
	c := Codec{}
	login := c.NewSession(pair(10, 10), "")
	require.Len(t, login.Binding, 22, "128 random bits")
	assert.Empty(t, login.Predecessor)
	jar := live(set(t, c, nil, login))
	var bind, session []*http.Cookie
	for _, ck := range jar {
		if ck.Name == HTTPOnlyPrefix+BindCookie {
			bind = append(bind, ck)
		} else {
			session = append(session, ck)
		}
	}
	require.Len(t, bind, 1, "named "+HTTPOnlyPrefix+BindCookie)
	assert.Equal(t, login.Binding, bind[0].Value)
	tests := []struct {
		name string
		jar  []*http.Cookie
		want string
	}{
		{"with its binding cookie", jar, login.Binding},
		{"without it", session, ""},
		{"with another", append(append([]*http.Cookie{}, session...), &http.Cookie{Name: bind[0].Name, Value: c.NewSession(pair(1, 1), "").Binding}), ""},
		{"under a plain name", append(append([]*http.Cookie{}, session...), &http.Cookie{Name: BindCookie, Value: login.Binding}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := c.Read(request(tt.jar...))
			require.NoError(t, err, "the session opens either way")
			assert.Equal(t, tt.want, s.Binding)
		})
	}

	renewed := c.Renew(login, pair(11, 11))
	assert.Equal(t, login.Binding, renewed.Binding)
	assert.Equal(t, login.Presented().Key(), renewed.Predecessor)
	unbound := login
	unbound.Binding = ""
	fresh := c.Renew(unbound, pair(11, 11))
	assert.NotEmpty(t, fresh.Binding)
	assert.NotEqual(t, login.Binding, fresh.Binding)
	assert.Empty(t, fresh.Predecessor, "an unbound refresh was never absorbed")
	back, err := c.Read(request(live(set(t, c, nil, renewed))...))
	require.NoError(t, err)
	assert.Equal(t, renewed.Predecessor, back.Predecessor, "sealed with the session")

	w := httptest.NewRecorder()
	c.Clear(w)
	cleared := map[string]int{}
	for _, ck := range w.Result().Cookies() {
		cleared[ck.Name] = ck.MaxAge
	}
	assert.Negative(t, cleared[HTTPOnlyPrefix+BindCookie])
}

// Keys in every usual base64 form; errors name the key, never its value.
func TestParseKeys(t *testing.T) {
	raw := make([]byte, KeySize)
	_, _ = rand.Read(raw)
	for _, form := range []string{
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
	} {
		_, err := ParseKeys(form)
		assert.NoError(t, err, form)
	}
	for _, bad := range []string{"", "c2hvcnQ=", base64.StdEncoding.EncodeToString(raw) + ",", "not base64!", strings.Repeat("A", 45)} {
		_, err := ParseKeys(bad)
		assert.ErrorIs(t, err, ErrKeys, "%q", bad)
		if bad != "" {
			assert.NotContains(t, err.Error(), bad)
		}
	}
	k := base64.StdEncoding.EncodeToString(raw)
	_, err := ParseKeys(k + "," + k)
	assert.ErrorIs(t, err, ErrKeys, "a key listed twice")
}

// BenchmarkOpenSeal is what the sealed session costs a request: one open
// (every proxied call) and one seal (every refresh), of a 12 KB session
// (an 8 KB access token's) and of one of 43-byte opaque tokens.
func BenchmarkOpenSeal(b *testing.B) {
	for _, bb := range []struct {
		name            string
		access, refresh int
	}{{"12KB", 9 << 10, 2 << 10}, {"43B", 43, 43}} {
		b.Run(bb.name, func(b *testing.B) {
			c := Codec{}
			r := request(live(set(b, c, nil, c.NewSession(pair(bb.access, bb.refresh), "")))...)
			b.ReportAllocs()
			for b.Loop() {
				got, err := c.Read(r)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Set(headers{}, nil, *got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Two answers may cross (a refresh and a call refreshed ahead, a legacy
// upgrade and the handler's own session): whichever lands last, the
// browser holds one whole session, no chunk of the other.
func TestCrossingAnswersLeaveNoStaleChunk(t *testing.T) {
	c := Codec{}
	big := set(t, c, nil, c.NewSession(pair(12<<10, 10), ""))
	small := set(t, c, request(), c.NewSession(pair(10, 10), ""))
	jar := map[string]*http.Cookie{}
	for _, ck := range append(big, small...) { // big first, then small: as a browser applies them
		jar[ck.Name] = ck
	}
	var kept []*http.Cookie
	for _, ck := range jar {
		if ck.MaxAge >= 0 {
			kept = append(kept, ck)
		}
	}
	got, err := c.Read(request(kept...))
	require.NoError(t, err, "the small session alone, whole")
	assert.Len(t, got.AccessToken, 10)
}
