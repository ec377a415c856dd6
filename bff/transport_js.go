//go:build js

package bff

import "net/http"

// defaultTransport is nil under GOOS=js: net/http's client would double
// the Workers upload, which brings a fetch-based transport of its own.
var defaultTransport http.RoundTripper
