//go:build e2e

package e2e

import (
	"testing"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/stretchr/testify/assert"
)

// Finding 1, in the browser that would follow it: after a login the demo
// goes back to `next` only when the browser resolves it on this origin.
// Each variant is tried as the server's /login?next= (which drops it) and
// straight in the page's ?next= (the demo's own check). The Worker runs
// the same table (workertest).
func TestLoginNextStaysOnTheOrigin(t *testing.T) {
	type row struct {
		name, next, wantPath, ready string
	}
	rows := []row{{"a path of the site", "/departments", "/departments", `document.querySelectorAll("#departments li").length > 0`}}
	for _, o := range browsertest.OffSite {
		rows = append(rows, row{o.Name, o.Next, "/", browsertest.Dashboard})
	}
	for _, tt := range rows {
		for _, entry := range []string{"/login?next=", "/?next="} {
			t.Run(tt.name+" via "+entry, func(t *testing.T) {
				got := browsertest.LoginWithNext(t, browser, server.URL, entry, tt.next, tt.ready)
				assert.Equal(t, server.URL, got.Origin, "the browser stayed on the site")
				assert.Equal(t, tt.wantPath, got.Path)
				assert.NotEqual(t, "pwned", got.Title, "no script ran from next")
			})
		}
	}
}
