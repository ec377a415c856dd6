package proxy

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzTargetStaysUnderTheBase: whatever path CheckPath lets through, an
// upstream that percent-decodes it (as often as it likes, backslashes as
// slashes) and cleans it stays under the base path /v1.
func FuzzTargetStaysUnderTheBase(f *testing.F) {
	for _, s := range []string{
		"departments", "%2e%2e/internal.txt", "x%2F..%2F..%2Finternal.txt", "..%5cx", "%252e%252e/x",
		"a/../../b", "..;/x", "a%00b", "a\\..\\b", "%2", "%%32%65", "./x", "a;b/c", "%u002e%u002e/x",
	} {
		f.Add(s)
	}
	base, _ := url.Parse("http://upstream.test/v1")
	h := New(Config{Upstream: base, Transport: http.DefaultTransport}).(*handler)
	f.Fuzz(func(t *testing.T, p string) {
		u, err := url.Parse("http://bff.test/api/" + p)
		if err != nil || u.Host != "bff.test" || !strings.HasPrefix(u.Path, "/api/") || CheckPath(u) != nil {
			return
		}
		got := h.target(u).EscapedPath()
		decoded := got
		for range 4 {
			d, err := url.PathUnescape(decoded)
			if err != nil || d == decoded {
				break
			}
			decoded = d
		}
		clean := path.Clean("/" + strings.ReplaceAll(decoded, "\\", "/"))
		if clean != "/v1" && !strings.HasPrefix(clean, "/v1/") {
			t.Errorf("/api/%s -> %s, which a decoding upstream reads as %s", p, got, clean)
		}
	})
}
