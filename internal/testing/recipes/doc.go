// Package recipes holds tests only: the npm package as users get it.
//
// With -tags package (make test-package), the tarball of make package is
// listed and checked: exactly the files a page needs, a manifest whose
// exports all resolve, the module and Go's wasm_exec.js.
//
// With -tags recipes (make test-recipes), each app under testdata/ (Vite
// with plain, ky and openapi-fetch pages; webpack 5; Next.js with the pages
// router) is copied to a temporary folder, installed with npm ci plus the
// tarball, built, served (the build through cmd/server's -www, or the
// framework's own server in front of cmd/server), and driven in headless
// Chromium: 50 concurrent calls after the access token expired must all
// succeed with one refresh.
//
// Both read the tarball's path from FWR_PACKAGE, which the make targets set.
package recipes
