package proxy

import (
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"
)

// Errors of CheckPath.
var (
	ErrEncodedSeparator = errors.New("proxy: the path has an encoded '.', '/' or '\\'")
	ErrDotSegment       = errors.New("proxy: the path has a '.' or '..' segment")
	ErrControl          = errors.New("proxy: the path has a control character or a backslash")
)

// CheckPath refuses a path that an upstream could resolve outside the base
// path the proxy puts it under: an encoded dot, slash or backslash (also
// encoded twice), a "." or ".." segment after decoding (also "..;x", which
// some servers read as ".."), a backslash or a control character. ServeMux
// cleans the plain forms before the proxy sees them, except for CONNECT;
// the encoded forms reach it as they are.
func CheckPath(u *url.URL) error {
	for _, p := range []string{u.EscapedPath(), u.Path} {
		if hasEncoded(p) {
			return ErrEncodedSeparator
		}
	}
	for _, c := range []byte(u.Path) {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return ErrControl
		}
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		if seg == "." || seg == ".." {
			return ErrDotSegment
		}
	}
	return nil
}

// hasEncoded reports whether s holds %2e, %2f or %5c in any case.
func hasEncoded(s string) bool {
	if strings.IndexByte(s, '%') < 0 {
		return false
	}
	s = strings.ToLower(s)
	return strings.Contains(s, "%2e") || strings.Contains(s, "%2f") || strings.Contains(s, "%5c")
}

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1, which a proxy
// must not forward.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// Forwarded are the request headers that go upstream by default (an
// allowlist: an upstream that trusts its proxy must not take a client's
// X-Remote-User, CF-Connecting-IP or the like at face value): content
// negotiation, the body's metadata and digests, conditionals and ranges,
// caching directives, idempotency, an event stream's resumption, tracing
// (W3C Trace Context and baggage, B3, Sentry, AWS and Google trace ids,
// request ids) and the user agent. Config.ForwardHeaders adds the app's own.
var Forwarded = map[string]bool{
	"Accept": true, "Accept-Encoding": true, "Accept-Language": true,
	"Content-Type": true, "Content-Encoding": true, "Content-Language": true, "Content-Length": true,
	"Content-Disposition": true, "Content-Range": true, "Content-Digest": true, "Repr-Digest": true,
	"Want-Content-Digest": true, "Want-Repr-Digest": true, "Digest": true, "Content-Md5": true,
	"Last-Event-Id": true, "X-Requested-With": true,
	"If-Match": true, "If-None-Match": true, "If-Modified-Since": true, "If-Unmodified-Since": true, "If-Range": true, "Range": true,
	"Cache-Control": true, "Pragma": true, "Prefer": true, "Idempotency-Key": true,
	"Traceparent": true, "Tracestate": true, "Baggage": true, "B3": true,
	"X-B3-Traceid": true, "X-B3-Spanid": true, "X-B3-Parentspanid": true, "X-B3-Sampled": true,
	"X-Request-Id": true, "X-Correlation-Id": true, "Sentry-Trace": true,
	"X-Amzn-Trace-Id": true, "X-Cloud-Trace-Context": true, "User-Agent": true,
}

// requestHeader is the header sent upstream: the browser's allowlisted
// headers (Forwarded, and Config.ForwardHeaders) but those that Connection
// names, with the session's bearer token and X-Forwarded-For, -Proto and
// -Host (passed on from a trusted proxy, else from the connection).
func (h *handler) requestHeader(r *http.Request, token string) http.Header {
	out := make(http.Header, len(r.Header)+4)
	for k, vv := range r.Header {
		if h.forward[k] {
			out[k] = vv
		}
	}
	removeHop(connectionOf(r.Header, out))
	c := h.cfg.Trusted.Client(r)
	if token != "" {
		out["Authorization"] = []string{"Bearer " + token}
	}
	out["X-Forwarded-For"] = []string{c.For}
	out["X-Forwarded-Host"] = []string{c.Host}
	out["X-Forwarded-Proto"] = []string{c.Proto}
	return out
}

// connectionOf returns out with the browser's Connection header, so that
// removeHop drops the headers it names (and then Connection itself).
func connectionOf(in, out http.Header) http.Header {
	if v := in["Connection"]; len(v) > 0 {
		out["Connection"] = v
	}
	return out
}

// removeHop deletes the hop-by-hop headers and those that Connection names.
func removeHop(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// limited is a streamed request body that remembers whether it went over
// its http.MaxBytesReader's limit. The transport reads it on its own
// goroutine.
type limited struct {
	r    io.ReadCloser
	over atomic.Bool
}

func (l *limited) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		l.over.Store(true)
	}
	return n, err
}

func (l *limited) Close() error { return l.r.Close() }

func (l *limited) tooLarge() bool { return l.over.Load() }
