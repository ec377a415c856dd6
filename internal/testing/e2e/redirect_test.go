//go:build e2e

package e2e

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Finding 1, in the browser that would follow it: after a login the demo
// goes back to `next` only when the browser resolves it on this origin.
// Each variant is tried as the server's /login?next= (which drops it) and
// straight in the page's ?next= (the demo's own check).
func TestLoginNextStaysOnTheOrigin(t *testing.T) {
	for _, tt := range []struct {
		name, next string
		wantPath   string // where the browser ends up on this origin
	}{
		{"a path of the site", "/departments", "/departments"},
		{"slash backslash", "/\\evil.example/x", "/"},
		{"a tab between the slashes", "/\t/evil.example", "/"},
		{"a newline between the slashes", "/\n/evil.example", "/"},
		{"protocol-relative", "//evil.example/", "/"},
		{"absolute", "https://evil.example/", "/"},
		{"a script", "javascript:document.title='pwned'", "/"},
		{"a dot segment before the slashes", "/.//evil.example", "/"}, // security round 3, finding 2
		{"two dots before three slashes", "/..///evil.example", "/"},
		{"an encoded dot", "/%2e//evil.example", "/"},
		{"an encoded slash", "/%2F/evil.example", "/"},
	} {
		for _, entry := range []string{"/login?next=", "/?next="} {
			t.Run(tt.name+" via "+entry, func(t *testing.T) {
				ctx := browsertest.NewTab(t, browser)
				_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
				require.NoError(t, err)
				require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(server.URL+entry+url.QueryEscape(tt.next))))
				browsertest.WaitFor(t, ctx, "the login form", `document.body.dataset.ready === "true" && !document.getElementById("login").hidden`)
				require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#login-form button"))))
				if tt.wantPath == "/" {
					browsertest.WaitFor(t, ctx, "the dashboard", `!document.getElementById("app").hidden`)
				} else {
					require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#departments li"))), "the page named by next, rendered with the session")
				}
				var loc struct{ Origin, Path, Title string }
				got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({origin: location.origin, path: location.pathname, title: document.title})`))
				require.NoError(t, err)
				require.NoError(t, json.Unmarshal([]byte(got), &loc))
				assert.Equal(t, server.URL, loc.Origin, "the browser stayed on the site")
				assert.Equal(t, tt.wantPath, loc.Path)
				assert.NotEqual(t, "pwned", loc.Title, "no script ran from next")
			})
		}
	}
}
