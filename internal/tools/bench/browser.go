package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testserver"
)

// browser measures start-up, and per-call overhead and storms (calls), in
// Chromium.
func browser(root string, withStartup, calls bool) []row {
	b, stop, err := browsertest.Start()
	check(err)
	defer stop()
	srv := testserver.Start(testserver.Config{AccessTTL: time.Hour, Root: root})
	defer srv.Close()

	var rows []row
	if withStartup {
		rows = append(rows, startup(b, srv.URL)...)
		rows = append(rows, lazy(b, srv.URL)...)
	}
	if !calls {
		return rows
	}

	page := newPage(b, srv.URL, `{}`)
	page.eval("window.bench.login()")
	var o struct{ Ours, Plain []float64 }
	page.decode(fmt.Sprintf("window.bench.overhead(%d, 50)", iterations(10)), &o)
	ours, plain := median(o.Ours), median(o.Plain)
	rows = append(rows, row{"per-call time, 500 sequential GETs (Chromium)", ms(ours), ms(plain) + " (plain fetch)", ours / plain, "ratio ≤ 1.05", ours/plain <= 1.05})

	const n = 1000
	var valid, expired []float64
	maxRefreshes, okAll := 0, true
	for range iterations(3) {
		v, e := page.storm(n, false), page.storm(n, true)
		valid, expired = append(valid, v.Ms), append(expired, e.Ms)
		maxRefreshes = max(maxRefreshes, e.Refreshes)
		okAll = okAll && v.OK == n && e.OK == n
	}
	page.close()
	rows = append(rows, row{"storm of 1,000 calls, access token revoked server-side (every call gets a 401)",
		ms(median(expired)) + fmt.Sprintf(", %d refresh", maxRefreshes), ms(median(valid)) + " (valid token)",
		median(expired) / median(valid), "ratio ≤ 1.5, 1 refresh, all succeed", median(expired)/median(valid) <= 1.5 && maxRefreshes == 1 && okAll})

	// A natural expiry, which the module sees coming (X-Access-Expires):
	// the storm refreshes first, once, and no call is answered 401.
	const ttl = 10 * time.Second // the valid-token storm ends long before ttl - ahead
	short := testserver.Start(testserver.Config{AccessTTL: ttl, Root: root})
	defer short.Close()
	page = newPage(b, short.URL, `{"refreshAheadMs":2000}`)
	valid, expired = nil, nil
	maxRefreshes, unauthorized, okAll := 0, 0, true
	for range iterations(3) {
		page.eval("window.bench.login()")
		loggedIn := time.Now()
		v := page.storm(n, false)
		time.Sleep(time.Until(loggedIn.Add(ttl + 200*time.Millisecond)))
		e := page.storm(n, false)
		valid, expired = append(valid, v.Ms), append(expired, e.Ms)
		maxRefreshes, unauthorized = max(maxRefreshes, e.Refreshes), unauthorized+e.Unauthorized
		okAll = okAll && v.OK == n && e.OK == n
		if v.OK != n || e.OK != n {
			fmt.Fprintf(os.Stderr, "bench: storm after expiry: %d and %d of %d succeeded\n", v.OK, e.OK, n)
		}
	}
	page.close()
	r := median(expired) / median(valid)
	rows = append(rows, row{"storm of 1,000 calls right after expiry (refresh ahead)",
		ms(median(expired)) + fmt.Sprintf(", %d refresh, %d 401s", maxRefreshes, unauthorized), ms(median(valid)) + " (valid token)",
		r, "ratio ≤ 1.1, 1 refresh", r <= 1.1 && maxRefreshes == 1 && okAll})
	return rows
}

// page is one Chromium tab.
type page struct {
	ctx   context.Context
	close func()
}

func open(b context.Context, u string, noCache bool) page {
	ctx, cancel := chromedp.NewContext(b)
	tctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	p := page{tctx, func() { cancelT(); cancel() }}
	if noCache {
		_, err := chromedp.Call(tctx, network.Enable, network.EnableParams{})
		check(err)
		_, err = chromedp.Call(tctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
		check(err)
	}
	check(chromedp.Do(tctx, chromedp.Navigate(u)))
	return p
}

// newPage opens bench.html with load() options and waits for the module.
func newPage(b context.Context, base, options string) page {
	p := open(b, base+"/testdata/e2e/bench.html?options="+url.QueryEscape(options), false)
	p.eval(`(async () => { while (!window.benchReady) await new Promise((r) => setTimeout(r, 5)); await window.benchReady; })()`)
	return p
}

func (p page) eval(expr string) {
	_, err := chromedp.Run(p.ctx, chromedp.Evaluate[any]("(async () => { await ("+expr+"); return null; })()", chromedp.EvalAwaitPromise))
	check(err)
}

func (p page) decode(expr string, out any) {
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string]("(async () => JSON.stringify(await ("+expr+")))()", chromedp.EvalAwaitPromise))
	check(err)
	check(json.Unmarshal([]byte(s), out))
}

type stormResult struct {
	Ms                          float64
	OK, Refreshes, Unauthorized int
}

func (p page) storm(n int, expireFirst bool) stormResult {
	var r stormResult
	p.decode(fmt.Sprintf("window.bench.storm(%d, %t)", n, expireFirst), &r)
	return r
}

func ms(v float64) string { return fmt.Sprintf("%.2f ms", v) }

func chromiumVersion() string {
	out, err := exec.Command(browsertest.Chromium, "--version").Output()
	if err != nil {
		return "Chromium (unknown version)"
	}
	return strings.TrimSpace(string(out))
}
