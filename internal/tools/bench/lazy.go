package main

import (
	"context"
	"fmt"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The lazy module's figures (issue 29), on a slow mobile link: Chromium's
// network emulation at 1.6 Mbps down, 750 kbps up and a 150 ms round trip
// (Lighthouse's slow 4G), the cache off, each page load in a new browser
// context.

// emulation is Network.emulateNetworkConditions' parameters (cdproto
// keeps only its by-rule successor; Chromium 156 has both).
type emulation struct {
	Offline            bool    `json:"offline"`
	Latency            float64 `json:"latency"`
	DownloadThroughput float64 `json:"downloadThroughput"`
	UploadThroughput   float64 `json:"uploadThroughput"`
}

var emulate = cdp.Command[emulation, cdp.Empty]{Method: "Network.emulateNetworkConditions"}

// slowLink is the link of every figure here.
var slowLink = emulation{Latency: 150, DownloadThroughput: 1.6e6 / 8, UploadThroughput: 750e3 / 8}

// lazy measures the Largest Contentful Paint of a page with a 200 KB
// image that calls load(), next to the same page without it, and the time
// of a call answered 401 and replayed when the module had not been
// fetched yet, next to the same call once the module runs.
func lazy(b context.Context, base string) []row {
	n := iterations(5)
	var with, without, cold, warm []float64
	for range n {
		with = append(with, lcp(b, base+"/testdata/e2e/lcp.html"))
		without = append(without, lcp(b, base+"/testdata/e2e/lcp-baseline.html"))
		cold = append(cold, callAfter401(b, base, true))
		warm = append(warm, callAfter401(b, base, false))
	}
	r, c := median(with)/median(without), median(cold)/median(warm)
	return []row{
		{"slow network (1.6 Mbps, 150 ms, cache off): LCP of a page with a 200 KB image that calls load()", ms(median(with)), ms(median(without)) + " (the page without it)", r, "ratio ≤ 1.05", r <= 1.05},
		{"slow network: a call answered 401 and replayed before the module was fetched (paid once)", ms(median(cold)), ms(median(warm)) + " (the module running)", c, "", true},
	}
}

// slowTab opens a tab of a new browser context on the slow link.
func slowTab(b context.Context) (context.Context, func()) {
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	tctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	_, err := chromedp.Call(tctx, network.Enable, network.EnableParams{})
	check(err)
	_, err = chromedp.Call(tctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
	check(err)
	_, err = chromedp.Call(tctx, emulate, slowLink)
	check(err)
	return tctx, func() { cancelT(); cancel() }
}

// lcp loads the page at u on the slow link and returns its LCP (ms).
func lcp(b context.Context, u string) float64 {
	ctx, done := slowTab(b)
	defer done()
	check(chromedp.Do(ctx, chromedp.Navigate(u)))
	var res struct{ LCP float64 }
	page{ctx, done}.decode(resultExpr, &res)
	return res.LCP
}

// callAfter401 times a call answered 401 (the upstream stopped accepting
// the token) and replayed after one refresh, on the slow link: cold, the
// module not fetched yet (the page is never idle), or once it runs.
func callAfter401(b context.Context, base string, cold bool) float64 {
	ctx, done := slowTab(b)
	defer done()
	u := base + "/testdata/e2e/index.html"
	if cold {
		u += "?noidle"
	}
	check(chromedp.Do(ctx, chromedp.Navigate(u)))
	p := page{ctx, done}
	p.eval(`(async () => { while (!window.setupDone) await new Promise((r) => setTimeout(r, 10)); await window.setupDone; })()`)
	if !cold {
		p.eval("window.harness.untilRunning()")
	}
	p.eval("window.harness.loginNoWait()")
	p.eval("window.harness.expireUpstream()")
	var res struct {
		Status int
		Ms     float64
	}
	p.decode("window.harness.timedCall()", &res)
	if res.Status != 200 {
		check(fmt.Errorf("bench: the call after a 401 answered %d", res.Status))
	}
	return res.Ms
}
