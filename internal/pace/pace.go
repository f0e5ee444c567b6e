// Package pace spreads background work thin. A checkpoint of a busy stream
// encodes tens of megabytes: run flat out, it takes a core for a second or
// two, and on a small machine the ingest path, which needs most of the
// cores, falls behind for that long (every event-to-signal latency in that
// window suffers). A Pacer makes such work take a bounded share of one core
// instead: after each slice of work it sleeps in proportion, so the work
// takes longer and the hot path keeps its cores.
//
// The share is measured in wall time, not CPU time: when the machine is
// busier the work is descheduled more and so sleeps more, which is what
// background work should do.
package pace

import (
	"io"
	"time"
)

// Pacer paces one goroutine's work. The zero value and nil do not pace. It
// is not safe for concurrent use.
type Pacer struct {
	share float64       // of a core, (0, 1)
	slice time.Duration // work between pauses
	start time.Time     // of the current slice
	sleep func(time.Duration)
	now   func() time.Time
	slept time.Duration
}

// DefaultSlice is the work a Pacer lets run between pauses.
const DefaultSlice = 2 * time.Millisecond

// New returns a Pacer that keeps the work to about share of one core
// (0 < share < 1); share >= 1 or <= 0 gives a Pacer that does not pace.
func New(share float64) *Pacer {
	if share <= 0 || share >= 1 {
		return nil
	}
	return &Pacer{share: share, slice: DefaultSlice, sleep: time.Sleep, now: time.Now}
}

// Pause ends a slice of work with a sleep in proportion to it, once the
// slice has lasted DefaultSlice; call it often (between records, per write).
func (p *Pacer) Pause() {
	if p == nil || p.share == 0 {
		return
	}
	now := p.now()
	if p.start.IsZero() {
		p.start = now
		return
	}
	worked := now.Sub(p.start)
	if worked < p.slice {
		return
	}
	d := time.Duration(float64(worked) * (1 - p.share) / p.share)
	p.sleep(d)
	p.slept += d
	p.start = p.now()
}

// Slept returns the time the Pacer has slept.
func (p *Pacer) Slept() time.Duration {
	if p == nil {
		return 0
	}
	return p.slept
}

// Writer returns w pausing before each write (w itself when p is nil).
func (p *Pacer) Writer(w io.Writer) io.Writer {
	if p == nil || p.share == 0 {
		return w
	}
	return pacedWriter{p: p, w: w}
}

type pacedWriter struct {
	p *Pacer
	w io.Writer
}

func (pw pacedWriter) Write(b []byte) (int, error) {
	pw.p.Pause()
	return pw.w.Write(b)
}
