package pipeline

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events   *prometheus.CounterVec
	rejected *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	queue    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_decoded_events_total", Help: "Events decoded, by format.",
		}, []string{"format"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_rejected_records_total", Help: "Records rejected by decoders, by format and reason.",
		}, []string{"format", "reason"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_skipped_streams_total", Help: "Streams not decoded, by reason.",
		}, []string{"reason"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_pipeline_queue_depth", Help: "Batches waiting between decoding and detection.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.events, m.rejected, m.skipped, m.queue} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return nil, fmt.Errorf("registering pipeline metrics: %w", err)
		}
	}
	return m, nil
}
