package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/redisstore"
	"github.com/redis/go-redis/v9"
)

// redisLogger sends go-redis's own messages (reconnections, failed dials)
// to slog at debug level: an outage repeats them for every probe, and the
// absorber logs the outage once, with its end.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
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

// openRedis opens the Redis absorption store of -redis (cluster: of
// -redis-cluster), with go-redis's own messages sent to log.
func openRedis(raw string, cluster bool, log *slog.Logger) (*redisstore.Store, error) {
	open := redisstore.Open
	if cluster {
		open = redisstore.OpenCluster
	}
	rs, err := open(raw)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	redis.SetLogger(redisLogger{log.With("component", "redis")})
	log.Info("duplicate refreshes are absorbed through Redis", "addr", redisAddr(raw), "mode", redisstore.Deployment(raw, cluster))
	return rs, nil
}
