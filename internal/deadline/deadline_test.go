package deadline

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stubborn answers after delay, whatever the request's context says.
type stubborn struct {
	delay  time.Duration
	closed atomic.Bool
}

func (s *stubborn) RoundTrip(*http.Request) (*http.Response, error) {
	time.Sleep(s.delay)
	return &http.Response{StatusCode: 200, Body: closer{Reader: strings.NewReader("ok"), closed: &s.closed}}, nil
}

type closer struct {
	io.Reader
	closed *atomic.Bool
}

func (c closer) Close() error { c.closed.Store(true); return nil }

func TestTransport(t *testing.T) {
	tests := []struct {
		name    string
		delay   time.Duration
		timeout time.Duration
		wantErr error
	}{
		{"answer first", 0, time.Second, nil},
		{"context first", 300 * time.Millisecond, 20 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &stubborn{delay: tt.delay}
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://upstream.test/", nil)
			res, err := Transport(next).RoundTrip(req)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, res)
				assert.Eventually(t, next.closed.Load, 2*time.Second, 10*time.Millisecond, "the late body is closed")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 200, res.StatusCode)
			res.Body.Close()
		})
	}
}
