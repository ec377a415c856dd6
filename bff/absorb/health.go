package absorb

import (
	"context"
	"time"
)

// The store's health. A store that fails (a refused or reset connection,
// an error, no answer within the store's share of a refresh's budget) is
// known to be down from that failure on: every refresh skips it at once
// and coordinates in process, while a probe in the background asks it
// again every probeEvery, until it answers. A store that hangs costs one
// refresh its share once per outage, and the others nothing.

const (
	// probeEvery is how long a probe of a store known to be down waits
	// after the failure or the previous probe: a store that restarts is
	// found back a tenth of a second after it answers, at the cost of ten
	// calls a second to a store that refuses them.
	probeEvery = 100 * time.Millisecond
	// probeTimeout bounds a probe, and a Forget.
	probeTimeout = 500 * time.Millisecond
)

// probeKey is the key a probe forgets: no refresh's (those are keys of
// three parts).
var probeKey = lookupKey("absorb: probe")

// Down reports whether the store is known to be down: from a failure
// until a probe finds it answering again, refreshes coordinate in process.
func (a *Absorber) Down() bool { return a.down.Load() }

// failed records that the store failed with err. The first failure of an
// outage is logged (errors carry no token) and starts the probe.
func (a *Absorber) failed(err error) {
	if !a.down.CompareAndSwap(false, true) {
		return
	}
	a.log.Warn("absorb: store unavailable; coordinating in process until it answers again", "err", err)
	if !a.flights.start() { // shutting down: no more store calls
		return
	}
	go func() {
		defer a.flights.done()
		a.probe()
	}()
}

// probe forgets probeKey every probeEvery until the store answers (the
// outage ends) or Wait is called.
func (a *Absorber) probe() {
	for {
		select {
		case <-time.After(probeEvery):
		case <-a.flights.stop:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		err := a.store.Forget(ctx, probeKey)
		cancel()
		if err == nil {
			a.down.Store(false)
			a.log.Info("absorb: the store answers again")
			return
		}
	}
}
