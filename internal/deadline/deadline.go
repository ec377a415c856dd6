// Package deadline makes a RoundTripper that ignores its request's context
// honour it. The Workers fetch transport of syumai/workers waits for the
// fetch to settle whatever the context says; wrapped, a timed-out call
// returns the context's error at once (the fetch is left to finish in the
// background), so that the proxy and the auth calls can answer 504.
package deadline

import "net/http"

// Transport wraps next.
func Transport(next http.RoundTripper) http.RoundTripper { return transport{next} }

type transport struct{ next http.RoundTripper }

type result struct {
	res *http.Response
	err error
}

// RoundTrip returns next's answer, or the request context's error if that
// ends first.
func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ch := make(chan result, 1)
	go func() {
		res, err := t.next.RoundTrip(r)
		ch <- result{res, err}
	}()
	select {
	case out := <-ch:
		return out.res, out.err
	case <-r.Context().Done():
		go func() { // close a late answer's body
			if out := <-ch; out.res != nil {
				out.res.Body.Close()
			}
		}()
		return nil, r.Context().Err()
	}
}
