package forwarded

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{" , ", nil, false},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, false},
		{"10.1.2.3/8, 127.0.0.1", []string{"10.0.0.0/8", "127.0.0.1/32"}, false},
		{"::1,fd00::/8", []string{"::1/128", "fd00::/8"}, false},
		{"::ffff:10.0.0.1", []string{"10.0.0.1/32"}, false},
		{"10.0.0.0/33", nil, true},
		{"example.com", nil, true},
	} {
		got, err := Parse(tt.in)
		if tt.wantErr {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		assert.Equal(t, tt.want, s, tt.in)
	}
}

func TestClient(t *testing.T) {
	trusted, err := Parse("10.0.0.0/8")
	require.NoError(t, err)
	for _, tt := range []struct {
		name    string
		remote  string
		tls     bool
		headers map[string]string
		want    Client
	}{
		{"direct, headers ignored", "192.0.2.7:5000", false,
			map[string]string{"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
			Client{For: "192.0.2.7", Proto: "http", Host: "app.test"}},
		{"direct over TLS", "192.0.2.7:5000", true, nil, Client{For: "192.0.2.7", Proto: "https", Host: "app.test"}},
		{"trusted proxy", "10.1.2.3:5000", false,
			map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example"},
			Client{For: "203.0.113.9, 10.1.2.3", Proto: "https", Host: "app.example"}},
		{"trusted proxy, the nearest value wins", "10.1.2.3:5000", false,
			map[string]string{"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, app.example"},
			Client{For: "10.1.2.3", Proto: "https", Host: "app.example"}},
		{"trusted proxy, a bad proto is ignored", "10.1.2.3:5000", false,
			map[string]string{"X-Forwarded-Proto": "gopher"}, Client{For: "10.1.2.3", Proto: "http", Host: "app.test"}},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:5000", false,
			map[string]string{"X-Forwarded-Host": "app.example"}, Client{For: "::ffff:10.1.2.3", Proto: "http", Host: "app.example"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://app.test/", nil)
			r.RemoteAddr = tt.remote
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			assert.Equal(t, tt.want, trusted.Client(r))
			assert.Equal(t, tt.want.Host, trusted.Host(r))
			assert.Equal(t, "app.test", Trusted(nil).Host(r), "no one trusted: the Host header")
		})
	}
}

// Where the runtime hands the handler the client's URL (Workers:
// schemeInURL), its scheme is the client's protocol; natively an absolute
// request URL is the client's claim and changes nothing.
func TestProtoFromTheURL(t *testing.T) {
	for _, inURL := range []bool{false, true} {
		old := schemeInURL
		schemeInURL = inURL
		r := httptest.NewRequest("GET", "https://app.example/api/x", nil)
		r.TLS = nil // no TLS connection: on Workers there is none; natively, an absolute URL over plain http
		want := "http"
		if inURL {
			want = "https"
		}
		assert.Equal(t, want, Trusted(nil).Client(r).Proto, "schemeInURL %v", inURL)
		schemeInURL = old
	}
}
