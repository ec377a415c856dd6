package oidclogin

import "github.com/fetch-with-refresh/fetch-with-refresh/internal/localpath"

// safeNext returns where to send the browser after login: next as
// localpath resolves it, when it is a path of this origin, else "/".
func safeNext(next string) string {
	if p, ok := localpath.Of(next); ok {
		return p
	}
	return "/"
}
