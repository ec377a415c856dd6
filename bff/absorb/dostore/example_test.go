package dostore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/dostore"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// object stands in for one AbsorbObject (cmd/worker/absorb-object.mjs),
// as far as this example needs: it grants a lease while it holds no value,
// and keeps the value of a completed lease. The real object also
// serialises waiters, ends leases after their lockTTL and values after
// their TTL.
type object struct {
	mu    sync.Mutex
	value string // base64, once a lease completed
}

// Fetch implements dostore.Stub.
func (o *object) Fetch(r *http.Request) (*http.Response, error) {
	var in struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	w := httptest.NewRecorder()
	switch {
	case r.URL.Path == "/acquire" && o.value != "":
		fmt.Fprintf(w, `{"value":%q}`, o.value)
	case r.URL.Path == "/acquire":
		fmt.Fprint(w, `{"lease":"lease-1"}`)
	case r.URL.Path == "/complete":
		o.value = in.Value
		fmt.Fprint(w, `{"ok":true}`)
	default: // release
		fmt.Fprint(w, `{"ok":true}`)
	}
	return w.Result(), nil
}

// On Workers every request runs in a fresh instance: two requests of one
// session, each with its own Absorber, share one upstream refresh through
// the key's Durable Object. cmd/worker's Namespace is
// namespace.Get(namespace.IdFromName(key)).
func ExampleNew() {
	var objects sync.Map // key -> *object
	store := dostore.New(func(key string) (dostore.Stub, error) {
		o, _ := objects.LoadOrStore(key, &object{})
		return o.(*object), nil
	})

	upstreamCalls := 0
	refresh := func(ctx context.Context) (authclient.Tokens, error) {
		upstreamCalls++ // the upstream rotates: refresh-1 is spent
		return authclient.Tokens{AccessToken: "access-2", RefreshToken: "refresh-2", Expires: time.Now().Add(time.Minute)}, nil
	}
	for i := range 2 {
		a := absorb.New(absorb.Config{Store: store})
		t, shared, err := a.Rotate(context.Background(), absorb.Presented{RefreshToken: "refresh-1", AccessToken: "access-1"}, refresh)
		a.Wait()
		fmt.Printf("request %d: %s shared=%t err=%v\n", i+1, t.RefreshToken, shared, err)
	}
	fmt.Println("upstream refreshes:", upstreamCalls)
	// Output:
	// request 1: refresh-2 shared=false err=<nil>
	// request 2: refresh-2 shared=true err=<nil>
	// upstream refreshes: 1
}
