// Package localpath is the one rule for "a path of this origin" that a
// redirect after a login follows: the server's (the OpenID Connect
// callback's next, the demo's /login?next=) here, and the demo page's in
// JavaScript (www/app.mjs, localPath), which the browser tests hold to the
// same variants.
//
// A next is taken as a browser takes it: backslashes, whitespace and
// control characters are refused (browsers read "/\host" as "//host" and
// drop tabs and newlines), dot segments are resolved, percent-encoded
// dots included (WHATWG URL), and what remains must be a path that does
// not start with "//" ("/.//evil.example" resolves to "//evil.example",
// which a browser reads as another host), nor once decoded ("/%2F/x").
package localpath

import (
	"net/url"
	"strings"
)

// MaxLen bounds a next.
const MaxLen = 2048

// Of returns next resolved on this origin (its path, query and fragment,
// as a Location header or location.assign takes them), or false when a
// browser could read it as anything but a path of this origin.
func Of(next string) (string, bool) {
	if next == "" || len(next) > MaxLen || next[0] != '/' {
		return "", false
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	escaped := u.EscapedPath()
	if !strings.HasPrefix(escaped, "/") { // "/%zz" and the like that url.Parse took apart
		return "", false
	}
	out := removeDots(escaped)
	// Decoded too: a server or a proxy on the way may decode %2F before it
	// resolves the dots.
	if strings.HasPrefix(out, "//") || strings.HasPrefix(removeDots(u.Path), "//") {
		return "", false
	}
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	if u.Fragment != "" {
		out += "#" + u.EscapedFragment()
	}
	if len(out) > MaxLen { // escaping made it longer
		return "", false
	}
	return out, true
}

// removeDots resolves the dot segments of an absolute path as the WHATWG
// URL standard does (a browser's Location and location.assign): "." and
// ".." also when percent-encoded, empty segments kept.
func removeDots(path string) string {
	segs := strings.Split(path[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch strings.ToLower(s) {
		case ".", "%2e":
			if last {
				out = append(out, "")
			}
		case "..", ".%2e", "%2e.", "%2e%2e":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}
