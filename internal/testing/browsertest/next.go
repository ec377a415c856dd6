package browsertest

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// OffSite lists values of a login's `next` that leave the site, each of
// which must land on the site's "/" instead (security round 3, findings
// 1 and 2): the same table natively and on the Worker.
var OffSite = []struct{ Name, Next string }{
	{"slash backslash", "/\\evil.example/x"},
	{"a tab between the slashes", "/\t/evil.example"},
	{"a newline between the slashes", "/\n/evil.example"},
	{"protocol-relative", "//evil.example/"},
	{"absolute", "https://evil.example/"},
	{"a script", "javascript:document.title='pwned'"},
	{"a dot segment before the slashes", "/.//evil.example"},
	{"two dots before three slashes", "/..///evil.example"},
	{"an encoded dot", "/%2e//evil.example"},
	{"an encoded slash", "/%2F/evil.example"},
}

// Landing is where a page was after a login: its origin, path and title.
type Landing struct{ Origin, Path, Title string }

// LoginWithNext opens base+entry+next (entry: "/login?next=" or
// "/?next="; next escaped) in a fresh tab without cookies, logs in with
// the demo page's form, waits until ready (a JavaScript expression: the
// page the login ends on, rendered), and returns where the page is.
func LoginWithNext(t *testing.T, browser context.Context, base, entry, next, ready string) Landing {
	t.Helper()
	ctx := NewTab(t, browser)
	_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+entry+url.QueryEscape(next))))
	WaitFor(t, ctx, "the login form", `document.body.dataset.ready === "true" && !document.getElementById("login").hidden`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#login-form button"))))
	WaitFor(t, ctx, "the page after the login", ready)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({origin: location.origin, path: location.pathname, title: document.title})`))
	require.NoError(t, err)
	var l Landing
	require.NoError(t, json.Unmarshal([]byte(got), &l))
	return l
}

// Dashboard is LoginWithNext's ready for the demo page's dashboard.
const Dashboard = `!!document.getElementById("app") && !document.getElementById("app").hidden`
