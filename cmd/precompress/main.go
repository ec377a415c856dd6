// Command precompress writes FILE.gz (gzip -9) and FILE.br (brotli -q 11)
// beside each FILE given, for the static handler to serve to clients that
// accept them.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"

	"github.com/andybalholm/brotli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: precompress FILE...")
		os.Exit(2)
	}
	for _, name := range os.Args[1:] {
		if err := compress(name); err != nil {
			fmt.Fprintln(os.Stderr, "precompress:", err)
			os.Exit(1)
		}
	}
}

// compress writes name.gz and name.br.
func compress(name string) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	gz, err := Gzip(data)
	if err != nil {
		return err
	}
	br, err := Brotli(data)
	if err != nil {
		return err
	}
	if err := os.WriteFile(name+".gz", gz, 0o644); err != nil {
		return err
	}
	return os.WriteFile(name+".br", br, 0o644)
}

// Gzip compresses data at the best level.
func Gzip(data []byte) ([]byte, error) {
	return encode(data, func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriterLevel(w, gzip.BestCompression) })
}

// Brotli compresses data at quality 11.
func Brotli(data []byte) ([]byte, error) {
	return encode(data, func(w io.Writer) (io.WriteCloser, error) {
		return brotli.NewWriterLevel(w, brotli.BestCompression), nil
	})
}

func encode(data []byte, newWriter func(io.Writer) (io.WriteCloser, error)) ([]byte, error) {
	var buf bytes.Buffer
	w, err := newWriter(&buf)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
