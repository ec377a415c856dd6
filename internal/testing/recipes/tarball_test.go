//go:build package || recipes

package recipes

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// packageFiles is what the tarball holds: what a page needs, its types and
// the licenses. Nothing else (no .br/.gz: hosts compress; no dev files).
var packageFiles = []string{
	"LICENSE",
	"README.md",
	"THIRD_PARTY_LICENSES.md",
	"fetch-with-refresh.d.mts",
	"fetch-with-refresh.d.ts",
	"fetch-with-refresh.mjs",
	"fetch-with-refresh.wasm",
	"module.mjs",
	"package.json",
	"wasm_exec.js",
}

// manifest is the part of package.json the test checks.
type manifest struct {
	Name         string                     `json:"name"`
	Version      string                     `json:"version"`
	License      string                     `json:"license"`
	Type         string                     `json:"type"`
	Main         string                     `json:"main"`
	Types        string                     `json:"types"`
	Exports      map[string]json.RawMessage `json:"exports"`
	Files        []string                   `json:"files"`
	SideEffects  []string                   `json:"sideEffects"`
	Engines      map[string]string          `json:"engines"`
	Scripts      map[string]string          `json:"scripts"`
	Dependencies map[string]string          `json:"dependencies"`
}

// tarball returns the package's path (FWR_PACKAGE) and its files by name,
// without npm's "package/" prefix.
func tarball(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	name := os.Getenv("FWR_PACKAGE")
	require.NotEmpty(t, name, "FWR_PACKAGE is not set: run make test-package (it builds the tarball first)")
	f, err := os.Open(name)
	require.NoError(t, err, "make package writes it")
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(hdr.Name, "package/"), hdr.Name)
		require.Equal(t, byte(tar.TypeReg), hdr.Typeflag, "%s: only regular files", hdr.Name)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[strings.TrimPrefix(hdr.Name, "package/")] = data
	}
	return name, files
}

func TestTarball(t *testing.T) {
	name, files := tarball(t)
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)

	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	require.Equal(t, packageFiles, names, "the tarball's files")

	var m manifest
	require.NoError(t, json.Unmarshal(files["package.json"], &m))
	t.Run("manifest", func(t *testing.T) {
		assert.Equal(t, "fetch-with-refresh", m.Name)
		assert.Regexp(t, `^0\.\d+\.\d+$`, m.Version, "0.x, matching the git tag v<version>")
		assert.Equal(t, "fetch-with-refresh-"+m.Version+".tgz", filepath.Base(name))
		assert.Equal(t, "Apache-2.0", m.License)
		assert.Equal(t, "module", m.Type)
		assert.Contains(t, m.Engines, "node")
		assert.Empty(t, m.Scripts, "no install scripts")
		assert.Empty(t, m.Dependencies, "the module needs nothing at run time")
		assert.Equal(t, []string{"./wasm_exec.js"}, m.SideEffects, "only wasm_exec.js has side effects (it defines globalThis.Go)")

		var root struct{ Types, Default string }
		require.NoError(t, json.Unmarshal(m.Exports["."], &root))
		assert.Equal(t, "./fetch-with-refresh.d.ts", root.Types)
		assert.Equal(t, "./fetch-with-refresh.mjs", root.Default)
		assert.Equal(t, root.Default, m.Main)
		assert.Equal(t, root.Types, m.Types)
		targets := []string{root.Types, root.Default, m.Main, m.Types}
		for _, sub := range []string{"./fetch-with-refresh.wasm", "./wasm_exec.js", "./package.json"} {
			var target string
			require.NoError(t, json.Unmarshal(m.Exports[sub], &target), "exports[%q]", sub)
			assert.Equal(t, sub, target)
			targets = append(targets, target)
		}
		for _, target := range append(targets, m.Files...) {
			assert.Contains(t, files, strings.TrimPrefix(target, "./"), "a path the manifest names")
		}
	})

	t.Run("contents", func(t *testing.T) {
		assert.True(t, bytes.HasPrefix(files["fetch-with-refresh.wasm"], []byte("\x00asm")), "a WebAssembly module")
		goroot, err := exec.Command("go", "env", "GOROOT").Output()
		require.NoError(t, err)
		wasmExec, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
		require.NoError(t, err)
		assert.Equal(t, wasmExec, files["wasm_exec.js"], "wasm_exec.js is the compiler's own")
		for _, f := range []string{"fetch-with-refresh.mjs", "module.mjs", "fetch-with-refresh.d.ts", "fetch-with-refresh.d.mts"} {
			want, err := os.ReadFile(filepath.Join(root, "js", f))
			require.NoError(t, err)
			assert.Equal(t, string(want), string(files[f]), "%s is the tree's", f)
		}
		license, err := os.ReadFile(filepath.Join(root, "LICENSE"))
		require.NoError(t, err)
		assert.Equal(t, license, files["LICENSE"])
		notices := string(files["THIRD_PARTY_LICENSES.md"])
		assert.Contains(t, notices, "Copyright 2009 The Go Authors")
		assert.Contains(t, notices, "github.com/hack-pad/safejs")
		assert.Less(t, len(files["fetch-with-refresh.mjs"])+len(files["module.mjs"]), 64<<10)
	})

	// Every relative import and URL in the scripts names a file the tarball
	// ships, and the module is named in the literal forms bundlers follow.
	t.Run("references", func(t *testing.T) {
		ref := regexp.MustCompile(`(?:from|import\(|new URL\()\s*"(\./[^"]+)"`)
		for _, f := range []string{"fetch-with-refresh.mjs", "module.mjs", "fetch-with-refresh.d.mts"} {
			for _, match := range ref.FindAllStringSubmatch(string(files[f]), -1) {
				target := path.Clean(match[1])
				if _, shipped := files[target]; !shipped && path.Ext(target) == ".js" {
					target = strings.TrimSuffix(target, ".js") + ".d.ts" // a type import (JSDoc, .d.mts): TypeScript's own mapping
				}
				assert.Contains(t, files, target, "%s refers to %s", f, match[1])
			}
		}
		module := string(files["module.mjs"])
		assert.Contains(t, module, `new URL("./fetch-with-refresh.wasm", import.meta.url)`)
		assert.Contains(t, module, `import("./wasm_exec.js")`)
		assert.Contains(t, string(files["fetch-with-refresh.mjs"]), `import("./module.mjs")`, "a literal path: bundlers make it a chunk")
	})

	info, err := os.Stat(name)
	require.NoError(t, err)
	t.Logf("%s: %d KB", filepath.Base(name), info.Size()>>10)
	assert.Less(t, info.Size(), int64(1<<20), "the tarball stays under 1 MiB")
}
