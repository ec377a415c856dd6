package main

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// logRequests logs one line per request: method, path (never the query,
// which may carry secrets), status, size and duration. Headers and cookies,
// and so tokens, are never logged. The lines go to an asyncWriter: a
// request never waits for the terminal.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		)
	})
}

// recorder remembers the status and size of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// asyncWriter hands log lines to one goroutine that writes them in
// batches, so that request goroutines only copy their line into a queue.
// When the queue is full a line is dropped and counted, rather than the
// request made to wait; the count is written after the next batch.
type asyncWriter struct {
	lines   chan []byte
	flush   chan chan struct{}
	dropped atomic.Int64
	pool    sync.Pool // of *[]byte, the lines' buffers
}

// newAsyncWriter starts the writing goroutine, which lives as long as the
// process.
func newAsyncWriter(out io.Writer, queue int) *asyncWriter {
	a := &asyncWriter{lines: make(chan []byte, queue), flush: make(chan chan struct{})}
	go a.run(bufio.NewWriterSize(out, 64<<10))
	return a
}

// Write queues a copy of p (one log record).
func (a *asyncWriter) Write(p []byte) (int, error) {
	bp, _ := a.pool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	line := append((*bp)[:0], p...)
	select {
	case a.lines <- line:
	default:
		a.dropped.Add(1)
		a.put(line)
	}
	return len(p), nil
}

// Flush returns once every line queued before it is written.
func (a *asyncWriter) Flush() {
	ack := make(chan struct{})
	a.flush <- ack
	<-ack
}

func (a *asyncWriter) put(line []byte) {
	if cap(line) <= 4<<10 {
		a.pool.Put(&line)
	}
}

func (a *asyncWriter) run(w *bufio.Writer) {
	write := func(line []byte) {
		_, _ = w.Write(line)
		a.put(line)
	}
	drain := func() {
		for {
			select {
			case line := <-a.lines:
				write(line)
			default:
				if n := a.dropped.Swap(0); n > 0 {
					_, _ = w.WriteString("level=WARN msg=\"log lines dropped: the log output is too slow\" count=" + strconv.FormatInt(n, 10) + "\n")
				}
				_ = w.Flush()
				return
			}
		}
	}
	for {
		select {
		case line := <-a.lines:
			write(line)
			drain() // the rest of the batch, then out with it
		case ack := <-a.flush:
			drain()
			close(ack)
		}
	}
}
