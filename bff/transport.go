//go:build !js

package bff

import "net/http"

// defaultTransport is Config.Transport's default natively.
var defaultTransport http.RoundTripper = http.DefaultTransport
