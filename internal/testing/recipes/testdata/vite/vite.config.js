// The Vite recipe: one app, three pages (plain, ky, openapi-fetch).
//
// Nothing here is needed for fetch-with-refresh itself: `vite build` emits
// the module and wasm_exec.js because the loader names them in forms Vite
// follows. What is here: the pages, and the dev server's /api proxy to the
// Go server (FWR_API, default http://127.0.0.1:8080). Keep the proxy's
// changeOrigin off (the default): the server's CSRF check compares the
// browser's Origin with the Host it receives, and changeOrigin rewrites the
// Host to the target's.
import { defineConfig } from "vite";

const api = process.env.FWR_API ?? "http://127.0.0.1:8080";

export default defineConfig({
  build: {
    assetsInlineLimit: 0, // the test's font and image are files of the build, as a real app's are
    rolldownOptions: {
      input: { main: "index.html", ky: "ky.html", openapi: "openapi.html" },
    },
  },
  server: {
    proxy: {
      "/api": { target: api },
    },
  },
});
