//go:build !oidc

package oidctest

import "testing"

// TestNeedsTag says why `go test ./...` runs nothing here: this suite
// drives a real OpenID provider, Chromium and the Worker under workerd,
// and is built only with -tags oidc.
func TestNeedsTag(t *testing.T) {
	t.Skip("the OpenID Connect suite needs oidc-provider, Chromium, the built Worker and -tags oidc: run make test-oidc")
}
