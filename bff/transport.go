//go:build !js

package bff

import "net/http"

// defaultTransport is Config.Transport's default natively.
var defaultTransport http.RoundTripper = http.DefaultTransport

// keysRequired: natively a BFF without Cookies.Keys seals with a key of
// its process (one instance), and says so.
const keysRequired = false
