package refresh

import "time"

// Shared is the session state that every tab of a browser can read (the
// BFF keeps it in a readable cookie).
type Shared struct {
	// Version changes with every new access token; zero means unknown.
	Version int64
	// Expiry is when the current access token expires; zero if unknown.
	Expiry time.Time
}

// refreshUnlessShared refreshes, unless another tab has done it since f's
// first waiter's attempt was sent: then it reports that tab's success.
func (p *Policy) refreshUnlessShared(ctx Context, f *flight) (Result, error) {
	if p.cfg.Shared != nil && f.version != 0 {
		if s := p.cfg.Shared(); s.Version != 0 && s.Version != f.version {
			p.count(&p.stats.Elsewhere)
			return Result{Status: 200, Expiry: s.Expiry, Elsewhere: true}, nil
		}
	}
	return p.cfg.Refresh(ctx)
}

// Fail records a definite failure that another tab saw (its refresh was
// rejected): it is sticky here too, until Reset.
func (p *Policy) Fail(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failure = &Error{Status: status, Kind: ErrRejected}
	p.expiry = time.Time{}
}
