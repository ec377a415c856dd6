// Package workertest runs the Worker (cmd/worker, built by `make worker`)
// under the real local Workers runtime (wrangler dev, workerd) on loopback.
// Its tests (build tag workers) check the HTTP contract rows that apply to
// the Worker, the browser storm through it, and a deploy dry run;
// StartWrangler serves other suites too (cmd/internal/oidctest).
package workertest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// StartWrangler runs `wrangler dev` for the Worker built under root, with
// the static assets in assets and the given Worker variables, on port
// (empty: a free one) of 127.0.0.1, and waits until /healthz answers 200.
// It returns the Worker's base URL and a function that stops wrangler and
// workerd.
func StartWrangler(root, assets, port string, vars map[string]string) (base string, stop func(), err error) {
	if port == "" {
		port = FreePort()
	}
	inspector := FreePort()
	args := []string{"--no-install", "wrangler", "--config", "cmd/worker/wrangler.toml", "dev",
		"--ip", "127.0.0.1", "--port", port, "--inspector-port", inspector,
		"--assets", assets, "--log-level", "warn"}
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		args = append(args, "--var", name+":"+vars[name])
	}
	cmd := exec.Command("npx", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "WRANGLER_SEND_METRICS=false", "CLOUDFLARE_CF_FETCH_ENABLED=false",
		"XDG_CONFIG_HOME="+filepath.Join(root, ".config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // wrangler starts workerd: stop the group
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	}
	base = "http://127.0.0.1:" + port
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return base, stop, nil
			}
		}
		time.Sleep(200 * time.Millisecond) // polling a process we do not control
	}
	stop()
	return "", nil, fmt.Errorf("wrangler dev did not answer on %s within 90 s", base)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}
