package localpath

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Variants are the ways a next has been made to leave the origin: each
// must be refused (or resolved to a path of the origin), and the paths of
// the site kept. The browser tests hold the demo page to the same ones.
var Variants = []struct {
	Next, Want string // Want "": refused
}{
	{"/departments", "/departments"},
	{"/departments?a=1#top", "/departments?a=1#top"},
	{"/a/../b", "/b"},
	{"/", "/"},
	{"", ""},
	{"departments", ""},
	{"//evil.example", ""},
	{"//evil.example/x", ""},
	{"/.//evil.example", ""},
	{"/..///evil.example", ""},
	{"/./..//evil.example", ""},
	{"/%2e//evil.example", ""},
	{"/%2E%2E//evil.example", ""},
	{"/.%2e//evil.example", ""},
	{"/x/..//evil.example", ""},
	{"/\\evil.example", ""},
	{"/\\/evil.example", ""},
	{"/\t/evil.example", ""},
	{"/\n/evil.example", ""},
	{"/ /evil.example", ""},
	{"https://evil.example/", ""},
	{"javascript:alert(1)", ""},
	{"/%2f/evil.example", ""}, // a browser keeps %2F in the path; a server that decodes it does not
	{"/%2F%2Fevil.example", ""},
	{"/x%2F..%2F/y", ""},
	{"%2F%5Cevil.example", ""},
	{"/a%2Fb", "/a%2Fb"},
}

func TestOf(t *testing.T) {
	for _, tt := range Variants {
		got, ok := Of(tt.Next)
		assert.Equal(t, tt.Want != "", ok, "%q", tt.Next)
		assert.Equal(t, tt.Want, got, "%q", tt.Next)
	}
}

func FuzzOf(f *testing.F) {
	for _, tt := range Variants {
		f.Add(tt.Next)
	}
	f.Fuzz(func(t *testing.T, next string) {
		out, ok := Of(next)
		if !ok {
			return
		}
		if len(out) < 1 || out[0] != '/' || len(out) > 1 && (out[1] == '/' || out[1] == '\\') {
			t.Fatalf("%q -> %q leaves the origin", next, out)
		}
		if again, ok := Of(out); !ok || again != out {
			t.Fatalf("%q -> %q, which resolves again to %q, %v", next, out, again, ok)
		}
	})
}
