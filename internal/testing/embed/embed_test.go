//go:build embed

package embed

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/syncbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The module path of this checkout, which the outside module requires.
const self = "github.com/fetch-with-refresh/fetch-with-refresh"

// How long a program may take to print its address, and to stop.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 30 * time.Second
)

// hello is the answer of the outside server's own GET /hello
// (testdata/app/main.go).
const hello = "hello from example.com/app\n"

// TestOutsideModule writes the outside module, vets and builds it, then
// runs its two programs against the demo upstream.
func TestOutsideModule(t *testing.T) {
	root := moduleRoot(t)
	dir := t.TempDir()
	writeModule(t, root, filepath.Join("testdata", "app"), dir)
	readme := filepath.Join(dir, "readme", "main.go") // README's embedding example: it must build as written
	require.NoError(t, os.MkdirAll(filepath.Dir(readme), 0o755))
	require.NoError(t, os.WriteFile(readme, readmeExample(t, root), 0o644))

	goCmd(t, dir, "mod", "tidy")
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	t.Logf("go.mod after go mod tidy:\n%s", mod)
	assert.Contains(t, string(mod), "replace "+self+" => "+root, "tidy keeps the checkout as the dependency")
	goCmd(t, dir, "vet", "./...")
	bin := filepath.Join(dir, "bin")
	goCmd(t, dir, "build", "-o", bin+string(filepath.Separator), "./...")

	t.Run("a server mounts the BFF beside its own route", func(t *testing.T) {
		testServer(t, filepath.Join(bin, "app"))
	})
	t.Run("a server-side caller refreshes through the BFF's absorber", func(t *testing.T) {
		testPolicy(t, filepath.Join(bin, "policy"))
	})
}

// testServer runs the server program as its own process and drives it
// as a browser does, then stops it.
func testServer(t *testing.T, bin string) {
	up := demo.New(demo.Config{})
	api := httptest.NewServer(up)
	t.Cleanup(api.Close)
	p := start(t, bin, "-upstream", api.URL)
	base := "http://" + p.addr

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	var login map[string]*http.Cookie // the session cookies set by the login
	steps := []struct {
		name         string
		method, path string
		body         string
		csrf         bool
		want         int
		check        func(t *testing.T, res *http.Response, body []byte)
	}{
		{
			name: "the program's own route", method: http.MethodGet, path: "/hello", want: http.StatusOK,
			check: func(t *testing.T, _ *http.Response, body []byte) { assert.Equal(t, hello, string(body)) },
		},
		{
			name: "an /api/ call without the CSRF header is refused", method: http.MethodPost, path: "/api/auth/login",
			body: `{"username":"demo","password":"demo"}`, want: http.StatusForbidden,
			check: func(t *testing.T, res *http.Response, _ []byte) { assert.Empty(t, res.Cookies()) },
		},
		{
			name: "login sets the session cookies", method: http.MethodPost, path: "/api/auth/login",
			body: `{"username":"demo","password":"demo"}`, csrf: true, want: http.StatusOK,
			check: func(t *testing.T, res *http.Response, _ []byte) { login = sessionCookies(t, res) },
		},
		{
			name: "a proxied call carries the access token", method: http.MethodGet, path: "/api/departments",
			csrf: true, want: http.StatusOK, check: departments,
		},
		{
			name: "refresh rotates the cookies", method: http.MethodPost, path: "/api/auth/refresh",
			csrf: true, want: http.StatusOK,
			check: func(t *testing.T, res *http.Response, _ []byte) {
				rotated := sessionCookies(t, res)
				require.NotNil(t, login, "the login step set cookies")
				// The pair is sealed (the program's key): a new session cookie,
				// and the upstream's count below says it was one refresh.
				assert.NotEqual(t, login["fwr-session.0"].Value, rotated["fwr-session.0"].Value, "a new sealed session")
			},
		},
		{
			name: "a proxied call with the rotated cookies", method: http.MethodGet, path: "/api/departments",
			csrf: true, want: http.StatusOK, check: departments,
		},
	}
	for _, step := range steps {
		ok := t.Run(step.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), step.method, base+step.path, strings.NewReader(step.body))
			require.NoError(t, err)
			if step.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if step.csrf {
				req.Header.Set("X-CSRF", "1")
			}
			res, err := client.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.Equal(t, step.want, res.StatusCode, "%s %s: %s", step.method, step.path, body)
			step.check(t, res, body)
		})
		if !ok {
			t.FailNow() // the later steps need this one's cookies
		}
	}

	assert.Equal(t, "stopped\n", p.stop(t), "a graceful stop, after bff.BFF.Wait")
	stats := up.Stats()
	assert.Equal(t, 1, stats.Logins)
	assert.Equal(t, 1, stats.Refreshes)
	assert.Zero(t, stats.Reuses)
	assert.Zero(t, stats.Rejected)
}

// testPolicy runs the server-side caller to its end.
func testPolicy(t *testing.T, bin string) {
	up := demo.New(demo.Config{})
	api := httptest.NewServer(up)
	t.Cleanup(api.Close)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "-upstream", api.URL)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	assert.Equal(t, []string{
		"policy: 200 after 1 refresh",
		"transport: 200 rotated=true new pair=true",
	}, strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"))
	stats := up.Stats()
	assert.Equal(t, 1, stats.Logins)
	assert.Equal(t, 2, stats.Refreshes, "one refresh per expiry")
	assert.Zero(t, stats.Reuses)
	assert.Zero(t, stats.Rejected)
}

// departments checks an answer of the upstream's GET /departments.
func departments(t *testing.T, res *http.Response, body []byte) {
	assert.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "application/json"), res.Header.Get("Content-Type"))
	var list []demo.Department
	require.NoError(t, json.Unmarshal(body, &list))
	assert.NotEmpty(t, list)
	assert.Equal(t, "Engineering", list[0].Name)
}

// sessionCookies returns the session cookies that res sets, by name, and
// checks their attributes (plain names and no Secure: cookies.Codec
// Insecure): the sealed session's one chunk and the readable expiry.
func sessionCookies(t *testing.T, res *http.Response) map[string]*http.Cookie {
	t.Helper()
	set := map[string]*http.Cookie{}
	for _, c := range res.Cookies() {
		set[c.Name] = c
	}
	for _, name := range []string{"fwr-session.0", "accessExpires"} {
		c := set[name]
		require.NotNil(t, c, "Set-Cookie %s", name)
		assert.NotEmpty(t, c.Value, name)
		assert.Equal(t, name != "accessExpires", c.HttpOnly, name+" HttpOnly")
		assert.False(t, c.Secure, name)
	}
	return set
}

// process is a running program.
type process struct {
	cmd    *exec.Cmd
	addr   string        // the address it printed
	stdout *bufio.Reader // the rest of its stdout
	stderr *syncbuf.Buffer
	once   sync.Once // ends it: stop, or the test's cleanup
}

// start runs bin with args and waits for the address it prints; the
// process is killed at the test's end if it is still running.
func start(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), stderr: &syncbuf.Buffer{}}
	p.cmd.Stderr = p.stderr
	pipe, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	p.stdout = bufio.NewReader(pipe)
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		p.once.Do(func() {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		})
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(bin), p.stderr.String())
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := p.stdout.ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case p.addr = <-line:
	case <-time.After(startTimeout):
		t.Fatalf("%s printed no address within %s", filepath.Base(bin), startTimeout)
	}
	require.NotEmpty(t, p.addr, "%s exited before printing its address", filepath.Base(bin))
	return p
}

// stop sends SIGTERM, and returns what the process printed after its
// address; it must exit 0.
func (p *process) stop(t *testing.T) string {
	t.Helper()
	var rest string
	p.once.Do(func() {
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		done := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(p.stdout) // to EOF: the process has closed stdout
			done <- string(b)
		}()
		select {
		case rest = <-done:
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
			t.Fatalf("no exit within %s of SIGTERM", stopTimeout)
		}
		require.NoError(t, p.cmd.Wait(), "exit status")
	})
	return rest
}

// moduleRoot returns the checkout's root folder.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	mod := strings.TrimSpace(string(out))
	require.NotContains(t, []string{"", os.DevNull}, mod, "not inside the module")
	root, err := filepath.Abs(filepath.Dir(mod))
	require.NoError(t, err)
	return root
}

// writeModule writes the outside module to dir: the files of src, a
// go.mod that requires this module from root (a replace directive, at
// this module's go version), and root's go.sum.
func writeModule(t *testing.T, root, src, dir string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		to := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	})
	require.NoError(t, err)

	ours, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	var version string
	for line := range strings.Lines(string(ours)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			version = v
			break
		}
	}
	require.NotEmpty(t, version, "the go directive of %s/go.mod", root)
	mod := "module example.com/app\n\ngo " + version + "\n\n" +
		"require " + self + " v0.0.0\n\n" +
		"replace " + self + " => " + root + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))
}

// goCmd runs the go command in dir, outside any workspace, letting it
// update go.mod and go.sum.
func goCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
}

// readmeExample returns the first Go program of README.md's "Use it from
// Go" section.
func readmeExample(t *testing.T, root string) []byte {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## Use it from Go\n")
	require.True(t, ok, "README.md has no \"Use it from Go\" section")
	_, block, ok := strings.Cut(section, "```go\npackage main\n")
	require.True(t, ok, "no Go program in README's \"Use it from Go\"")
	block, _, ok = strings.Cut(block, "\n```")
	require.True(t, ok)
	return []byte("package main\n" + block + "\n")
}
