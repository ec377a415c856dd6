package cookies_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// A handler sets a pair's cookies (secure mode: __Host- names); behind
// Guard, the next request's handler reads them by their plain names.
func ExampleCodec() {
	var c cookies.Codec
	w := httptest.NewRecorder()
	c.Set(w, authclient.Tokens{AccessToken: "access-1", RefreshToken: "refresh-1", Expires: time.Now().Add(time.Minute)})
	set := w.Result().Cookies()
	for _, ck := range set {
		fmt.Printf("%s HttpOnly=%t Secure=%t\n", ck.Name, ck.HttpOnly, ck.Secure)
	}

	next := httptest.NewRequest(http.MethodPost, "https://app.example/api/auth/refresh", nil)
	for _, ck := range set {
		next.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value}) // as the browser sends them back
	}
	c.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("read:", cookies.Read(r, cookies.RefreshCookie))
	})).ServeHTTP(httptest.NewRecorder(), next)
	// Output:
	// __Host-accessToken HttpOnly=true Secure=true
	// __Host-refreshToken HttpOnly=true Secure=true
	// __Host-accessExpires HttpOnly=false Secure=true
	// read: refresh-1
}

// Insecure keeps the plain names and drops Secure, for plain-http
// development.
func ExampleCodec_insecure() {
	c := cookies.Codec{Insecure: true}
	fmt.Println(c.Name(cookies.AccessCookie), c.Name(cookies.RefreshCookie), c.Name(cookies.ExpiresCookie))
	// Output:
	// accessToken refreshToken accessExpires
}

// Guard refuses a request that carries a session cookie twice, as when a
// sibling domain planted one.
func ExampleCodec_Guard() {
	var c cookies.Codec
	h := c.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "https://app.example/api/departments", nil)
	r.Header.Add("Cookie", "__Host-refreshToken=mine")
	r.Header.Add("Cookie", "__Host-refreshToken=planted")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code)
	// Output:
	// 400
}
