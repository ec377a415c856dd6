// Package multitest runs the server as it is deployed past one instance:
// a real redis-server, several cmd/server processes sharing it, and one
// upstream, all on loopback, started and stopped by the caller. The
// multi-instance tests (build tag multi) and the soak run
// (internal/tools/soak) use it.
package multitest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds how long a process may take to answer after start.
const startTimeout = 20 * time.Second

// BuildServer builds cmd/server into dir and returns the binary's path.
func BuildServer(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "fwr-server")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/server")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/server: %w\n%s", err, out)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the module")
	}
	return filepath.Dir(mod), nil
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago: processes that restart on the same address need a fixed one.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// process is a child process that can be killed and started again with
// the same arguments.
type process struct {
	name string
	args []string
	log  io.Writer

	mu   sync.Mutex // protects cmd and done
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.name, p.args...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// running reports whether the process was started and has not exited.
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill stops the process with sig and waits for it to exit.
func (p *process) kill(sig os.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	<-done
}

// Redis is a redis-server of its own, without persistence.
type Redis struct {
	Addr string
	p    *process
}

// StartRedis starts redis-server on a free loopback port and waits until
// it answers. log receives its output.
func StartRedis(log io.Writer) (*Redis, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	r := &Redis{Addr: addr, p: &process{name: "redis-server", log: log,
		args: []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}}}
	return r, r.Start()
}

// URL is the -redis flag's value for r.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Start starts the server (again) and waits until it answers PING.
func (r *Redis) Start() error {
	if err := r.p.start(); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	return waitUntil(func() error { return c.Ping(context.Background()).Err() })
}

// Kill kills the server (SIGKILL) and waits for it to exit.
func (r *Redis) Kill() { r.p.kill(syscall.SIGKILL) }

// Instance is one cmd/server process.
type Instance struct {
	// Base is its base URL, http://127.0.0.1:port; it keeps it across
	// restarts.
	Base string
	p    *process
}

// StartInstance starts the server binary on a free port with args (plus
// -addr, no -metrics-addr, -insecure-cookies and empty static folders) and waits until
// /healthz answers.
func StartInstance(bin string, log io.Writer, args ...string) (*Instance, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	empty, err := os.MkdirTemp("", "fwr-multitest-")
	if err != nil {
		return nil, err
	}
	// No metrics listener (the default): a fixed address would be one
	// port for every instance.
	args = append([]string{"-addr", addr, "-metrics-addr", "", "-insecure-cookies", "-www", empty, "-js", empty,
		"-session-keys", SessionKey}, args...)
	in := &Instance{Base: "http://" + addr, p: &process{name: bin, args: args, log: log}}
	return in, in.Start()
}

// Start starts the process (again) and waits until /healthz answers.
func (in *Instance) Start() error {
	if err := in.p.start(); err != nil {
		return err
	}
	return waitUntil(func() error {
		res, err := http.Get(in.Base + "/healthz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return errors.New(res.Status)
		}
		return nil
	})
}

// Kill kills the process (SIGKILL: no graceful shutdown) and waits for it.
func (in *Instance) Kill() { in.p.kill(syscall.SIGKILL) }

// Stop stops the process gracefully (SIGTERM) and waits for it.
func (in *Instance) Stop() { in.p.kill(syscall.SIGTERM) }

// waitUntil retries check until it succeeds or startTimeout passes: a
// process's readiness, which nothing announces.
func waitUntil(check func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
