package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/andybalholm/brotli"
)

// sizes compares the browser module with an empty Go program built with
// the same flags (the runtime floor), and the Worker with the plan limits.
func sizes(root string) []row {
	dir, err := os.MkdirTemp("", "fwr-bench-")
	check(err)
	defer os.RemoveAll(dir)
	check(os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { select {} }\n"), 0o644))
	check(os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module empty\n\ngo 1.24\n"), 0o644))
	empty := filepath.Join(dir, "empty.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", empty, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	check(errorf(err, out))

	mod := read(filepath.Join(root, "js", "fetch-with-refresh.wasm"))
	floor := read(empty)
	glue := append(read(filepath.Join(root, "js", "wasm_exec.js")), read(filepath.Join(root, "js", "fetch-with-refresh.min.mjs"))...)
	worker := read(filepath.Join(root, "build", "worker", "app.wasm"))

	const free, paid = 3 << 20, 10 << 20
	br, brFloor := len(compress(mod, true)), len(compress(floor, true))
	return []row{
		{"module, raw", kb(len(mod)), kb(len(floor)) + " (empty Go program)", ratio(len(mod), len(floor)), "", true},
		{"module, gzip -9", kb(len(compress(mod, false))), kb(len(compress(floor, false))), ratio(len(compress(mod, false)), len(compress(floor, false))), "", true},
		{"module, brotli -q 11", kb(br), kb(brFloor), ratio(br, brFloor), "≤ 600 KB", br <= 600_000},
		{"module, brotli, above the runtime floor", kb(br - brFloor), "", 0, "", true},
		{"wasm_exec.js + loader, brotli", kb(len(compress(glue, true))), "", 0, "", true},
		{"Worker upload, gzip", kb(len(compress(worker, false))), "3 MiB free / 10 MiB paid", ratio(len(compress(worker, false)), free), "fits the free plan", len(compress(worker, false)) < free && len(compress(worker, false)) < paid},
	}
}

func read(name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		check(fmt.Errorf("%w (run `make bench`, which builds it)", err))
	}
	return b
}

func compress(data []byte, useBrotli bool) []byte {
	var buf bytes.Buffer
	if useBrotli {
		w := brotli.NewWriterLevel(&buf, brotli.BestCompression)
		_, _ = w.Write(data)
		check(w.Close())
	} else {
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = w.Write(data)
		check(w.Close())
	}
	return buf.Bytes()
}

func kb(n int) string { return fmt.Sprintf("%.1f KB", float64(n)/1000) }

func ratio(a, b int) float64 { return float64(a) / float64(b) }

func errorf(err error, out []byte) error {
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}
