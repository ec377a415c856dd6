// Package embed holds tests only: the BFF embedded by an outside module,
// as a user's server embeds it.
//
// With -tags embed (make test-embed), a new module (example.com/app) is
// written to a temporary folder, requiring this one through a replace
// directive that points at the checkout, with the checkout's go.sum. Its
// two programs (testdata/app) are vetted and built with the go command:
// a server that mounts bff.New beside its own GET /hello, run as its own
// process and driven over HTTP (login, a proxied call, a refresh, a
// graceful stop), and a server-side caller that refreshes through the
// BFF's absorber with the refresh policy and with the RoundTripper. Both
// run against the demo upstream, which the test serves: the outside
// module cannot import internal/demo.
package embed
