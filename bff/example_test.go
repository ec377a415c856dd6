package bff_test

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
)

// A server mounts the BFF beside its own routes. The browser logs in
// through it (the tokens land in HttpOnly cookies), calls the API through
// its proxy, and refreshes; every /api/ call carries X-CSRF: 1.
func Example() {
	api := httptest.NewServer(demo.New(demo.Config{})) // the upstream: its auth server and API
	defer api.Close()
	upstream, _ := url.Parse(api.URL)

	b, err := bff.New(bff.Config{
		Upstream: upstream,
		Cookies:  cookies.Codec{Insecure: true}, // plain http, for this example only
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Wait()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") })
	mux.Handle("/api/", b)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	for _, call := range []struct{ method, path, body string }{
		{http.MethodGet, "/hello", ""},
		{http.MethodPost, "/api/auth/login", `{"username":"demo","password":"demo"}`},
		{http.MethodGet, "/api/departments", ""}, // proxied to {upstream}/departments
		{http.MethodPost, "/api/auth/refresh", ""},
	} {
		req, _ := http.NewRequest(call.method, srv.URL+call.path, strings.NewReader(call.body))
		req.Header.Set("X-CSRF", "1")
		if call.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := browser.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		res.Body.Close()
		set := 0 // the cookies kept, not the deletions of chunks a larger session would have had
		for _, c := range res.Cookies() {
			if c.MaxAge >= 0 {
				set++
			}
		}
		fmt.Println(call.method, call.path, res.StatusCode, set, "cookies set")
	}
	// Output:
	// GET /hello 200 0 cookies set
	// POST /api/auth/login 200 3 cookies set
	// GET /api/departments 200 0 cookies set
	// POST /api/auth/refresh 200 3 cookies set
}
