package cluster

import (
	"bufio"
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/stream"
)

// CorrelatorCheckpointID names the correlator's checkpoint among the store's
// model states.
const CorrelatorCheckpointID = "cluster.correlator"

// CorrelatorStats is what the correlator did and where it is.
type CorrelatorStats struct {
	Position   uint64    `json:"position"` // last signals message read
	Last       uint64    `json:"last"`     // last signals message published (Node.Status reads it)
	Pending    int       `json:"pending"`  // signals read, waiting for the watermark
	Released   time.Time `json:"released,omitzero"`
	Correlated int64     `json:"correlated"`
	Duplicates int64     `json:"duplicates"` // signals given again (a partition replayed after a takeover)
	Rejected   int64     `json:"rejected"`   // messages that did not decode
	Waiting    []int     `json:"waiting_for,omitempty"`
	Idle       int       `json:"idle_partitions"`
	Incidents  int64     `json:"incidents_updated"`
}

// correlatorOptions configures a correlator run.
type correlatorOptions struct {
	Bus         bus.Bus
	Store       store.Store
	Checkpoints stream.Checkpoints
	Partitions  int
	// NewCorrelator builds the correlator with override as the first step of
	// its entity resolution (the bindings each signal carries).
	NewCorrelator   func(override func(detect.Entity) (detect.Entity, bool)) *correlate.Correlator
	OnIncidents     func(context.Context, []correlate.Incident)
	CheckpointEvery time.Duration // wall clock
	IncidentFlush   time.Duration // wall clock
	ExpireEvery     time.Duration // event time
	Now             func() time.Time
	Logger          *slog.Logger
}

// correlatorRun correlates the signals topic: signals wait in pending until
// every partition not idle has a watermark past them, then go to the
// correlator in (time, id) order.
type correlatorRun struct {
	o    correlatorOptions
	corr *correlate.Correlator
	cur  map[detect.Entity]detect.Entity // the signal being added's resolutions

	next     uint64 // next signals message to read
	wm       []int64
	idle     []bool
	reported []bool
	released int64
	lastExp  int64
	pending  relHeap
	pendIDs  map[string]bool
	dups     int64

	dirty     bool
	lastFlush time.Time
	lastCkpt  time.Time

	mu    sync.Mutex
	stats CorrelatorStats
}

func newCorrelatorRun(ctx context.Context, o correlatorOptions) (*correlatorRun, error) {
	r := &correlatorRun{o: o, next: 1, wm: make([]int64, o.Partitions), idle: make([]bool, o.Partitions),
		reported: make([]bool, o.Partitions), pendIDs: map[string]bool{}, released: math.MinInt64}
	r.corr = o.NewCorrelator(func(e detect.Entity) (detect.Entity, bool) {
		to, ok := r.cur[e]
		return to, ok
	})
	if err := r.restore(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Stats returns a copy of the run's figures; safe from any goroutine.
func (r *correlatorRun) Stats() CorrelatorStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Waiting = append([]int(nil), s.Waiting...)
	return s
}

// run reads and correlates until ctx is done, then checkpoints.
func (r *correlatorRun) run(ctx context.Context) error {
	r.lastCkpt, r.lastFlush = r.o.Now(), r.o.Now()
	for ctx.Err() == nil {
		if err := r.step(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		if r.o.Now().Sub(r.lastCkpt) >= r.o.CheckpointEvery {
			if err := r.checkpoint(context.WithoutCancel(ctx)); err != nil {
				return err
			}
		}
	}
	return r.checkpoint(context.WithoutCancel(ctx))
}

func (r *correlatorRun) step(ctx context.Context) error {
	msgs, err := r.o.Bus.Read(ctx, SignalsTopic, 0, r.next, 1024, 200*time.Millisecond)
	if err != nil {
		return fmt.Errorf("reading the signals topic at %d: %w", r.next, err)
	}
	var rejected int64
	for _, m := range msgs {
		r.next = m.Seq + 1
		b, err := DecodeBatch(m.Data, r.o.Partitions)
		if err != nil {
			rejected++
			r.o.Logger.WarnContext(ctx, "a signals message was rejected", "seq", m.Seq, "err", err)
			continue
		}
		r.take(&b)
	}
	n := r.release()
	now := r.o.Now()
	r.dirty = r.dirty || n > 0
	wctx := context.WithoutCancel(ctx)
	if r.dirty && (now.Sub(r.lastFlush) >= r.o.IncidentFlush || len(msgs) == 0) {
		if err := r.flush(wctx); err != nil {
			return err
		}
		r.lastFlush = now
	}
	if r.released != math.MinInt64 && r.released-r.lastExp >= int64(r.o.ExpireEvery) {
		r.lastExp = r.released
		if expired := r.corr.Expire(time.Unix(0, r.released)); len(expired) > 0 {
			if err := stream.StoreIncidents(wctx, r.o.Store, expired, nil); err != nil {
				return err
			}
		}
	}
	r.mu.Lock()
	r.stats.Position, r.stats.Pending = r.next-1, len(r.pending)
	r.stats.Correlated += int64(n)
	r.stats.Rejected += rejected
	r.stats.Duplicates = r.dups
	if r.released != math.MinInt64 && r.released != math.MaxInt64 {
		r.stats.Released = time.Unix(0, r.released).UTC()
	}
	r.stats.Waiting, r.stats.Idle = r.stats.Waiting[:0], 0
	for p := range r.wm {
		switch {
		case r.idle[p]:
			r.stats.Idle++
		case !r.reported[p]:
			r.stats.Waiting = append(r.stats.Waiting, p)
		}
	}
	r.mu.Unlock()
	return nil
}

// take records a batch: the partition's watermark and idleness, and its
// signals (a signal already pending is a redelivery; one the correlator has
// taken it recognises by id).
func (r *correlatorRun) take(b *Batch) {
	p := b.Partition
	r.wm[p] = max(r.wm[p], b.Watermark)
	r.idle[p] = b.Idle
	r.reported[p] = true
	for i := range b.Signals {
		s := &b.Signals[i]
		if r.pendIDs[s.Signal.ID] {
			continue
		}
		r.pendIDs[s.Signal.ID] = true
		heap.Push(&r.pending, *s)
	}
}

// release gives the correlator the pending signals every partition not idle
// has passed, in (time, id) order; a signal at or before what was released
// already (a late one) goes at once.
func (r *correlatorRun) release() int {
	upTo := int64(math.MaxInt64) // every partition idle: everything
	for p := range r.wm {
		if !r.reported[p] {
			return 0 // a partition not heard of yet may hold anything
		}
		if !r.idle[p] {
			upTo = min(upTo, r.wm[p])
		}
	}
	upTo = max(upTo, r.released)
	n := 0
	for len(r.pending) > 0 && r.pending[0].Signal.Time.UnixNano() <= upTo {
		s := heap.Pop(&r.pending).(Released)
		delete(r.pendIDs, s.Signal.ID)
		r.cur = make(map[detect.Entity]detect.Entity, len(s.Resolved))
		for _, res := range s.Resolved {
			r.cur[res.From] = res.To
		}
		up := r.corr.Add(s.Signal)
		r.cur = nil
		if up.Duplicate {
			r.dups++ // a redelivery of a signal an open incident holds
			continue
		}
		if t := s.Signal.Time.UnixNano(); t > r.released {
			r.released = t
		}
		n++
	}
	if upTo != math.MaxInt64 {
		r.released = max(r.released, upTo)
	}
	return n
}

func (r *correlatorRun) flush(ctx context.Context) error {
	updated, merges := r.corr.Updated()
	if err := stream.StoreIncidents(ctx, r.o.Store, updated, merges); err != nil {
		return err
	}
	if len(updated) > 0 && r.o.OnIncidents != nil {
		r.o.OnIncidents(ctx, updated)
	}
	r.dirty = false
	r.mu.Lock()
	r.stats.Incidents += int64(len(updated))
	r.mu.Unlock()
	return nil
}

// corrHead is the correlator checkpoint's head.
type corrHead struct {
	Next     uint64     `json:"next"`
	WM       []int64    `json:"watermarks"`
	Idle     []bool     `json:"idle"`
	Reported []bool     `json:"reported"`
	Released int64      `json:"released"`
	LastExp  int64      `json:"last_expire"`
	Pending  []Released `json:"pending"`
}

const corrMagic = "VGCLCOR1"

// checkpoint stores the incidents, then the run's state (the correlator's
// snapshot after the head), then trims the signals it covers.
func (r *correlatorRun) checkpoint(ctx context.Context) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	h := corrHead{Next: r.next, WM: r.wm, Idle: r.idle, Reported: r.reported, Released: r.released, LastExp: r.lastExp,
		Pending: append([]Released(nil), r.pending...)}
	head, err := json.Marshal(&h)
	if err != nil {
		return fmt.Errorf("encoding the correlator's checkpoint: %w", err)
	}
	err = r.o.Checkpoints.Save(ctx, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		_, _ = bw.WriteString(corrMagic)
		_, _ = bw.Write(binary.AppendUvarint(nil, uint64(len(head))))
		_, _ = bw.Write(head)
		if err := r.corr.Snapshot(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("writing the correlator's checkpoint: %w", err)
	}
	r.lastCkpt = r.o.Now()
	if r.next > 1 {
		if err := r.o.Bus.Trim(ctx, SignalsTopic, 0, r.next); err != nil {
			return fmt.Errorf("trimming the signals topic: %w", err)
		}
	}
	return nil
}

func (r *correlatorRun) restore(ctx context.Context) error {
	blob, err := r.o.Checkpoints.Load(ctx)
	if err != nil || blob == nil {
		return err
	}
	h, snap, err := decodeCorrCheckpoint(blob, r.o.Partitions)
	if err != nil {
		return err
	}
	if err := r.corr.Restore(bytes.NewReader(snap)); err != nil {
		return fmt.Errorf("restoring the correlator: %w", err)
	}
	r.next, r.wm, r.idle, r.reported, r.released, r.lastExp = max(h.Next, 1), h.WM, h.Idle, h.Reported, h.Released, h.LastExp
	for _, s := range h.Pending {
		if !r.pendIDs[s.Signal.ID] {
			r.pendIDs[s.Signal.ID] = true
			heap.Push(&r.pending, s)
		}
	}
	r.o.Logger.InfoContext(ctx, "restored the correlator's checkpoint", "next", r.next, "pending", len(r.pending))
	return nil
}

func decodeCorrCheckpoint(blob []byte, partitions int) (corrHead, []byte, error) {
	var h corrHead
	bad := func(why string) (corrHead, []byte, error) {
		return h, nil, fmt.Errorf("the correlator's checkpoint: %s", why)
	}
	if !bytes.HasPrefix(blob, []byte(corrMagic)) {
		return bad("not a correlator checkpoint")
	}
	rest := blob[len(corrMagic):]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) {
		return bad("its head is cut short")
	}
	if err := json.Unmarshal(rest[k:k+int(n)], &h); err != nil {
		return bad(err.Error())
	}
	if len(h.WM) != partitions || len(h.Idle) != partitions || len(h.Reported) != partitions {
		return bad(fmt.Sprintf("it is of %d partitions, the cluster has %d", len(h.WM), partitions))
	}
	for _, s := range h.Pending {
		if s.Signal.ID == "" {
			return h, nil, errors.New("the correlator's checkpoint: a pending signal has no id")
		}
	}
	return h, rest[k+int(n):], nil
}

// relHeap orders pending signals by time, then id.
type relHeap []Released

func (h relHeap) Len() int { return len(h) }
func (h relHeap) Less(i, j int) bool {
	if c := h[i].Signal.Time.Compare(h[j].Signal.Time); c != 0 {
		return c < 0
	}
	return cmp.Less(h[i].Signal.ID, h[j].Signal.ID)
}
func (h relHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *relHeap) Push(x any)   { *h = append(*h, x.(Released)) }
func (h *relHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = Released{}
	*h = old[:len(old)-1]
	return x
}
