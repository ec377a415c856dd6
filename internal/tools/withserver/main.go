// Command withserver starts the test server (package testserver) on
// loopback, runs a command with FWR_TEST_URL set to its base URL, and
// exits with the command's status. The Makefile runs the GOOS=js tests
// under Node this way.
//
//	withserver [-access-ttl 2s] -- command args...
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testserver"
)

func main() {
	ttl := flag.Duration("access-ttl", time.Minute, "access token lifetime of the demo upstream")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: withserver [flags] -- command args...")
		os.Exit(2)
	}
	root, err := filepath.Abs(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "withserver:", err)
		os.Exit(1)
	}
	srv := testserver.Start(testserver.Config{AccessTTL: *ttl, Root: root})
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "FWR_TEST_URL="+srv.URL, "FWR_TEST_ROOT="+root)
	err = cmd.Run()
	srv.Close()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "withserver:", err)
		os.Exit(1)
	}
}
