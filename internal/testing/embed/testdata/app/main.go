// Command app is an outside module's server that embeds the BFF: its own
// GET /hello beside the BFF's /api/. It serves on a free loopback port,
// prints the address on stdout, and on SIGINT or SIGTERM shuts down,
// waits for the BFF (bff.BFF.Wait) and prints "stopped".
//
//	app -upstream http://127.0.0.1:8788
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
)

// Hello is the answer of the program's own route.
const Hello = "hello from example.com/app\n"

func main() {
	upstream := flag.String("upstream", "", "the upstream API's base URL (required)")
	flag.Parse()
	if err := run(*upstream); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

func run(upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	b, err := bff.New(bff.Config{Upstream: u, Cookies: cookies.Codec{Insecure: true}})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, Hello)
	})
	mux.Handle("/api/", b)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Println(ln.Addr().String())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	b.Wait() // the refresh results still being written to the store
	fmt.Println("stopped")
	return err
}
