package syslog

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	messages  *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	badFrames *prometheus.CounterVec
	conns     *prometheus.GaugeVec
	refused   *prometheus.CounterVec
	retries   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_syslog_messages_total", Help: "Syslog messages received, by transport.",
		}, []string{"transport"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_syslog_bytes_total", Help: "Bytes of syslog messages received (without framing), by transport.",
		}, []string{"transport"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_syslog_dropped_total", Help: "Syslog messages dropped, by transport and reason (overloaded, too_long, read_error, append_error, shutdown).",
		}, []string{"transport", "reason"}),
		badFrames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_syslog_bad_frames_total", Help: "TCP/TLS frames that closed their connection, by transport and reason (too_long, bad_length, truncated).",
		}, []string{"transport", "reason"}),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_syslog_connections", Help: "Open syslog TCP/TLS connections, by transport.",
		}, []string{"transport"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_syslog_refused_connections_total", Help: "Syslog connections closed before reading, by transport and reason (max_conns, handshake).",
		}, []string{"transport", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_syslog_append_retries_total", Help: "Appends retried after an overload or error (TCP/TLS), by transport.",
		}, []string{"transport"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.messages, m.bytes, m.dropped, m.badFrames, m.conns, m.refused, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering syslog metrics: %w", err)
		}
	}
	return m, nil
}
