package refresh

import "context"

// FromContext adapts a context.Context to the policy's Context.
func FromContext(ctx context.Context) Context { return stdContext{ctx} }

// stdContext is a context.Context with AfterFunc as a method.
type stdContext struct{ context.Context }

// AfterFunc is context.AfterFunc.
func (c stdContext) AfterFunc(f func()) (stop func() bool) { return context.AfterFunc(c.Context, f) }

// StdContext returns a context.Context that ends when ctx ends, for a
// RefreshFunc that calls an API taking one (http.NewRequestWithContext).
// Call cancel when done with it.
func StdContext(ctx Context) (std context.Context, cancel context.CancelFunc) {
	if c, ok := ctx.(stdContext); ok {
		return context.WithCancel(c.Context)
	}
	std, cancelStd := context.WithCancel(context.Background())
	stop := ctx.AfterFunc(cancelStd)
	return std, func() {
		stop()
		cancelStd()
	}
}
