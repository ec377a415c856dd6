// Package workertest runs the Worker (cmd/worker, built by `make worker`)
// under the real local Workers runtime (wrangler dev, workerd) on loopback,
// in front of the native demo upstream, and checks the HTTP contract rows
// that apply to it, the browser storm through it, duplicate refreshes
// absorbed by the Durable Object, and a deploy dry run. A second Worker
// (testdata/absorb) exposes the Durable Object class alone, for the tests
// of its protocol through the Go client (absorb_test.go).
//
// Start also serves other suites (internal/testing/oidctest).
package workertest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Start runs `wrangler dev` in root with config (relative to root) and
// args, on port (empty: a free one) of 127.0.0.1, and waits until GET
// /healthz answers 200. Its Durable Objects' storage is a temporary folder
// that stop removes; stop also ends workerd.
func Start(root, config, port string, args ...string) (base string, stop func(), err error) {
	base, _, stop, err = StartWithState(root, config, port, args...)
	return base, stop, err
}

// StartWithState is Start, and also returns the folder of the Worker's
// local state (its Durable Objects' databases).
func StartWithState(root, config, port string, args ...string) (base, state string, stop func(), err error) {
	if port == "" {
		port = FreePort()
	}
	inspector := FreePort()
	state, err = os.MkdirTemp("", "fwr-worker-state-")
	if err != nil {
		return "", "", nil, err
	}
	cmd := exec.Command("npx", append([]string{"--no-install", "wrangler", "--config", config, "dev",
		"--ip", "127.0.0.1", "--port", port, "--inspector-port", inspector, "--log-level", "warn",
		"--persist-to", state}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "WRANGLER_SEND_METRICS=false", "CLOUDFLARE_CF_FETCH_ENABLED=false",
		"XDG_CONFIG_HOME="+filepath.Join(root, ".config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // wrangler starts workerd: stop the group
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(state)
		return "", "", nil, err
	}
	stop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		os.RemoveAll(state)
	}
	base = "http://127.0.0.1:" + port
	deadline := time.Now().Add(90 * time.Second)
	probe := &http.Client{Timeout: 5 * time.Second} // a worker that failed to build can hold a request forever
	for time.Now().Before(deadline) {
		if res, err := probe.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return base, state, stop, nil
			}
		}
		time.Sleep(200 * time.Millisecond) // polling a process that tells nothing else
	}
	stop()
	return "", "", nil, fmt.Errorf("wrangler dev (%s) did not answer on %s within 90 s", config, base)
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
