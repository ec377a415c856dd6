package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"golang.org/x/sync/singleflight"
)

// compressible lists the extensions compressed on the fly when a file has
// no precompressed sibling: a bundler's output (the module, scripts,
// styles) usually has none.
var compressible = map[string]bool{
	".wasm": true, ".js": true, ".mjs": true, ".css": true, ".html": true,
	".json": true, ".map": true, ".svg": true, ".txt": true, ".ts": true,
	".xml": true, ".md": true,
}

const (
	// minCompress is the smallest file worth compressing: below it the
	// encoding's framing eats the saving.
	minCompress = 1 << 10
	// maxCompress bounds what is held in memory per encoding and file.
	maxCompress = 32 << 20
	// maxCompressed bounds the bytes the cache of compressed files holds
	// in all: past it, the oldest entries go (and are made again when
	// asked for).
	maxCompressed = 64 << 20
	// brotliQuality trades ratio for the first request's wait: for the
	// 2.8 MB module, quality 5 takes about half a second and gives 667 KB,
	// quality 11 (what make wasm's .br siblings use) 592 KB in several
	// seconds. Precompress what you can.
	brotliQuality = 5
)

// codings are the encodings made on the fly, in order of preference.
var codings = []struct {
	suffix, name string
	encode       func(io.Writer) io.WriteCloser
}{
	{".br", "br", func(w io.Writer) io.WriteCloser {
		return brotli.NewWriterLevel(w, brotliQuality)
	}},
	{".gz", "gzip", func(w io.Writer) io.WriteCloser {
		return gzip.NewWriter(w) // gzip's default level: -9 costs twice the time for under 1 %
	}},
}

// compressed caches the files compressed on the fly. The zero value is
// ready to use.
type compressed struct {
	group singleflight.Group // one compression per file and encoding at a time

	mu      sync.Mutex         // protects entries, bytes and order
	entries map[string]encoded // by file name + suffix
	bytes   int                // the entries' data, in all
	order   []string           // the keys, oldest first
}

// encoded is one file's content in one encoding, valid while the file
// keeps its modification time and size.
type encoded struct {
	mod  time.Time
	size int64
	data []byte
}

// compress is the static handler's hook for a file without precompressed
// siblings. For a compressible file it reports variants (the answer
// depends on Accept-Encoding) and, when the client accepts one of the
// codings, the encoded content and the name its ETag is cached under
// (name + suffix, as for a sibling). Otherwise it returns name and data
// unchanged. read returns the file's content; it is called only when the
// cache does not hold the encoding.
func (h *Handler) compress(r *http.Request, name string, info fs.FileInfo, read func() ([]byte, error)) (served, encoding string, out []byte, variants bool) {
	if !compressible[path.Ext(name)] || info.Size() < minCompress || info.Size() > maxCompress {
		return name, "", nil, false
	}
	for _, c := range codings {
		if !accepts(r, c.name) {
			continue
		}
		if revalidates(r, etag(name+c.suffix, info)) {
			return name + c.suffix, c.name, []byte{}, true // a 304 needs no content: nothing read, nothing compressed
		}
		coded, err := h.gen.get(name+c.suffix, info, read, c.encode)
		if err != nil {
			break // serve it as it is
		}
		return name + c.suffix, c.name, coded, true
	}
	return name, "", nil, true
}

// get returns data encoded with encode, cached under key until the file's
// modification time or size changes. Concurrent first requests share one
// compression.
func (c *compressed) get(key string, info fs.FileInfo, read func() ([]byte, error), encode func(io.Writer) io.WriteCloser) ([]byte, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && e.mod.Equal(info.ModTime()) && e.size == info.Size() {
		return e.data, nil
	}
	flight := key + "\x00" + strconv.FormatInt(info.ModTime().UnixNano(), 10) + "\x00" + strconv.FormatInt(info.Size(), 10)
	v, err, _ := c.group.Do(flight, func() (any, error) {
		data, err := read() // once per file and encoding, not per request
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		w := encode(&buf)
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		c.keep(key, encoded{mod: info.ModTime(), size: info.Size(), data: buf.Bytes()})
		return buf.Bytes(), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// keep caches e under key, dropping the oldest entries past maxCompressed.
func (c *compressed) keep(key string, e encoded) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]encoded{}
	}
	if old, ok := c.entries[key]; ok {
		c.bytes -= len(old.data)
		c.order = slices.DeleteFunc(c.order, func(k string) bool { return k == key })
	}
	for c.bytes+len(e.data) > maxCompressed && len(c.order) > 0 {
		oldest := c.order[0]
		c.order = c.order[1:]
		c.bytes -= len(c.entries[oldest].data)
		delete(c.entries, oldest)
	}
	c.entries[key] = e
	c.bytes += len(e.data)
	c.order = append(c.order, key)
}

// revalidates reports whether r's If-None-Match names tag (or is "*"):
// the answer is then a 304 (http.ServeContent's rule, weak comparison).
func revalidates(r *http.Request, tag string) bool {
	for cand := range strings.SplitSeq(r.Header.Get("If-None-Match"), ",") {
		cand = strings.TrimPrefix(strings.TrimSpace(cand), "W/")
		if cand == "*" || cand == tag {
			return true
		}
	}
	return false
}
