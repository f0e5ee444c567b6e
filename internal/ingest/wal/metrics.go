package wal

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	records   prometheus.Counter
	bytes     prometheus.Counter
	fsync     prometheus.Histogram
	backlog   prometheus.Gauge
	truncated prometheus.Counter
	overload  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_wal_appended_records_total", Help: "Records made durable in the write-ahead log.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_wal_appended_bytes_total", Help: "Bytes (framed) made durable in the write-ahead log.",
		}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_wal_fsync_seconds", Help: "Time to write and fsync one group commit of the write-ahead log.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_wal_backlog_bytes", Help: "Bytes appended to the write-ahead log beyond the committed seq.",
		}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_wal_recovered_truncated_bytes_total", Help: "Bytes of torn or corrupt tail cut from the write-ahead log at open.",
		}),
		overload: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_wal_overloaded_total", Help: "Appends refused because the backlog was over its bound.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	reg1 := func(c prometheus.Collector) prometheus.Collector {
		if err != nil {
			return c
		}
		if e := reg.Register(c); e != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(e, &are) {
				// A WAL reopened on the same registry keeps counting on the
				// collectors registered first.
				return are.ExistingCollector
			}
			err = fmt.Errorf("registering wal metrics: %w", e)
		}
		return c
	}
	m.records, _ = reg1(m.records).(prometheus.Counter)
	m.bytes, _ = reg1(m.bytes).(prometheus.Counter)
	m.fsync, _ = reg1(m.fsync).(prometheus.Histogram)
	m.backlog, _ = reg1(m.backlog).(prometheus.Gauge)
	m.truncated, _ = reg1(m.truncated).(prometheus.Counter)
	m.overload, _ = reg1(m.overload).(prometheus.Counter)
	if err != nil {
		return nil, err
	}
	if m.records == nil || m.bytes == nil || m.fsync == nil || m.backlog == nil || m.truncated == nil || m.overload == nil {
		return nil, errors.New("registering wal metrics: a collector of another type holds one of their names")
	}
	return m, nil
}
