package redisstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/redisstore"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// Two instances of a server point at one Redis (here an in-process
// miniredis), each with its own Store: a refresh on one and its duplicate
// on the other share one upstream refresh. A BFF takes its Store as
// bff.Config.Store.
func ExampleOpen() {
	mr, err := miniredis.Run()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mr.Close()

	var instances []*absorb.Absorber
	for range 2 {
		store, err := redisstore.Open("redis://" + mr.Addr() + "/0")
		if err != nil {
			fmt.Println(err)
			return
		}
		defer store.Close() // at shutdown, after the Absorber's Wait (bff.BFF.Wait)
		a := absorb.New(absorb.Config{Store: store})
		defer a.Wait()
		instances = append(instances, a)
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
	fmt.Println("upstream refreshes:", upstreamCalls)
	// Output:
	// instance 1: refresh-2 shared=false err=<nil>
	// instance 2: refresh-2 shared=true err=<nil>
	// upstream refreshes: 1
}
