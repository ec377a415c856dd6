package cookies_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// A login seals the session into its cookies (secure mode: __Host-Http-
// names, HttpOnly); behind Guard, the next request's handler has it back.
func ExampleCodec() {
	keys, _ := cookies.ParseKeys("c2Vzc2lvbi1rZXktZm9yLXRoZS1leGFtcGxlLTMyYiE=")
	c := cookies.Codec{Keys: keys}
	w := httptest.NewRecorder()
	login := httptest.NewRequest(http.MethodPost, "https://app.example/api/auth/login", nil)
	s := c.NewSession(authclient.Tokens{AccessToken: "access-1", RefreshToken: "refresh-1",
		Expires: time.Now().Add(time.Minute), User: map[string]any{"sub": "u1", "name": "Ada"}}, "")
	if err := c.Set(w, login, s); err != nil {
		fmt.Println(err)
	}
	var set []*http.Cookie
	for _, ck := range w.Result().Cookies() {
		if ck.MaxAge < 0 {
			continue // deletions of cookies this browser may hold (a larger session's chunks, the previous format)
		}
		set = append(set, ck)
		fmt.Printf("%s HttpOnly=%t holds the token: %t\n", ck.Name, ck.HttpOnly, strings.Contains(ck.Value, "refresh-1"))
	}

	next := httptest.NewRequest(http.MethodPost, "https://app.example/api/auth/refresh", nil)
	for _, ck := range set {
		next.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value}) // as the browser sends them back
	}
	c.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := cookies.From(r)
		fmt.Println("read:", s.RefreshToken, s.Subject, string(s.User))
	})).ServeHTTP(httptest.NewRecorder(), next)
	// Output:
	// __Host-Http-fwr-session.0 HttpOnly=true holds the token: false
	// __Host-Http-fwr-bind HttpOnly=true holds the token: false
	// __Host-accessExpires HttpOnly=false holds the token: false
	// read: refresh-1 u1 {"name":"Ada","sub":"u1"}
}

// Insecure keeps the plain names and drops Secure, for plain-http
// development.
func ExampleCodec_insecure() {
	c := cookies.Codec{Insecure: true}
	fmt.Println(c.Name(cookies.SessionCookie+".0"), c.Name(cookies.ExpiresCookie))
	// Output:
	// fwr-session.0 accessExpires
}

// Guard refuses a request that carries a session cookie twice, as when a
// sibling domain planted one.
func ExampleCodec_Guard() {
	var c cookies.Codec
	h := c.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "https://app.example/api/departments", nil)
	r.Header.Add("Cookie", "__Host-Http-fwr-session.0=mine")
	r.Header.Add("Cookie", "__Host-Http-fwr-session.0=planted")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code)
	// Output:
	// 400
}
