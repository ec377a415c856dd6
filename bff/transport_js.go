//go:build js

package bff

import "net/http"

// defaultTransport is nil under GOOS=js: net/http's client would double
// the Workers upload, which brings a fetch-based transport of its own.
var defaultTransport http.RoundTripper

// keysRequired: under GOOS=js (Workers) every request runs in a fresh
// instance, which must open the session another sealed.
const keysRequired = true
