package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/ingest"
)

// Appender is an ingest node's ingest.Appender: it publishes each record to
// the events partition of its entity key and returns once the bus holds them
// (JetStream acknowledged them: they are replicated and stored as the stream
// is configured), so sources acknowledge only durable records, as with serve's
// write-ahead log. Records of one call keep their order within a partition;
// records in different partitions have no order between them.
//
// A message's ID derives from the record's source, context and bytes: a
// source retrying a batch it got no answer for publishes nothing twice within
// the bus's deduplication window, and beyond it the workers give the record's
// events the same ids (stream.OffsetBits), so it is still one event.
//
// Backpressure: MaxBacklog bounds the bytes each events partition holds
// (records its worker has not yet checkpointed and trimmed). An Append with
// records for a partition over it is refused with an *ingest.OverloadError
// and publishes nothing, so sources push back (HTTP 429, TCP stops reading)
// as serve's write-ahead log makes them; a partition holding nothing always
// takes a call. The sizes are the bus's (State), read at most once a second
// per partition and counted up with what this node publishes in between.
type Appender struct {
	Bus        bus.Bus
	Keyer      *Keyer
	Partitions int
	MaxBacklog int64 // bytes per partition; 0: unbounded

	mu         sync.Mutex
	held       []heldSize // by partition
	overloaded atomic.Int64
}

type heldSize struct {
	bytes int64
	at    time.Time // when read from the bus; zero: never
}

// heldTTL is how long a partition's size read from the bus stands.
const heldTTL = time.Second

// Append implements ingest.Appender.
func (a *Appender) Append(ctx context.Context, recs []ingest.Record) error {
	if len(recs) == 0 {
		return nil
	}
	groups := make([][]bus.Message, a.Partitions)
	sizes := make([]int64, a.Partitions)
	keys := a.Keyer.Keys(ctx, recs)
	for i := range recs {
		r := &recs[i]
		p := bus.Partition(keys[i], a.Partitions)
		m := bus.Message{ID: RecordID(r), Data: ingest.AppendRecord(nil, r)}
		groups[p] = append(groups[p], m)
		sizes[p] += int64(len(m.ID) + len(m.Data))
	}
	if err := a.admit(ctx, sizes); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for p, msgs := range groups {
		if len(msgs) == 0 {
			continue
		}
		g.Go(func() error {
			if err := a.Bus.Publish(gctx, EventsTopic, p, msgs); err != nil {
				return fmt.Errorf("publishing %d records to partition %d: %w", len(msgs), p, err)
			}
			a.grow(p, sizes[p])
			return nil
		})
	}
	return g.Wait()
}

// admit refuses the call when a partition it publishes to is over MaxBacklog.
// A size the bus cannot give is not checked: the publish will report the bus.
func (a *Appender) admit(ctx context.Context, sizes []int64) error {
	if a.MaxBacklog <= 0 {
		return nil
	}
	for p, size := range sizes {
		if size == 0 {
			continue
		}
		held, ok := a.heldOf(ctx, p)
		if ok && held > 0 && held+size > a.MaxBacklog {
			a.overloaded.Add(1)
			return &ingest.OverloadError{RetryAfter: heldTTL, Backlog: held}
		}
	}
	return nil
}

// heldOf returns partition p's size: the last one read within heldTTL plus
// what was published since, or a fresh one from the bus.
func (a *Appender) heldOf(ctx context.Context, p int) (int64, bool) {
	now := time.Now()
	a.mu.Lock()
	if a.held == nil {
		a.held = make([]heldSize, a.Partitions)
	}
	h := a.held[p]
	a.mu.Unlock()
	if !h.at.IsZero() && now.Sub(h.at) < heldTTL {
		return h.bytes, true
	}
	st, err := a.Bus.State(ctx, EventsTopic, p)
	if err != nil {
		return 0, false
	}
	n := st.Bytes
	a.mu.Lock()
	a.held[p] = heldSize{bytes: n, at: now}
	a.mu.Unlock()
	return n, true
}

// grow counts bytes published to p into its size until the next read.
func (a *Appender) grow(p int, n int64) {
	if a.MaxBacklog <= 0 {
		return
	}
	a.mu.Lock()
	if a.held != nil {
		a.held[p].bytes += n
	}
	a.mu.Unlock()
}

// Collectors are the appender's metrics: calls refused for a backlog, and the
// partitions' sizes as last known.
func (a *Appender) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_cluster_overloaded_total",
			Help: "Appends refused because an events partition held more than --max-backlog bytes."},
			func() float64 { return float64(a.overloaded.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_cluster_backlog_bytes",
			Help: "Bytes the events partitions hold (not yet checkpointed and trimmed by their workers), as last read."},
			func() float64 {
				a.mu.Lock()
				defer a.mu.Unlock()
				var sum int64
				for _, h := range a.held {
					sum += h.bytes
				}
				return float64(sum)
			}),
	}
}

// RecordID is a record's message ID: 128 bits of SHA-256 of its source,
// context and bytes (not its receipt time: a retry is the same record).
func RecordID(r *ingest.Record) string {
	h := sha256.New()
	_, _ = h.Write([]byte(r.Source))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(r.Context)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(r.Data)
	var sum [sha256.Size]byte
	return "r" + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

var _ ingest.Appender = (*Appender)(nil)
