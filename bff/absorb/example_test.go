package absorb_test

import (
	"context"
	"fmt"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// Two instances share a Store (here one Memory; across processes, Redis:
// absorb/redisstore). A refresh on the first goes upstream; its duplicate
// on the second, presenting the same tokens, gets the same new pair
// instead of sending the rotated-out refresh token upstream again.
func Example() {
	store := absorb.NewMemory(0, nil)
	instances := []*absorb.Absorber{
		absorb.New(absorb.Config{Store: store}),
		absorb.New(absorb.Config{Store: store}),
	}
	upstreamCalls := 0
	refresh := func(ctx context.Context) (authclient.Tokens, error) {
		upstreamCalls++ // the upstream rotates: refresh-1 is spent
		return authclient.Tokens{AccessToken: "access-2", RefreshToken: "refresh-2", Expires: time.Now().Add(time.Minute)}, nil
	}
	for i, a := range instances {
		t, shared, err := a.Rotate(context.Background(), absorb.Presented{RefreshToken: "refresh-1", AccessToken: "access-1"}, refresh)
		fmt.Printf("instance %d: %s shared=%t err=%v\n", i+1, t.RefreshToken, shared, err)
	}
	for _, a := range instances {
		a.Wait() // at shutdown, before the Store is closed
	}
	fmt.Println("upstream refreshes:", upstreamCalls)
	// Output:
	// instance 1: refresh-2 shared=false err=<nil>
	// instance 2: refresh-2 shared=true err=<nil>
	// upstream refreshes: 1
}
