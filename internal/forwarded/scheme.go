//go:build !js

package forwarded

// schemeInURL: natively the connection says whether the client used TLS
// (r.TLS); an absolute request URL is the client's own claim.
var schemeInURL = false
