package oidclogin

import (
	"net/url"
	"strings"
)

// maxNext bounds the length of a next parameter.
const maxNext = 2048

// safeNext returns where to send the browser after login: next resolved
// against origin when it is a path on that same origin, else "/". It
// refuses what browsers read differently from url.Parse: backslashes
// ("/\evil.example" is protocol-relative to a browser), control
// characters and spaces (tabs and newlines are stripped by browsers, so
// "/\t/evil.example" becomes "//evil.example"), schemes, hosts, and paths
// that start with two slashes once decoded.
func safeNext(origin *url.URL, next string) string {
	if next == "" || len(next) > maxNext || next[0] != '/' || strings.ContainsAny(next, `\`) {
		return "/"
	}
	for _, c := range next {
		if c <= ' ' || c == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil ||
		strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.EscapedPath(), "//") {
		return "/"
	}
	ref := origin.ResolveReference(u)
	if ref.Scheme != origin.Scheme || ref.Host != origin.Host {
		return "/"
	}
	out := ref.EscapedPath()
	if ref.RawQuery != "" {
		out += "?" + ref.RawQuery
	}
	if ref.Fragment != "" {
		out += "#" + ref.EscapedFragment()
	}
	return out
}
