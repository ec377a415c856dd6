// fetch-with-refresh: fetches, compiles and starts the Go WebAssembly module
// for the loader (fetch-with-refresh.mjs).
//
// The module and wasm_exec.js are named in the forms bundlers follow
// statically: the literal new URL("./fetch-with-refresh.wasm",
// import.meta.url) (Vite/Rollup, webpack 5, Turbopack emit the file and
// rewrite the URL) and import("./wasm_exec.js") with a literal path (bundled
// as a chunk). So `npm install` + `import` works without options; wasmURL
// and wasmExecURL point elsewhere (a CDN) when a page wants that. They are
// resolved against the page's URL, like fetch's: not against
// import.meta.url, which webpack replaces with the source file's path at
// build time, and which it would report as a dependency it cannot follow.
//
// Start-up order: the module's fetch and its streaming compilation start
// first; wasm_exec.js is imported while they run; the Go program is
// instantiated from the compiled module once both are there. The loader
// needs none of it to send calls (fetch-with-refresh.mjs, load()).

/**
 * Fetches, compiles, instantiates and starts the module. Returns fetched,
 * which resolves once the module's answer has arrived and is usable (its
 * body streams on into the compiler), and running, the promise of go.run,
 * which settles when the Go program ends; both reject if the module cannot
 * be fetched, compiled or instantiated.
 *
 * @param {{ wasmURL?: string | URL, wasmExecURL?: string | URL }} options
 *   wasmURL and wasmExecURL, resolved against the page's URL (outside a
 *   page, this file's).
 * @param {string} key the name of the global the Go program reads its
 *   options and hooks from (its argv[1]).
 * @param {"high" | "low" | "auto"} [priority] the module fetch's priority
 *   (fetch's priority option; "low" when it is fetched because the page
 *   is idle).
 * @returns {{ fetched: Promise<void>, running: Promise<void> }}
 */
export function start(options, key, priority = "auto") {
  const base = globalThis.location?.href ?? import.meta.url;
  const wasmURL = options.wasmURL
    ? new URL(options.wasmURL, base)
    : new URL("./fetch-with-refresh.wasm", import.meta.url);
  const response = fetchModule(wasmURL, priority);
  const compiling = response.then(compile);
  compiling.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
  const running = (async () => {
    if (typeof globalThis.Go !== "function") {
      if (options.wasmExecURL) {
        await import(/* webpackIgnore: true */ /* @vite-ignore */ new URL(options.wasmExecURL, base).href);
      } else {
        await import("./wasm_exec.js"); // Go's, copied by make wasm; types: wasm_exec.d.ts
      }
    }
    const go = new globalThis.Go();
    go.argv = ["fetch-with-refresh", key];
    const instance = await WebAssembly.instantiate(await compiling, go.importObject);
    return go.run(instance);
  })();
  return { fetched: response.then(() => {}), running };
}

/**
 * Fetches the module; rejects unless it answers 2xx.
 *
 * @param {URL} url
 * @param {"high" | "low" | "auto"} priority
 * @returns {Promise<Response>}
 */
async function fetchModule(url, priority) {
  const response = await fetch(url, /** @type {RequestInit} */ ({ priority }));
  if (!response.ok) {
    throw new Error(`fetch-with-refresh: ${url}: HTTP ${response.status}`);
  }
  return response;
}

/**
 * Compiles the module, streaming when the server sends it as
 * application/wasm (else from the whole body: slower, but works).
 *
 * @param {Response} response
 * @returns {Promise<WebAssembly.Module>}
 */
async function compile(response) {
  if (WebAssembly.compileStreaming && response.headers.get("Content-Type")?.startsWith("application/wasm")) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}
