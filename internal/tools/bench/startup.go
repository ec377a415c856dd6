package main

import (
	"context"
	"fmt"
	"time"

	"github.com/chromedp/chromedp"
)

// startup measures the time from navigation to "ready to call" (load()
// resolved: calls go out at once), to the first result, and to the module
// running (client.ready), next to a page that loads nothing:
//
//   - cold: the cache disabled (DevTools), as make bench always measured it;
//   - first visit: each page load in a new browser context, nothing cached,
//     without and with preload hints (startup-preload.html: the loader and
//     the module requested by the HTML before the loader runs). Preloads
//     need this: with the cache disabled they are fetched twice, since
//     they are matched through the memory cache;
//   - warm: the HTTP cache on, the page navigated to again in the same tab
//     (the module revalidated by its ETag, 304, and its compiled code taken
//     from Chromium's cache), the first navigation not counted.
func startup(b context.Context, base string) []row {
	n := iterations(21)
	var cold, baseCold, first, preload, baseFirst timing
	for range n {
		cold.add(loadNoCache(b, base, "startup"))
		baseCold.add(loadNoCache(b, base, "baseline"))
		first.add(loadFresh(b, base, "startup"))
		preload.add(loadFresh(b, base, "startup-preload"))
		baseFirst.add(loadFresh(b, base, "baseline"))
	}
	warm, baseWarm := loadWarm(b, base, "startup", n), loadWarm(b, base, "baseline", n)

	c, f, p, w := cold.ready(), first.ready(), preload.ready(), warm.ready()
	bc, bf, bw := baseCold.ready(), baseFirst.ready(), baseWarm.ready()
	empty := " (page loading nothing)"
	return []row{
		{"start-up, cold: navigation to ready to call (Chromium, cache off)", ms(c), ms(bc) + empty, c / bc, "≤ 120 ms", c <= 120},
		{"start-up, cold: navigation to first fetchWithRefresh result", ms(cold.first()), ms(baseCold.first()) + " (plain fetch)", cold.first() / baseCold.first(), "", true},
		{"start-up, cold: navigation to the module running (client.ready)", ms(cold.running()), "", 0, "", true},
		{"start-up, first visit (nothing cached): ready to call / module running", ms(f) + " / " + ms(first.running()), ms(bf) + empty, f / bf, "", true},
		{"start-up, first visit with preload hints in the HTML: ready to call / module running", ms(p) + " / " + ms(preload.running()), ms(bf) + empty, p / bf, "", true},
		{"start-up, warm: a second navigation (HTTP cache on): ready to call", ms(w), ms(bw) + empty, w / bw, "≤ 60 ms", w <= 60},
		{"start-up, warm: navigation to the module running", ms(warm.running()), "", 0, "", true},
		{"start-up, first visit: the module's request starts at", ms(median(first.wasmStarts)), "", 0, "", true},
		{"start-up, first visit: from the module's last byte to running (compile, instantiate, Go start)", ms(median(first.afterWasm)), "", 0, "", true},
		{"start-up, warm: from the module's last byte to running", ms(median(warm.afterWasm)), "", 0, "", true},
	}
}

// timing collects the page's benchResult of each load.
type timing struct{ readies, firsts, runnings, wasmStarts, afterWasm []float64 }

// benchResult is what the start-up pages report, in ms since navigation:
// ready to call, first result, the module running, and when the module's
// request started and its response ended (Resource Timing).
type benchResult struct{ Ready, First, Running, WasmStart, WasmEnd float64 }

func (t *timing) add(r benchResult) {
	t.readies, t.firsts, t.runnings = append(t.readies, r.Ready), append(t.firsts, r.First), append(t.runnings, r.Running)
	if r.WasmEnd > 0 {
		t.wasmStarts, t.afterWasm = append(t.wasmStarts, r.WasmStart), append(t.afterWasm, r.Running-r.WasmEnd)
	}
}
func (t *timing) ready() float64   { return median(t.readies) }
func (t *timing) first() float64   { return median(t.firsts) }
func (t *timing) running() float64 { return median(t.runnings) }

// resultExpr waits for the page's window.benchResult.
const resultExpr = `(async () => { while (!window.benchResult) await new Promise((r) => setTimeout(r, 2)); return window.benchResult; })()`

// loadNoCache loads testdata page name in a new tab with the cache
// disabled.
func loadNoCache(b context.Context, base, name string) benchResult {
	var res benchResult
	pg := open(b, base+"/testdata/e2e/"+name+".html", true)
	defer pg.close()
	pg.decode(resultExpr, &res)
	return res
}

// loadFresh loads testdata page name in a tab of a new browser context:
// nothing cached.
func loadFresh(b context.Context, base, name string) benchResult {
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	defer cancel()
	tctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	check(chromedp.Do(tctx, chromedp.Navigate(base+"/testdata/e2e/"+name+".html")))
	var res benchResult
	page{tctx, func() {}}.decode(resultExpr, &res)
	return res
}

// loadWarm loads page name n+1 times in one tab with the HTTP cache on and
// returns the timings of the last n. Each navigation has its own query, so
// that it is a navigation, not a reload (which revalidates differently).
func loadWarm(b context.Context, base, name string, n int) timing {
	pg := open(b, base+"/testdata/e2e/"+name+".html?visit=0", false)
	defer pg.close()
	var res benchResult
	pg.decode(resultExpr, &res)
	// What a first visit does before the user comes back: calls, and time
	// for V8 to tier the hot functions up and write the compiled module to
	// Chromium's code cache (it waits for TurboFan code, then a timeout).
	pg.eval(`(async () => { for (let i = 0; i < 200; i++) await (await (globalThis.fetchWithRefresh ?? fetch)("/healthz")).text(); })()`)
	time.Sleep(3 * time.Second)
	var t timing
	for i := 1; i <= n; i++ {
		pg.navigate(fmt.Sprintf("%s/testdata/e2e/%s.html?visit=%d", base, name, i))
		pg.decode(resultExpr, &res)
		t.add(res)
	}
	return t
}

// navigate goes to u in the page's tab.
func (p page) navigate(u string) {
	check(chromedp.Do(p.ctx, chromedp.Navigate(u)))
}
