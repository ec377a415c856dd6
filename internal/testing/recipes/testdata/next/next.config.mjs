// The Next.js recipe: /api/* is rewritten to the Go server (FWR_API,
// default http://127.0.0.1:8080), which keeps the tokens in HttpOnly
// cookies and proxies the API. Nothing here is needed for the package
// itself: next build emits the module and wasm_exec.js because the loader
// names them in forms the bundler follows.
const api = process.env.FWR_API ?? "http://127.0.0.1:8080";

/** @type {import("next").NextConfig} */
export default {
  async rewrites() {
    return [{ source: "/api/:path*", destination: `${api}/api/:path*` }];
  },
};
