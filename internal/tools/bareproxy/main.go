// Command bareproxy is the baseline of `make bench`: the simplest Go proxy
// hop that does the server's job on a proxied call, an
// httputil.ReverseProxy that maps /api/{path} to {upstream}/{path} and
// turns the accessToken cookie into a bearer header, with a connection
// pool sized like the server's. Nothing else: no CSRF check, no cookie
// guard, no filtering, no logs, no metrics. It prints its base URL on the
// first line of stdout.
//
//	bareproxy -upstream http://127.0.0.1:port [-addr 127.0.0.1:0]
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "`address` to listen on")
	upstream := flag.String("upstream", "", "upstream base `URL`")
	flag.Parse()
	target, err := url.Parse(*upstream)
	if err != nil || target.Host == "" {
		fmt.Fprintln(os.Stderr, "bareproxy: -upstream: want an absolute URL")
		os.Exit(2)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns, transport.MaxIdleConnsPerHost = 1024, 512
	proxy := &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = strings.TrimSuffix(target.Path, "/") + strings.TrimPrefix(pr.In.URL.Path, "/api")
			pr.Out.URL.RawPath = ""
			if c, err := pr.In.Cookie("accessToken"); err == nil {
				pr.Out.Header.Set("Authorization", "Bearer "+c.Value)
			}
		},
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bareproxy:", err)
		os.Exit(1)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(os.Stderr, "bareproxy:", srv.Serve(ln))
	os.Exit(1)
}
