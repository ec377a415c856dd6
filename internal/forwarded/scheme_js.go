//go:build js

package forwarded

// schemeInURL: on Workers there is no connection to look at, and the
// runtime hands the handler the URL the client asked for, scheme included
// (a Worker's X-Forwarded-Proto was always "http").
var schemeInURL = true
