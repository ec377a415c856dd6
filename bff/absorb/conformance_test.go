package absorb_test

import (
	"testing"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/storetest"
)

func TestMemoryContract(t *testing.T) {
	m := absorb.NewMemory(0, nil)
	storetest.Run(t, m, m, storetest.Hooks{})
}
