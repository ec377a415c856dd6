package main

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics is the Prometheus observe.Observer of the native server.
type metrics struct {
	auth     *prometheus.CounterVec
	proxied  *prometheus.CounterVec
	upstream *prometheus.HistogramVec
	fallback *prometheus.CounterVec
}

// newMetrics registers the server's metrics with reg.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwr_auth_requests_total",
			Help: "Calls to the auth endpoints by endpoint (login, refresh, logout) and outcome.",
		}, []string{"endpoint", "outcome"}),
		proxied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwr_proxied_requests_total",
			Help: "Proxied API calls by status.",
		}, []string{"status"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fwr_upstream_duration_seconds",
			Help:    "Latency of upstream calls by route (auth, api).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
		fallback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwr_absorb_store_fallbacks_total",
			Help: "Refreshes that could not use the shared absorption store, by reason: error (coordinated in process instead) or full (result not kept).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.auth, m.proxied, m.upstream, m.fallback)
	return m
}

func (m *metrics) Auth(endpoint, outcome string) { m.auth.WithLabelValues(endpoint, outcome).Inc() }

func (m *metrics) Proxied(status int) { m.proxied.WithLabelValues(strconv.Itoa(status)).Inc() }

func (m *metrics) Upstream(route string, d time.Duration) {
	m.upstream.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) StoreFallback(reason string) { m.fallback.WithLabelValues(reason).Inc() }
