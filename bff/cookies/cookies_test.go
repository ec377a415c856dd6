package cookies

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetNamesCookiesByMode(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cookies Codec
		want    []string
		secure  bool
	}{
		{"secure", Codec{}, []string{"__Host-accessToken", "__Host-refreshToken", "__Host-accessExpires"}, true},
		{"insecure", Codec{Insecure: true}, []string{"accessToken", "refreshToken", "accessExpires"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tt.cookies.Set(w, authclient.Tokens{AccessToken: "a", RefreshToken: "r", Expires: time.UnixMilli(42)})
			got := w.Result().Cookies()
			require.Len(t, got, 3)
			for i, c := range got {
				assert.Equal(t, tt.want[i], c.Name)
				assert.Equal(t, "/", c.Path, "__Host- needs Path=/")
				assert.Empty(t, c.Domain, "__Host- forbids Domain")
				assert.Equal(t, tt.secure, c.Secure)
			}
			w = httptest.NewRecorder()
			tt.cookies.Clear(w)
			for i, c := range w.Result().Cookies() {
				assert.Equal(t, tt.want[i], c.Name)
				assert.Equal(t, -1, c.MaxAge)
			}
		})
	}
}

// Guard maps the wire names to the plain ones that Read takes, and refuses
// a session cookie sent twice (a sibling subdomain planted one).
func TestGuard(t *testing.T) {
	for _, tt := range []struct {
		name     string
		insecure bool
		cookie   []string // Cookie header lines
		status   int
		access   string // what Read(AccessCookie) gives next
		refresh  string
		other    string // Read("theme")
	}{
		{name: "secure: prefixed cookies read by plain name", cookie: []string{"__Host-accessToken=a; __Host-refreshToken=r; theme=dark"}, status: 200, access: "a", refresh: "r", other: "dark"},
		{name: "secure: a planted plain cookie is ignored", cookie: []string{"accessToken=planted; __Host-accessToken=a"}, status: 200, access: "a"},
		{name: "secure: a planted plain cookie alone is no session", cookie: []string{"refreshToken=planted"}, status: 200},
		{name: "secure: prefixed twice", cookie: []string{"__Host-refreshToken=x; __Host-refreshToken=y"}, status: 400},
		{name: "secure: twice over two lines", cookie: []string{"__Host-accessToken=x", "__Host-accessToken=y"}, status: 400},
		{name: "insecure: plain cookies", insecure: true, cookie: []string{"accessToken=a; refreshToken=r"}, status: 200, access: "a", refresh: "r"},
		{name: "insecure: plain twice", insecure: true, cookie: []string{"refreshToken=planted; refreshToken=r"}, status: 400},
		{name: "insecure: a prefixed cookie is not a session cookie", insecure: true, cookie: []string{"__Host-accessToken=a"}, status: 200},
		{name: "other cookies twice are not ours to judge", cookie: []string{"theme=a; theme=b"}, status: 200},
		{name: "no cookies", status: 200},
		{name: "junk", cookie: []string{";;=;__Host-accessToken"}, status: 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var access, refresh, other string
			reached := false
			h := Codec{Insecure: tt.insecure}.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached = true
				access, refresh, other = Read(r, AccessCookie), Read(r, RefreshCookie), Read(r, "theme")
			}))
			r := httptest.NewRequest("GET", "/", nil)
			for _, line := range tt.cookie {
				r.Header.Add("Cookie", line)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tt.status, w.Code, w.Body.String())
			if tt.status != 200 {
				assert.False(t, reached)
				assert.Contains(t, w.Body.String(), `"duplicate_cookie"`)
				return
			}
			assert.Equal(t, tt.access, access)
			assert.Equal(t, tt.refresh, refresh)
			assert.Equal(t, tt.other, other)
		})
	}
}

func TestReadRefusesDuplicates(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "refreshToken=a; refreshToken=b")
	assert.Empty(t, Read(r, RefreshCookie), "never the first of two")
}

func FuzzGuard(f *testing.F) {
	for _, s := range []string{"__Host-accessToken=a", "accessToken=a; accessToken=b", "=;;", "__Host-=x", "__Host-accessToken"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, header string, insecure bool) {
		c := Codec{Insecure: insecure}
		h := c.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, n := range names {
				if len(r.CookiesNamed(n)) > 1 {
					t.Errorf("%s passed twice", n)
				}
				if !insecure && len(r.CookiesNamed(HostPrefix+n)) > 0 {
					t.Errorf("%s passed with its prefix", n)
				}
			}
		}))
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", header)
		h.ServeHTTP(httptest.NewRecorder(), r)
	})
}

func TestParseExpires(t *testing.T) {
	exp := time.UnixMilli(1764316800000)
	tests := []struct {
		value        string
		wantOK       bool
		wantLifetime time.Duration
	}{
		{"1764316800000.60000", true, time.Minute},
		{"1764316800000", true, 0}, // set by a server before the lifetime was added
		{"1764316800000.", true, 0},
		{"1764316800000.x", true, 0},
		{"", false, 0},
		{"soon", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, lifetime, ok := ParseExpires(tt.value)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantLifetime, lifetime)
			if ok {
				assert.True(t, exp.Equal(got))
			}
		})
	}
	assert.Equal(t, "1764316800000.60000", FormatExpires(exp, time.Minute))
}

func TestSetStatesTheLifetime(t *testing.T) {
	w := httptest.NewRecorder()
	Codec{}.Set(w, authclient.Tokens{AccessToken: "a", RefreshToken: "r", Expires: time.Now().Add(time.Hour)})
	res := w.Result()
	var value string
	for _, c := range res.Cookies() {
		if c.Name == (Codec{}).Name(ExpiresCookie) {
			value = c.Value
		}
	}
	_, lifetime, ok := ParseExpires(value)
	assert.True(t, ok)
	assert.InDelta(t, time.Hour.Milliseconds(), lifetime.Milliseconds(), 1000)
	assert.NotEmpty(t, res.Header.Get(LifetimeHeader))
}
