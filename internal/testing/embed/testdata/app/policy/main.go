// Command policy is an outside module's server-side caller: it logs in to
// the upstream, and after each expiry of the access token calls the API
// once through the refresh policy (refresh.New) and once through the
// RoundTripper (transport.New). Both refresh through the BFF
// (bff.BFF.ExchangeFor; with no browser request to serve, on their own).
// It prints one line per call.
//
//	policy -upstream http://127.0.0.1:8788
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/transport"
)

func main() {
	upstream := flag.String("upstream", "", "the upstream API's base URL (required)")
	flag.Parse()
	if err := run(context.Background(), *upstream); err != nil {
		fmt.Fprintln(os.Stderr, "policy:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	b, err := bff.New(bff.Config{Upstream: u})
	if err != nil {
		return err
	}
	defer b.Wait()
	exchange := b.ExchangeFor(nil) // no browser's request: nothing to share a refresh with
	departments := u.JoinPath("departments").String()
	tokens, err := authclient.NewJSON(u, authclient.HTTP{Transport: http.DefaultTransport}).Login(ctx, "demo", "demo")
	if err != nil {
		return err
	}

	// The policy: a 401 waits for one refresh and the call is replayed.
	if err := expire(ctx, u, tokens.AccessToken); err != nil {
		return err
	}
	p := refresh.New(refresh.Config{Refresh: func(rc refresh.Context) (refresh.Result, error) {
		std, cancel := refresh.StdContext(rc)
		defer cancel()
		next, err := exchange(std, tokens.RefreshToken, tokens.AccessToken)
		if errors.Is(err, bff.ErrRejected) {
			return refresh.Result{Status: http.StatusUnauthorized}, nil
		}
		if err != nil {
			return refresh.Result{}, err
		}
		tokens = next
		return refresh.Result{Status: http.StatusOK, Expiry: next.Expires}, nil
	}})
	var status int
	err = p.Do(refresh.FromContext(ctx), func() (int, error) {
		var err error
		status, err = get(ctx, http.DefaultTransport, departments, tokens.AccessToken)
		return status, err
	})
	if err != nil {
		return err
	}
	fmt.Printf("policy: %d after %d refresh\n", status, p.Stats().Refreshes)

	// The RoundTripper: the same, as an http.Client's Transport.
	if err := expire(ctx, u, tokens.AccessToken); err != nil {
		return err
	}
	start := tokens
	session := transport.New(transport.Config{Base: http.DefaultTransport, Exchange: exchange}, tokens)
	status, err = get(ctx, session, departments, "")
	if err != nil {
		return err
	}
	next, rotated := session.Tokens()
	fmt.Printf("transport: %d rotated=%t new pair=%t\n", status, rotated, next.RefreshToken != start.RefreshToken)
	return nil
}

// get GETs u through rt, with access as the bearer token unless it is
// empty, and returns the status.
func get(ctx context.Context, rt http.RoundTripper, u, access string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	res, err := rt.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, err = io.Copy(io.Discard, res.Body)
	return res.StatusCode, err
}

// expire ends the access token's life now (the demo upstream's POST
// /demo/expire), so that the next call is answered 401.
func expire(ctx context.Context, u *url.URL, access string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.JoinPath("demo", "expire").String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+access)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("POST /demo/expire: %s", res.Status)
	}
	return nil
}
