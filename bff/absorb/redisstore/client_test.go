package redisstore

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each URL form gets its go-redis client, with the short timeouts and one
// dial per attempt unless the URL sets them; a URL that does not parse is
// an error that never quotes it (it may hold a password).
func TestNewClient(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		cluster bool
		want    string // the client's kind
	}{
		{"one node", "redis://127.0.0.1:6379/0", false, "node"},
		{"one node, TLS", "rediss://user:pw@redis.example:6380/2", false, "node"},
		{"sentinel", "redis://:pw@127.0.0.1:26379/0?master_name=mymaster&addr=127.0.0.1:26380", false, "failover"},
		{"cluster", "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", true, "cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, map[string]string{"node": "node", "failover": "sentinel", "cluster": "cluster"}[tt.want], Deployment(tt.url, tt.cluster))
			c, err := NewClient(tt.url, tt.cluster)
			require.NoError(t, err)
			defer c.Close()
			switch c := c.(type) {
			case *redis.ClusterClient:
				assert.Equal(t, "cluster", tt.want)
				o := c.Options()
				assert.Equal(t, IOTimeout, o.ReadTimeout)
				assert.Equal(t, 1, o.DialerRetries)
				assert.Len(t, o.Addrs, 3)
			case *redis.Client:
				o := c.Options()
				assert.Equal(t, IOTimeout, o.ReadTimeout)
				assert.Equal(t, DialTimeout, o.DialTimeout)
				assert.Equal(t, 1, o.DialerRetries)
				assert.Equal(t, 1, o.MaxRetries)
				if tt.want == "failover" {
					assert.Equal(t, "FailoverClient", o.Addr, "go-redis names the failover client's address so")
				} else {
					assert.Equal(t, "node", tt.want)
				}
			default:
				t.Fatalf("unexpected client %T", c)
			}
		})
	}

	for _, bad := range []string{"redis://user:s3cret-pw@host:notaport/0", "redis://user:s3cret-pw@host:6379/x", "http://user:s3cret-pw@host:6379/0"} {
		_, err := NewClient(bad, false)
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), "s3cret-pw", bad)
	}
}
