package refresh

import "time"

// Shared is the session state that every tab of a browser can read (the
// BFF keeps it in a readable cookie).
type Shared struct {
	// Version changes with every new access token; zero means unknown.
	Version int64
	// Expiry is when the current access token expires; zero if unknown.
	Expiry time.Time
	// Lifetime is how long the current access token lives from its issue;
	// zero if unknown.
	Lifetime time.Duration
	// Failed is when a tab's refresh of this Version's token last failed
	// transiently (zero: none known), with the status it got (0: no
	// answer). A refresh that began before it does not try again.
	Failed       time.Time
	FailedStatus int
}

// refreshUnlessShared refreshes, unless another tab has done it since f's
// first waiter's attempt was sent (then it reports that tab's success), or
// another tab's refresh of the same token failed transiently since f
// began (then it reports that failure: trying again at once would only
// make the waiters wait twice).
func (p *Policy) refreshUnlessShared(ctx Context, f *flight) (Result, error) {
	if p.cfg.Shared != nil && f.version != 0 {
		s := p.cfg.Shared()
		switch {
		case s.Version != 0 && s.Version != f.version:
			p.count(&p.stats.Elsewhere)
			return Result{Status: 200, Expiry: s.Expiry, Lifetime: s.Lifetime, Elsewhere: true}, nil
		case s.Version == f.version && !s.Failed.IsZero() && !s.Failed.Before(f.begun):
			if s.FailedStatus < 500 { // no answer (or not a transient status: never recorded)
				return Result{}, ErrFailedElsewhere
			}
			return Result{Status: s.FailedStatus, Elsewhere: true, Cause: ErrFailedElsewhere}, nil
		}
	}
	return p.cfg.Refresh(ctx)
}

// Fail records a definite failure that another tab saw (its refresh was
// rejected): it is sticky here too, until a new session. It reports whether
// this ended the session here (Config.Ended was called), so that each tab
// reports an ended session once.
//
// The rejection cleared the session cookies before the other tab could say
// so: a session that Config.Shared still shows is a newer one (a login in
// yet another tab since), and the report is about a session that is gone,
// so Fail ignores it.
func (p *Policy) Fail(status int) (ended bool) {
	if p.shared().Version != 0 {
		return false
	}
	err := &Error{Status: status, Kind: ErrRejected}
	p.mu.Lock()
	ended = p.failure == nil
	p.failure = err
	p.failVer = 0 // the rejection cleared the cookies
	p.expiry, p.lifetime = time.Time{}, 0
	p.mu.Unlock()
	p.changed()
	if ended {
		p.sessionEnded(err)
	}
	return ended
}

// sessionEnded records the shared version of the ended session and calls
// Config.Ended.
func (p *Policy) sessionEnded(err *Error) {
	v := p.shared().Version
	p.mu.Lock()
	p.failVer = v
	p.mu.Unlock()
	if p.cfg.Ended != nil {
		p.cfg.Ended(err)
	}
}
