package transport_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/transport"
)

// A handler calls the upstream for a user with the tokens from the user's
// cookies; the access token has expired, so the Session refreshes once,
// replays the call, and hands back the rotated pair for the response's
// Set-Cookie.
func Example() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/auth/refresh":
			fmt.Fprint(w, `{"accessToken":"new-access","refreshToken":"new-refresh","expiresIn":60}`)
		case r.Header.Get("Authorization") != "Bearer new-access":
			w.WriteHeader(http.StatusUnauthorized)
		default:
			fmt.Fprint(w, `[{"id":1,"name":"Engineering"}]`)
		}
	}))
	defer api.Close()

	session := transport.New(transport.Config{
		Base:       http.DefaultTransport,
		RefreshURL: api.URL + "/auth/refresh",
	}, authclient.Tokens{AccessToken: "expired-access", RefreshToken: "old-refresh"})

	client := &http.Client{Transport: session}
	res, err := client.Get(api.URL + "/departments")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	tokens, rotated := session.Tokens()
	fmt.Println(res.StatusCode, string(body))
	fmt.Println(rotated, tokens.AccessToken, tokens.RefreshToken)
	// Output:
	// 200 [{"id":1,"name":"Engineering"}]
	// true new-access new-refresh
}
