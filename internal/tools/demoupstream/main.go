// Command upstream runs the embedded demo upstream (package upstream) as a
// process of its own, for `make bench`: the server under test and the bare
// proxy it is compared with both call it over loopback. It prints its base
// URL on the first line of stdout.
//
//	upstream [-addr 127.0.0.1:0] [-access-ttl 1h]
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "`address` to listen on")
	ttl := flag.Duration("access-ttl", time.Hour, "access token lifetime")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	srv := &http.Server{Handler: demo.New(demo.Config{AccessTTL: *ttl}), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(os.Stderr, "upstream:", srv.Serve(ln))
	os.Exit(1)
}
