package cookies

import "testing"

// BenchmarkOpenSealSmall is BenchmarkOpenSeal for a session of ordinary
// opaque tokens (43 bytes each) and its claims.
func BenchmarkOpenSealSmall(b *testing.B) {
	c := Codec{}
	cs := live(set(b, c, nil, c.NewSession(pair(43, 43), "")))
	r := request(cs...)
	b.ReportAllocs()
	for b.Loop() {
		got, err := c.Read(r)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Set(headers{}, nil, *got); err != nil {
			b.Fatal(err)
		}
	}
}
