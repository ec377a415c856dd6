// Package observe is the interface through which the handlers report what
// they did, for metrics. The native server implements it with Prometheus;
// the Workers build reports nothing.
package observe

import "time"

// Observer receives the handlers' events. Implementations must be safe for
// concurrent use.
type Observer interface {
	// Auth reports the outcome of a call to an auth endpoint: endpoint is
	// "login", "refresh", "logout" or "ahead" (a refresh before a proxied
	// call); outcome is "ok", "rejected", "unavailable", "bad_request" or
	// "absorbed" (a refresh answered with another request's result).
	Auth(endpoint, outcome string)
	// Proxied reports the status of a proxied call.
	Proxied(status int)
	// Upstream reports how long an upstream call took; route is "auth" or "api".
	Upstream(route string, d time.Duration)
	// StoreFallback reports a refresh that could not use the shared
	// absorption store (absorb.Config.OnFallback): reason is "error" or
	// "full".
	StoreFallback(reason string)
}

// Nop is an Observer that does nothing.
type Nop struct{}

// Auth does nothing.
func (Nop) Auth(string, string) {}

// Proxied does nothing.
func (Nop) Proxied(int) {}

// Upstream does nothing.
func (Nop) Upstream(string, time.Duration) {}

// StoreFallback does nothing.
func (Nop) StoreFallback(string) {}
