package refresh_test

import (
	"context"
	"fmt"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
)

// A call answered 401 waits for one refresh and is replayed once.
func Example() {
	token := "old"
	p := refresh.New(refresh.Config{
		Refresh: func(refresh.Context) (refresh.Result, error) {
			token = "new"
			fmt.Println("refresh")
			return refresh.Result{Status: 200}, nil
		},
	})
	err := p.Do(refresh.FromContext(context.Background()), func() (int, error) {
		if token != "new" {
			fmt.Println("GET /api/departments: 401")
			return 401, nil
		}
		fmt.Println("GET /api/departments: 200")
		return 200, nil
	})
	fmt.Println("error:", err)
	// Output:
	// GET /api/departments: 401
	// refresh
	// GET /api/departments: 200
	// error: <nil>
}
