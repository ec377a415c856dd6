package ctxlite

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCtx(t *testing.T) {
	tests := []struct {
		name    string
		end     func() *Ctx
		wantErr error
	}{
		{"cancel", func() *Ctx { c := New(); c.Cancel(); return c }, context.Canceled},
		{"first end wins", func() *Ctx {
			c, stop := WithTimeout(time.Millisecond)
			<-c.Done()
			stop()
			return c
		}, context.DeadlineExceeded},
		{"timeout", func() *Ctx {
			c, _ := WithTimeout(time.Millisecond)
			<-c.Done()
			return c
		}, context.DeadlineExceeded},
		{"stopped before the timeout", func() *Ctx { c, stop := WithTimeout(time.Hour); stop(); return c }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.end()
			select {
			case <-c.Done():
			default:
				require.Fail(t, "Done is not closed")
			}
			assert.ErrorIs(t, c.Err(), tt.wantErr)
		})
	}
}

func TestCtxNotDoneUntilEnded(t *testing.T) {
	c := New()
	assert.NoError(t, c.Err())
	select {
	case <-c.Done():
		t.Fatal("done before Cancel")
	default:
	}
}

func TestCtxAfterFunc(t *testing.T) {
	c := New()
	ran := make(chan string, 3)
	c.AfterFunc(func() { ran <- "first" })
	stop := c.AfterFunc(func() { ran <- "stopped" })
	assert.True(t, stop(), "stop before the end stops f")
	assert.False(t, stop(), "a second stop reports nothing to stop")
	c.Cancel()
	assert.Equal(t, "first", <-ran)
	late := c.AfterFunc(func() { ran <- "late" })
	assert.Equal(t, "late", <-ran, "registered after the end: runs at once")
	assert.False(t, late())
	assert.Empty(t, ran)
}
