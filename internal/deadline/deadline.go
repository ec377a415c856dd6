// Package deadline makes a RoundTripper that ignores its request's context
// honour it. The Workers fetch transport of syumai/workers waits for the
// fetch to settle whatever the context says; wrapped, a timed-out call
// returns the context's error at once (the fetch is left to finish in the
// background), so that the proxy and the auth calls can answer 504.
//
// It also gives an answer that has no body (a 204, a 304, the answer to a
// HEAD) http.NoBody: the Workers fetch API hands such an answer a null
// body, which syumai/workers' reader panics on (a logout's 204 from the
// upstream crashed the Worker's Go program).
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
		if out.res != nil && bodiless(r, out.res) {
			out.res.Body = http.NoBody // the null body is not read: syumai/workers' reader panics on it
		}
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

// bodiless reports whether res carries no body by HTTP's rules (RFC 9110,
// 6.4.1) and fetch's null-body statuses (101, 103, 204, 205, 304).
func bodiless(r *http.Request, res *http.Response) bool {
	switch res.StatusCode {
	case http.StatusNoContent, http.StatusResetContent, http.StatusNotModified:
		return true
	}
	return r.Method == http.MethodHead || res.StatusCode/100 == 1
}
