package testserver

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"sync"
)

// heroSide is the side of the hero image in pixels: noise, stored without
// compression, about 200 KB.
const heroSide = 256

// hero is the PNG of GET /test/hero.png, the large image of the
// slow-network page (make bench), the same on every run.
var hero = sync.OnceValue(func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, heroSide, heroSide))
	r := rand.New(rand.NewPCG(1, 2))
	for y := range heroSide {
		for x := range heroSide {
			img.Set(x, y, color.RGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 255})
		}
	}
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&b, img); err != nil {
		panic(err) // encoding to memory does not fail
	}
	return b.Bytes()
})

// serveHero answers GET /test/hero.png.
func serveHero(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(hero())
}
