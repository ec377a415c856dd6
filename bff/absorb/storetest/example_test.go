package storetest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/storetest"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// A Broken store over a Memory fails every Acquire, as an unreachable
// Redis does. The Absorber over it still refreshes: it coordinates in
// process instead and reports the fallback. (Run, the contract itself,
// takes a *testing.T: see the package comment.)
func ExampleBroken() {
	store := &storetest.Broken{Store: absorb.NewMemory(0, nil), OnAcquire: storetest.Fails}
	_, _, err := store.Acquire(context.Background(), "key", time.Second)
	fmt.Println("acquire:", err)

	a := absorb.New(absorb.Config{
		Store:      store,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnFallback: func(reason string) { fmt.Println("fallback:", reason) },
	})
	defer a.Wait()
	t, _, err := a.Rotate(context.Background(), absorb.Presented{RefreshToken: "refresh-1", AccessToken: "access-1"}, func(context.Context) (authclient.Tokens, error) {
		return authclient.Tokens{AccessToken: "access-2", RefreshToken: "refresh-2"}, nil
	})
	fmt.Println("refresh:", t.RefreshToken, err)
	// Output:
	// acquire: storetest: store down
	// fallback: error
	// refresh: refresh-2 <nil>
}
