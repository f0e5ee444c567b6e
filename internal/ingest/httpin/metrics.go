package httpin

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	records  *prometheus.CounterVec
	rejected *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics() metrics {
	return metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_ingest_http_requests_total",
			Help: "Ingest HTTP requests by endpoint and response status code.",
		}, []string{"endpoint", "code"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_ingest_http_records_total",
			Help: "Records made durable (appended) and acknowledged, by endpoint.",
		}, []string{"endpoint"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_ingest_http_rejected_total",
			Help: "Records (or whole requests, for body-level reasons) refused, by endpoint and reason.",
		}, []string{"endpoint", "reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_ingest_http_bytes_total",
			Help: "Request body bytes read after decompression, by endpoint.",
		}, []string{"endpoint"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_ingest_http_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, append included, by endpoint.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint"}),
	}
}

func (m metrics) register(reg prometheus.Registerer) error {
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.records, m.rejected, m.bytes, m.duration} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
