package authclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// The JSON dialect against an upstream that rotates its refresh tokens:
// a login, a refresh, and the reuse of the spent refresh token, which the
// upstream refuses for good (refresh.ErrRejected: the session is over).
func ExampleNewJSON() {
	var spent atomic.Bool // refresh-1 was used
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ RefreshToken string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		switch {
		case r.URL.Path == "/auth/login":
			fmt.Fprint(w, `{"accessToken":"access-1","refreshToken":"refresh-1","expiresIn":60}`)
		case r.URL.Path == "/auth/refresh" && in.RefreshToken == "refresh-1" && spent.CompareAndSwap(false, true):
			fmt.Fprint(w, `{"accessToken":"access-2","refreshToken":"refresh-2","expiresIn":60}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
		}
	}))
	defer api.Close()
	base, _ := url.Parse(api.URL)
	client := authclient.NewJSON(base, authclient.HTTP{Transport: http.DefaultTransport})
	ctx := context.Background()

	t, err := client.Login(ctx, "demo", "demo")
	fmt.Println("login:", t.AccessToken, t.RefreshToken, err)
	t, err = client.Refresh(ctx, t.RefreshToken)
	fmt.Println("refresh:", t.AccessToken, t.RefreshToken, err)
	_, err = client.Refresh(ctx, "refresh-1")
	fmt.Println("reuse:", errors.Is(err, refresh.ErrRejected), err)
	// Output:
	// login: access-1 refresh-1 <nil>
	// refresh: access-2 refresh-2 <nil>
	// reuse: true refresh: rejected: upstream answered 401 invalid_grant
}

// Classify sorts an upstream's refusal: a rejection ends the session, an
// unavailability keeps it (try again later).
func ExampleClassify() {
	for _, a := range []struct {
		status int
		body   string
	}{
		{http.StatusBadRequest, `{"error":"invalid_grant","error_description":"token reused"}`},
		{http.StatusUnauthorized, `{"error":"invalid_client"}`},
		{http.StatusServiceUnavailable, `{"error":"invalid_grant"}`},
	} {
		err := authclient.Classify(a.status, []byte(a.body))
		fmt.Println(a.status, errors.Is(err, refresh.ErrRejected), err.Misconfigured())
	}
	// Output:
	// 400 true false
	// 401 false true
	// 503 false false
}
