package tail

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	lines     prometheus.Counter
	bytes     prometheus.Counter
	skipped   *prometheus.CounterVec
	truncated prometheus.Counter
	rotated   prometheus.Counter
	retries   prometheus.Counter
	files     prometheus.Gauge
	stateErrs prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		lines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_tail_lines_total", Help: "Lines appended as records by the file tailer.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_tail_bytes_total", Help: "Bytes of lines appended by the file tailer.",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_tail_skipped_total", Help: "Lines or files the tailer skipped, by reason (line_too_long, compressed, read_error).",
		}, []string{"reason"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_tail_truncations_total", Help: "Files that shrank below their read offset (copytruncate), restarted at 0.",
		}),
		rotated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_tail_rotations_total", Help: "Files renamed or deleted while tailed (read to their end before closing).",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_tail_append_retries_total", Help: "Appends retried after an overload or error.",
		}),
		files: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_tail_open_files", Help: "Files open for tailing.",
		}),
		stateErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_tail_state_write_errors_total", Help: "Checkpoint file writes that failed.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.lines, m.bytes, m.skipped, m.truncated, m.rotated, m.retries, m.files, m.stateErrs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering tail metrics: %w", err)
		}
	}
	return m, nil
}
