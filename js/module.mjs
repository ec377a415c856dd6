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
// instantiated from the compiled module once both are there.

/**
 * Fetches, compiles, instantiates and starts the module. Resolves to
 * { running }, the promise of go.run, which settles when the Go program ends
 * (wrapped, so that this async function does not wait for it).
 *
 * @param {{ wasmURL?: string | URL, wasmExecURL?: string | URL }} options
 *   wasmURL and wasmExecURL, resolved against the page's URL (outside a
 *   page, this file's).
 * @param {string} key the name of the global the Go program reads its
 *   options and hooks from (its argv[1]).
 * @returns {Promise<{ running: Promise<void> }>}
 */
export async function start(options, key) {
  const base = globalThis.location?.href ?? import.meta.url;
  const wasmURL = options.wasmURL
    ? new URL(options.wasmURL, base)
    : new URL("./fetch-with-refresh.wasm", import.meta.url);
  const compiling = compile(wasmURL);
  compiling.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
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
  return { running: go.run(instance) };
}

/**
 * Fetches and compiles the module, streaming when the server sends it as
 * application/wasm (else from the whole body: slower, but works).
 *
 * @param {URL} url
 * @returns {Promise<WebAssembly.Module>}
 */
async function compile(url) {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`fetch-with-refresh: ${url}: HTTP ${response.status}`);
  }
  if (WebAssembly.compileStreaming && response.headers.get("Content-Type")?.startsWith("application/wasm")) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}
