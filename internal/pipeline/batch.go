package pipeline

import (
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// Batch is a run of consecutive events from one stream, in source order. Batches
// are recycled: after Release, neither the batch nor its events may be used.
type Batch struct {
	Stream string // stream name (file path, archive!member)
	Format string // decoder format id
	Seq    int    // 0-based position of this batch within its stream
	Events []*event.Event

	slab []event.Event
	pool *batchPool
}

// Release returns the batch to its pool.
func (b *Batch) Release() {
	if b.pool != nil {
		b.pool.put(b)
	}
}

type batchPool struct {
	size int
	p    sync.Pool
}

func newBatchPool(size int) *batchPool {
	bp := &batchPool{size: size}
	bp.p.New = func() any {
		b := &Batch{slab: make([]event.Event, size), Events: make([]*event.Event, 0, size), pool: bp}
		return b
	}
	return bp
}

func (bp *batchPool) get(stream, format string, seq int) *Batch {
	b := bp.p.Get().(*Batch)
	b.Stream, b.Format, b.Seq = stream, format, seq
	b.Events = b.Events[:0]
	return b
}

func (bp *batchPool) put(b *Batch) {
	b.Events = b.Events[:0]
	bp.p.Put(b)
}

// batchSink adapts a decoder's Sink calls to batches sent downstream.
type batchSink struct {
	pool   *batchPool
	stream string
	format string
	cur    *Batch
	seq    int
	send   func(*Batch) bool // false when the run is cancelled
	reject func(*decode.RecordError)
	events int64
	ok     bool
	// since and until bound event time (zero: unbounded); outside counts the
	// events dropped for it
	since, until time.Time
	outside      int64
}

func (s *batchSink) Reject(err *decode.RecordError) { s.reject(err) }

func (s *batchSink) Alloc() *event.Event {
	if s.cur == nil {
		s.cur = s.pool.get(s.stream, s.format, s.seq)
	}
	e := &s.cur.slab[len(s.cur.Events)]
	e.Reset()
	return e
}

func (s *batchSink) Emit(e *event.Event) {
	b := s.cur
	if b == nil || len(b.Events) >= len(b.slab) || e != &b.slab[len(b.Events)] {
		panic("pipeline: Emit of an event not obtained from the last Alloc")
	}
	if (!s.since.IsZero() && e.Timestamp.Before(s.since)) || (!s.until.IsZero() && !e.Timestamp.Before(s.until)) {
		s.outside++ // the slot is reused by the next Alloc
		return
	}
	b.Events = append(b.Events, e)
	s.events++
	if len(b.Events) == len(b.slab) {
		s.flush()
	}
}

func (s *batchSink) flush() {
	if s.cur == nil {
		return
	}
	b := s.cur
	s.cur = nil
	if len(b.Events) == 0 {
		b.Release()
		return
	}
	s.seq++
	if !s.send(b) {
		s.ok = false
	}
}
