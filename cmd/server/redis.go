package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
)

// redisLogger sends go-redis's own messages (reconnections) to slog.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}

// redisAddr returns the host and port of a Redis URL, without its
// password, for the log.
func redisAddr(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
