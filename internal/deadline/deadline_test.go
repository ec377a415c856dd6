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

// nullBody is a body that must not be touched, as the Workers fetch API's
// null body of a 204 is for syumai/workers' reader.
type nullBody struct{}

func (nullBody) Read([]byte) (int, error) { panic("read of a null body") }
func (nullBody) Close() error             { panic("close of a null body") }

type answer struct{ status int }

func (a answer) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Body: nullBody{}}, nil
}

// An answer without a body by HTTP's rules gets http.NoBody: reading it
// (the auth client reads every answer) does not reach the null body.
func TestBodilessAnswers(t *testing.T) {
	tests := []struct {
		method string
		status int
		empty  bool
	}{
		{"POST", 204, true}, {"POST", 205, true}, {"GET", 304, true}, {"HEAD", 200, true}, {"GET", 101, true}, {"GET", 200, false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(tt.method, "http://upstream.test/auth/logout", nil)
		res, err := Transport(answer{tt.status}).RoundTrip(r)
		require.NoError(t, err)
		if !tt.empty {
			assert.IsType(t, nullBody{}, res.Body, "%s %d: a body is left alone", tt.method, tt.status)
			continue
		}
		b, err := io.ReadAll(res.Body)
		assert.NoError(t, err, "%s %d", tt.method, tt.status)
		assert.Empty(t, b)
		assert.NoError(t, res.Body.Close())
	}
}
