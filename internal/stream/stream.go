// Package stream runs Vigil's detection stages over a durable log of raw
// records, continuously: decode, per-event detectors (Sigma, IOC, the IP→host
// bindings), the behavioral models behind a bounded out-of-order window, the
// correlator, and the store. It is what `vigil serve` runs between its sources
// (which append to the write-ahead log) and its API (which reads the store); the
// stages are the ones `vigil hunt` runs over files.
//
// # Event time and the watermark
//
// Detection runs on event time. The watermark is the latest event time seen,
// less the out-of-order tolerance (Options.Lateness): behavioral observations
// and signals wait until the watermark passes them, then go to the models and
// the correlator in event-time order. A record later than the tolerance is
// still processed, as if it happened at the watermark. Per-event detectors
// (Sigma rules, IOC matches) signal at once: their latency is the processing
// time, not the tolerance. When no record arrives for Options.IdleRelease
// (wall clock), everything held is released, so a quiet stream does not hold
// its last signals back.
//
// # At least once, no duplicates
//
// The log is read from a position; a record's work is durable once its signals,
// evidence and incidents are in the store. Every Options.CheckpointEvery the
// processor writes one checkpoint to the store: the position read up to, the
// position to replay from (the oldest record whose observations or signals are
// still held), the watermark, the held signals, the correlator's and the
// behavioral models' and the Sigma correlations' state. After a crash it
// restores the checkpoint and replays the log from the replay position: signals
// are stored idempotently by id (their ids derive from their evidence, whose ids
// derive from the record's source and bytes, so a record a source sent twice is
// one event too), observations and Sigma hits the restored state already
// counted are left out, and signals the restored correlator already took are
// not given to it again; so a replay creates no duplicate signal or incident.
package stream

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior"
	"github.com/vigilsec/vigil/internal/detect/sigma"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/pace"
	"github.com/vigilsec/vigil/internal/store"
)

// Entry is one record of the log with its position (1-based, contiguous).
type Entry struct {
	Seq    uint64
	Record ingest.Record
}

// Log is the durable log the processor reads (the write-ahead log).
type Log interface {
	// Read returns entries from position from on, at most max, waiting up to
	// wait for the first; none when the wait ends.
	Read(ctx context.Context, from uint64, max int, wait time.Duration) ([]Entry, error)
	// Commit says every record at or before seq is handled: the log may drop it.
	Commit(seq uint64) error
}

// Consumer is implemented by logs that bound what waits to be processed (the
// WAL's backlog): the processor reports after each step how far it has
// processed, though it commits only at checkpoints.
type Consumer interface {
	Consumed(seq uint64)
}

// Options configures a Processor.
type Options struct {
	Log      Log               // required
	Registry *formats.Registry // required: the decoders
	Detect   *detect.Engine    // required: per-event detectors, including the behavioral collector
	Behavior *behavior.Engine  // optional: the behavioral models (their Collector must be in Detect)
	// Sigma is the Sigma detector in Detect when it has correlations: it must be
	// Ordered; its correlations then see hits in event-time order at the
	// watermark, and their state is checkpointed.
	Sigma *sigma.Detector
	// Correlator takes the signals in event-time order as the watermark
	// passes them. Exactly one of Correlator and Publish is required.
	Correlator *correlate.Correlator
	// Publish replaces the correlator where correlation runs elsewhere (a
	// worker of a cluster, package cluster): it is given, in order, the
	// signals the watermark passed (sorted by time, then id) with the
	// watermark they were released at, and idle when the log is quiet and
	// nothing is held (what later arrives may be older than the watermark).
	// It runs on the writer goroutine, after the signals are stored and before
	// any later checkpoint is saved: a checkpoint never covers a signal not
	// yet published. It is called only when it has something new to say.
	Publish func(ctx context.Context, signals []detect.Signal, watermark int64, idle bool) error
	Store   store.Store // required
	// Checkpoints keeps the checkpoint (nil: StoreCheckpoints, in Store).
	Checkpoints Checkpoints
	// Suppressed reports whether analysts' verdicts suppress a signal (nil:
	// none). Suppressed signals are stored but not correlated.
	Suppressed func(*detect.Signal) bool
	// OnIncidents receives the incidents each step created or changed, after
	// they are stored (escalation).
	OnIncidents func(ctx context.Context, updated []correlate.Incident)
	// BeforeStep runs in the processor's goroutine before each step: the place
	// to apply what must not race with the models (analysts' "this is normal").
	BeforeStep func(ctx context.Context)

	Lateness        time.Duration // out-of-order tolerance, default 10 s of event time
	IdleRelease     time.Duration // release everything held after this long (wall clock) without records, default 2 s
	MaxSkew         time.Duration // an event time more than this past the watermark counts only up to it, default 1 h
	MaxBatch        int           // records per step, default 4096
	Wait            time.Duration // how long a step waits for records, default 10 ms
	CheckpointEvery time.Duration // wall clock, default 10 s
	// CheckpointShare is the share of one core a checkpoint taken beside the
	// steps may use to snapshot the models and to encode and write itself
	// (package pace); 0 or >= 1: as fast as it can. A shutdown's checkpoint
	// is never paced.
	CheckpointShare float64
	IncidentFlush   time.Duration // wall clock between incident writes, default 500 ms
	ExpireEvery     time.Duration // event time between correlator expiries, default 1 min
	Workers         int           // decode and detect workers, default GOMAXPROCS
	Limits          decode.Limits

	Now        func() time.Time // wall clock, for latency, idleness and checkpoints
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (o *Options) withDefaults() error {
	if o.Log == nil || o.Registry == nil || o.Detect == nil || o.Store == nil {
		return errors.New("stream: Log, Registry, Detect and Store are required")
	}
	if (o.Correlator == nil) == (o.Publish == nil) {
		return errors.New("stream: one of Correlator and Publish is required")
	}
	if o.Checkpoints == nil {
		o.Checkpoints = StoreCheckpoints{Store: o.Store}
	}
	if o.Lateness <= 0 {
		o.Lateness = 10 * time.Second
	}
	if o.IdleRelease <= 0 {
		o.IdleRelease = 2 * time.Second
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = time.Hour
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 4096
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Millisecond
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 10 * time.Second
	}
	if o.IncidentFlush <= 0 {
		o.IncidentFlush = 500 * time.Millisecond
	}
	if o.ExpireEvery <= 0 {
		o.ExpireEvery = time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Limits.MaxLine <= 0 {
		o.Limits.MaxLine = decode.DefaultMaxLine
	}
	if o.Limits.MaxRecord <= 0 {
		o.Limits.MaxRecord = decode.DefaultMaxRecord
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Processor runs the stages over the log. Build it with New; Run drives it.
type Processor struct {
	opts Options
	log  *slog.Logger
	m    metrics

	next      uint64 // next position to read
	readTo    uint64 // last position read
	replayTo  uint64 // positions at or before it are a replay after a restart
	replayWM  int64  // the watermark of the restored checkpoint
	maxSeen   int64  // latest event time seen
	watermark int64
	lastExp   int64
	dirty     bool      // the correlator changed incidents not yet stored
	lastFlush time.Time // wall clock of the last incident write
	held      sigHeap
	heldIDs   map[string]bool
	lastRec   time.Time // wall clock of the last record read
	lastCkpt  time.Time
	// writes the writer goroutine runs in order (Run), and the first failure
	writeQ     chan func() error
	writeErr   chan error
	writerDone chan struct{}
	ckptQueued atomic.Bool
	ckptWG     sync.WaitGroup // the checkpoint being saved beside the writer
	// the behavioral models' goroutine (Run): jobs are watermarks
	behJobs    chan modelJob
	behResults chan modelResult
	behBusy    bool  // a job is running
	behSent    int64 // the last watermark handed to the models
	behDone    int64 // the models have released everything up to here
	// a checkpoint whose models' part was asked of their goroutine
	ckptWanted, ckptSent bool
	ckptReadTo           uint64
	ckptStart            time.Time
	// what Publish was last told
	pubWM   int64
	pubIdle bool
	pubDone bool
	pubAt   time.Time

	statsMu sync.Mutex
	stats   Stats
}

// Stats is what the processor did since it started.
type Stats struct {
	Records    int64     `json:"records"`
	Events     int64     `json:"events"`
	Rejected   int64     `json:"rejected"`
	Unknown    int64     `json:"unknown_format"` // records no decoder recognised
	Signals    int64     `json:"signals"`
	Suppressed int64     `json:"suppressed"`
	Incidents  int64     `json:"incidents_updated"`
	Position   uint64    `json:"position"` // last log position read
	Watermark  time.Time `json:"watermark"`
	Held       int       `json:"held_signals"`
	// ModelsRunning: the behavioral models are working on released
	// observations; their signals are still to come.
	ModelsRunning bool `json:"models_running"`
	// Idle (with Options.Publish): the log is quiet and every signal is
	// published.
	Idle bool `json:"idle,omitempty"`
}

// New builds a processor. It restores the checkpoint, if any:
// the correlator's and the behavioral models' state, the held signals and the
// position to replay the log from.
func New(ctx context.Context, opts Options) (*Processor, error) {
	if err := opts.withDefaults(); err != nil {
		return nil, err
	}
	p := &Processor{opts: opts, log: opts.Logger.With("component", "stream"), next: 1, heldIDs: map[string]bool{}}
	var err error
	if p.m, err = newMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	if err := p.restore(ctx); err != nil {
		return nil, err
	}
	p.stats.Position = p.readTo // a restored checkpoint read up to here
	return p, nil
}

// Stats returns a copy of the processor's counters; safe from any goroutine.
func (p *Processor) Stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return p.stats
}

func (p *Processor) count(f func(*Stats)) {
	p.statsMu.Lock()
	f(&p.stats)
	p.statsMu.Unlock()
}

// Run processes the log until ctx is done, then writes a final checkpoint.
//
// Incidents and checkpoints are written by a second goroutine, in the order
// the processor queued them, so a step never waits for the store beyond its
// signals (which the latency target is about); a checkpoint is queued after
// the incidents it covers.
func (p *Processor) Run(ctx context.Context) error {
	p.lastCkpt = p.opts.Now()
	p.lastRec = p.opts.Now()
	p.startWriter()
	defer p.stopWriter()
	if p.opts.Behavior != nil {
		p.startModels()
		defer p.stopModels()
	}
	for {
		if ctx.Err() != nil {
			return p.checkpoint(context.WithoutCancel(ctx), true)
		}
		if err := p.Step(ctx); err != nil {
			if ctx.Err() != nil {
				return p.checkpoint(context.WithoutCancel(ctx), true)
			}
			return errors.Join(err, p.drain())
		}
		if now := p.opts.Now(); now.Sub(p.lastCkpt) >= p.opts.CheckpointEvery && !p.ckptQueued.Load() && !p.ckptWanted {
			if p.behJobs != nil {
				// The models snapshot themselves on their goroutine; the rest
				// is captured when that is done (collectModels).
				p.ckptWanted, p.ckptReadTo, p.ckptStart, p.lastCkpt = true, p.readTo, now, now
			} else if err := p.checkpoint(context.WithoutCancel(ctx), false); err != nil {
				// not cut short by a shutdown: a checkpoint is written whole
				return err
			}
		}
	}
}

// startModels starts the goroutine that runs the behavioral models: a step
// hands it a watermark and goes on; the released signals come back to a later
// step. The models' work (periodic evaluations of every tracked entity can take
// hundreds of milliseconds) then never holds back per-event signals.
func (p *Processor) startModels() {
	p.behJobs = make(chan modelJob)
	p.behResults = make(chan modelResult, 1)
	p.behDone = p.watermark
	p.behSent = p.watermark
	go func() {
		defer close(p.behResults)
		for job := range p.behJobs {
			if job.snapshot {
				snap, err := snapshotModels(p.opts.Behavior, pace.New(p.opts.CheckpointShare))
				p.behResults <- modelResult{snap: snap, err: err}
				continue
			}
			var out []detect.Signal
			err := p.opts.Behavior.Release(context.Background(), job.upTo, func(s detect.Signal) { out = append(out, s) })
			p.behResults <- modelResult{signals: out, upTo: job.upTo, err: err}
		}
	}()
}

func (p *Processor) stopModels() {
	if p.behJobs == nil {
		return
	}
	close(p.behJobs)
	for range p.behResults { //nolint:revive // drain: the worker ends after its job
	}
	p.behJobs = nil
}

// modelJob is work for the models' goroutine: release up to a watermark, or
// snapshot for a checkpoint.
type modelJob struct {
	upTo     int64
	snapshot bool
}

// modelResult is what one run of the models released, or their snapshot.
type modelResult struct {
	signals []detect.Signal
	upTo    int64
	snap    *modelSnapshot
	err     error
}

// collectModels takes the models' finished run, if any (waiting for it when
// block is set and one is running), appending its signals to out.
func (p *Processor) collectModels(ctx context.Context, block bool, out *[]detect.Signal) error {
	if !p.behBusy {
		return nil
	}
	var res modelResult
	if block {
		res = <-p.behResults
	} else {
		select {
		case res = <-p.behResults:
		default:
			return nil
		}
	}
	p.behBusy = false
	if res.err != nil {
		return fmt.Errorf("running the behavioral models: %w", res.err)
	}
	if res.snap != nil {
		// the models' part of the checkpoint requested at ckptStart: now the rest
		p.ckptWanted, p.ckptSent = false, false
		return p.capture(context.WithoutCancel(ctx), res.snap, p.ckptReadTo, p.ckptStart, false)
	}
	p.behDone = max(p.behDone, res.upTo)
	*out = append(*out, res.signals...)
	return nil
}

// startWriter starts the goroutine that runs queued writes in order.
func (p *Processor) startWriter() {
	p.writeQ = make(chan func() error, 64)
	p.writeErr = make(chan error, 1)
	p.writerDone = make(chan struct{})
	go func() {
		defer close(p.writerDone)
		failed := false
		for w := range p.writeQ {
			if failed {
				continue // after a failed write nothing later is written
			}
			if err := w(); err != nil {
				failed = true
				select {
				case p.writeErr <- err:
				default: // a failed checkpoint is being reported
				}
			}
		}
	}()
}

func (p *Processor) stopWriter() {
	if p.writeQ == nil {
		return
	}
	close(p.writeQ)
	<-p.writerDone
	p.ckptWG.Wait()
	p.writeQ = nil
}

// enqueue runs w after the writes queued before it: on the writer goroutine
// when one runs (Run), else at once. It returns a failed earlier write's error.
func (p *Processor) enqueue(w func() error) error {
	if p.writeQ == nil {
		return w()
	}
	select {
	case err := <-p.writeErr:
		return err
	default:
	}
	p.writeQ <- w
	return nil
}

// drain waits until every queued write is done and returns the first error.
func (p *Processor) drain() error {
	if p.writeQ == nil {
		return nil
	}
	done := make(chan struct{})
	p.writeQ <- func() error { close(done); return nil }
	select {
	case <-done:
	case err := <-p.writeErr:
		return err
	}
	p.ckptWG.Wait() // a checkpoint being saved
	select {
	case err := <-p.writeErr:
		return err
	default:
		return nil
	}
}

// Step reads one batch of records (waiting up to Options.Wait) and runs it
// through every stage, storing what it produced.
func (p *Processor) Step(ctx context.Context) error {
	var released []detect.Signal
	if p.behJobs != nil {
		// what the models finished since the last step
		if err := p.collectModels(ctx, false, &released); err != nil {
			return err
		}
	}
	if p.opts.BeforeStep != nil && !p.behBusy {
		p.opts.BeforeStep(ctx) // the models are idle: feedback may touch them
	}
	entries, err := p.opts.Log.Read(ctx, p.next, p.opts.MaxBatch, p.opts.Wait)
	if err != nil {
		return fmt.Errorf("reading the log at %d: %w", p.next, err)
	}
	now := p.opts.Now()
	var phases [4]time.Duration // detect, per-event signals out, releases, correlate
	if len(entries) > 0 {
		p.lastRec = now
		signals, meta, evidence, err := p.detect(ctx, entries)
		if err != nil {
			return err
		}
		phases[0] = p.opts.Now().Sub(now)
		// Per-event signals leave before the models run: their latency is
		// decoding and matching, not the models' work.
		if err := p.storeSignals(ctx, signals, meta, evidence); err != nil {
			return err
		}
		phases[1] = p.opts.Now().Sub(now) - phases[0]
		last := entries[len(entries)-1].Seq
		p.next, p.readTo = last+1, last
		p.count(func(st *Stats) { st.Records += int64(len(entries)); st.Position = last })
		p.m.records.Add(float64(len(entries)))
		if c, ok := p.opts.Log.(Consumer); ok {
			defer c.Consumed(last)
		}
	}
	release := p.watermark
	if len(entries) == 0 && now.Sub(p.lastRec) >= p.opts.IdleRelease {
		release = p.maxSeen // a quiet stream: nothing later is coming soon
	}
	t0 := p.opts.Now()
	if p.opts.Sigma != nil {
		p.opts.Sigma.Release(release, func(s detect.Signal) { released = append(released, s) })
	}
	corrUpTo := release
	switch {
	case p.opts.Behavior == nil:
	case p.behJobs != nil:
		// The models run beside the next steps; the correlator waits for them.
		switch {
		case p.behBusy:
		case p.ckptWanted && !p.ckptSent:
			p.behJobs <- modelJob{snapshot: true}
			p.behBusy, p.ckptSent = true, true
		case release > p.behSent:
			p.behJobs <- modelJob{upTo: release}
			p.behBusy, p.behSent = true, release
		}
		corrUpTo = min(release, p.behDone)
	default:
		err := p.opts.Behavior.Release(ctx, release, func(s detect.Signal) { released = append(released, s) })
		if err != nil {
			return fmt.Errorf("running the behavioral models: %w", err)
		}
	}
	if err := p.storeSignals(ctx, released, nil, nil); err != nil {
		return err
	}
	t1 := p.opts.Now()
	phases[2] = t1.Sub(t0)
	if p.opts.Publish != nil {
		idle := len(entries) == 0 && now.Sub(p.lastRec) >= p.opts.IdleRelease && corrUpTo >= p.maxSeen && !p.behBusy && p.behDone >= p.behSent
		err = p.publish(ctx, corrUpTo, idle)
	} else {
		err = p.correlate(ctx, corrUpTo, now, corrUpTo == p.maxSeen)
	}
	phases[3] = p.opts.Now().Sub(t1)
	if total := p.opts.Now().Sub(now); total > 250*time.Millisecond {
		p.log.InfoContext(ctx, "slow stream step", "records", len(entries), "total", total, "detect", phases[0],
			"signals_out", phases[1], "release", phases[2], "correlate", phases[3])
	}
	return err
}

// detect decodes entries and runs the per-event detectors over them, on the
// workers; it returns the signals in a deterministic order with the evidence
// events they cite.
func (p *Processor) detect(ctx context.Context, entries []Entry) ([]detect.Signal, []sigMeta, []store.Evidence, error) {
	chunks := split(entries, p.opts.Workers)
	results := make([]chunkResult, len(chunks))
	var wg sync.WaitGroup
	for i := range chunks {
		wg.Go(func() { results[i] = p.runChunk(ctx, chunks[i]) })
	}
	wg.Wait()
	var signals []detect.Signal
	var meta []sigMeta
	var evidence []store.Evidence
	for i := range results {
		r := &results[i]
		if r.err != nil {
			return nil, nil, nil, r.err
		}
		signals = append(signals, r.signals...)
		meta = append(meta, r.meta...)
		evidence = append(evidence, r.evidence...)
		p.count(func(st *Stats) { st.Events += r.events; st.Rejected += r.rejected; st.Unknown += r.unknown })
		p.m.events.Add(float64(r.events))
		p.m.rejected.Add(float64(r.rejected + r.unknown))
		p.advance(r.times)
	}
	return signals, meta, evidence, nil
}

// advance moves the watermark with a chunk's event times, in log order. A
// time within MaxSkew past the newest so far moves it, so a stream's records
// spanning hours (a partition's batch gathers them in one chunk) move it
// through their steps; times further out (a clock gone wrong, a hostile
// record) count, once per chunk however many there are, only up to MaxSkew
// past it. A staircase of times climbing in steps under MaxSkew moves it as
// far as it climbs: the bound is against a clock gone wrong, not a source
// that means to push the watermark (docs/SERVE.md, "Event time").
func (p *Processor) advance(times []int64) {
	skew := int64(p.opts.MaxSkew)
	var far int64
	for _, t := range times {
		switch {
		case p.maxSeen == 0 || t <= p.maxSeen+skew:
			p.maxSeen = max(p.maxSeen, t)
		case t > far:
			far = t
		}
	}
	if far != 0 {
		p.maxSeen = max(p.maxSeen, min(far, p.maxSeen+skew))
	}
	if wm := p.maxSeen - int64(p.opts.Lateness); wm > p.watermark {
		p.watermark = wm
	}
}

// sigMeta is what the processor knows of a per-event signal from its record.
type sigMeta struct {
	received time.Time // when the newest record it cites was received
	replayed bool      // every record it cites was read before the restored checkpoint, which had correlated it
}

type chunkResult struct {
	signals  []detect.Signal
	meta     []sigMeta
	evidence []store.Evidence
	events   int64
	rejected int64
	unknown  int64
	times    []int64 // event times (unix ns) in log order, zero times left out
	err      error
}

// split cuts entries into chunks that each decode as one stream
// (ingest.Streams), in log order, at most about len/n records each so that n
// workers share the batch.
func split(entries []Entry, n int) [][]Entry {
	size := max(64, (len(entries)+n-1)/n)
	groups := ingest.Streams(len(entries), func(i int) *ingest.Record { return &entries[i].Record })
	sorted := entries
	if !ingest.InOrder(groups) {
		sorted = make([]Entry, 0, len(entries))
		for _, g := range groups {
			for _, i := range g {
				sorted = append(sorted, entries[i])
			}
		}
	}
	var out [][]Entry
	start := 0
	for _, g := range groups {
		end := start + len(g)
		for c := start; c < end; c += size {
			out = append(out, sorted[c:min(c+size, end)])
		}
		start = end
	}
	return out
}

// OffsetBits is how many low bits of a streamed event's Origin.Offset hold its
// byte offset within its record; the bits above hold a hash of the record's
// bytes. An event's id (source, offset) is then the same however the log is
// batched, and a record a source sent twice (a retry after a lost
// acknowledgement) yields the same event, signals and incidents: redelivery is
// idempotent. Origin.Pos holds the record's log position.
const OffsetBits = 20

func recordOffset(data []byte, within int64) int64 {
	return int64(xxhash.Sum64(data)&^(1<<63)&^(1<<OffsetBits-1)) | min(within, 1<<OffsetBits-1)
}

// runChunk decodes a chunk (runs of one stream) and runs the detectors.
func (p *Processor) runChunk(ctx context.Context, chunk []Entry) chunkResult {
	var res chunkResult
	first := &chunk[0].Record
	sink := sinks.Get().(*eventSink)
	defer func() { sink.reset(); sinks.Put(sink) }()
	// The stream's bytes: the context, then each record on its own line.
	buf := &sink.buf
	starts := slices.Grow(sink.starts[:0], len(chunk))[:len(chunk)]
	sink.starts = starts
	if len(first.Context) > 0 {
		buf.Write(first.Context)
		if first.Context[len(first.Context)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	ctxLen := int64(buf.Len())
	for i := range chunk {
		starts[i] = int64(buf.Len())
		buf.Write(chunk[i].Record.Data)
		buf.WriteByte('\n')
	}
	format := first.Format
	var f decode.Format
	var err error
	if format != "" {
		f, err = p.opts.Registry.Get(format)
	} else {
		var d formats.Detection
		head := buf.Bytes()[:min(buf.Len(), 64<<10)]
		d, err = p.opts.Registry.Detect(head)
		f = d.Format
	}
	if err != nil {
		res.unknown = int64(len(chunk))
		p.log.DebugContext(ctx, "records not decoded", "source", first.Source, "records", len(chunk), "err", err)
		return res
	}
	in := decode.Input{R: bytes.NewReader(buf.Bytes()), Source: first.Source, Limits: p.opts.Limits, ModTime: first.Received}
	if derr := decode.Safe(ctx, f.New(), in, sink); derr != nil {
		p.log.WarnContext(ctx, "decoding records", "source", first.Source, "format", f.ID, "err", derr)
	}
	res.rejected = sink.rejected
	// Events name their record's log position: ids do not depend on batching.
	events := sink.events[:0]
	for _, e := range sink.events {
		off := e.Origin.Offset
		if off < ctxLen {
			continue // a header line the decoder turned into an event
		}
		i, found := slices.BinarySearch(starts, off)
		if !found {
			i--
		}
		e.Origin.Source, e.Origin.Format = chunk[i].Record.Source, f.ID
		e.Origin.Offset = recordOffset(chunk[i].Record.Data, off-starts[i])
		e.Origin.Line, e.Origin.Pos = 0, chunk[i].Seq
		if !e.Timestamp.IsZero() {
			res.times = append(res.times, e.Timestamp.UnixNano())
		}
		events = append(events, e)
	}
	res.events = int64(len(events))
	if len(events) == 0 {
		return res
	}
	var byID map[string]*event.Event
	recv := func(pos uint64) time.Time { // a chunk is in log order, not always contiguous
		i, _ := slices.BinarySearchFunc(chunk, pos, func(e Entry, pos uint64) int { return cmp.Compare(e.Seq, pos) })
		return chunk[min(i, len(chunk)-1)].Record.Received
	}
	err = p.opts.Detect.Process(ctx, events, func(s detect.Signal) {
		if len(s.Evidence) > 0 && byID == nil {
			byID = make(map[string]*event.Event, len(events))
			for _, e := range events {
				byID[e.ID()] = e
			}
		}
		m := sigMeta{replayed: p.replayTo > 0 && len(s.Evidence) > 0 && s.Time.UnixNano() <= p.replayWM}
		for _, ev := range s.Evidence {
			e, ok := byID[ev.EventID]
			if !ok {
				m.replayed = false
				continue
			}
			res.evidence = append(res.evidence, store.Evidence{
				EventID: ev.EventID, Time: e.Timestamp, Source: e.Origin.Source, Format: e.Origin.Format, JSON: e.AppendJSON(nil),
			})
			if r := recv(e.Origin.Pos); r.After(m.received) {
				m.received = r
			}
			if e.Origin.Pos > p.replayTo {
				m.replayed = false
			}
		}
		res.signals = append(res.signals, s)
		res.meta = append(res.meta, m)
	})
	if err != nil {
		res.err = fmt.Errorf("detecting: %w", err)
	}
	return res
}

// eventSink collects a decoder's events in slabs (stable pointers). Sinks are
// pooled: a chunk's events are done with when runChunk returns (evidence is
// rendered, observations and Sigma hits are copies), so the next chunk reuses
// the events and the capacity of their slices.
type eventSink struct {
	slabs    [][]event.Event
	n        int // events handed out
	events   []*event.Event
	rejected int64
	buf      bytes.Buffer
	starts   []int64
}

const slabSize = 256

func (s *eventSink) Alloc() *event.Event {
	if s.n == len(s.slabs)*slabSize {
		s.slabs = append(s.slabs, make([]event.Event, slabSize))
	}
	e := &s.slabs[s.n/slabSize][s.n%slabSize]
	s.n++
	e.Reset()
	return e
}

func (s *eventSink) reset() {
	s.n, s.rejected = 0, 0
	clear(s.events)
	s.events = s.events[:0]
	s.buf.Reset()
	s.starts = s.starts[:0]
}

var sinks = sync.Pool{New: func() any { return new(eventSink) }}

func (s *eventSink) Emit(e *event.Event) { s.events = append(s.events, e) }

func (s *eventSink) Reject(*decode.RecordError) { s.rejected++ }

// storeSignals stores signals and their evidence (idempotently) and holds the
// ones to correlate until the watermark passes them.
func (p *Processor) storeSignals(ctx context.Context, signals []detect.Signal, meta []sigMeta, evidence []store.Evidence) error {
	if len(signals) == 0 {
		return nil
	}
	// Signals are out of detection now: the event-to-signal latency. They are
	// stored (evidence first) by the writer, in order, before any incident or
	// checkpoint queued after them.
	emitted := p.opts.Now()
	var received []time.Time
	for i := range min(len(meta), len(signals)) {
		if r := meta[i].received; !r.IsZero() {
			p.m.latency.Observe(emitted.Sub(r).Seconds())
			received = append(received, r)
		}
	}
	wctx := context.WithoutCancel(ctx)
	toStore := slices.Clone(signals)
	if err := p.enqueue(func() error {
		if len(evidence) > 0 {
			if err := p.opts.Store.PutEvidence(wctx, evidence); err != nil {
				return fmt.Errorf("storing evidence: %w", err)
			}
		}
		if err := p.opts.Store.PutSignals(wctx, toStore); err != nil {
			return fmt.Errorf("storing signals: %w", err)
		}
		stored := p.opts.Now()
		for _, r := range received {
			p.m.storeLatency.Observe(stored.Sub(r).Seconds())
		}
		return nil
	}); err != nil {
		return err
	}
	var suppressed int64
	for i := range signals {
		s := &signals[i]
		p.m.signals.WithLabelValues(s.DetectorID).Inc()
		var m sigMeta
		if i < len(meta) {
			m = meta[i] // per-event signals come first; released ones have none
		}
		if p.opts.Suppressed != nil && p.opts.Suppressed(s) {
			suppressed++
			continue
		}
		if m.replayed || p.heldIDs[s.ID] {
			continue
		}
		heap.Push(&p.held, *s)
		p.heldIDs[s.ID] = true
	}
	p.count(func(st *Stats) { st.Signals += int64(len(signals)); st.Suppressed += suppressed })
	return nil
}

// correlate gives the held signals the watermark passed to the correlator,
// stores the incidents that changed and expires the idle ones.
func (p *Processor) correlate(ctx context.Context, upTo int64, now time.Time, force bool) error {
	n := p.popHeld(upTo, func(s detect.Signal) { p.opts.Correlator.Add(s) })
	// Incidents are written at most every IncidentFlush: a busy incident
	// taking signals every step is written once, at its newest version.
	p.dirty = p.dirty || n > 0
	wctx := context.WithoutCancel(ctx) // queued writes finish even when a shutdown begins
	if p.dirty && (force || now.Sub(p.lastFlush) >= p.opts.IncidentFlush) {
		updated, merges := p.opts.Correlator.Updated()
		onIncidents := p.opts.OnIncidents
		if err := p.enqueue(func() error {
			if err := StoreIncidents(wctx, p.opts.Store, updated, merges); err != nil {
				return err
			}
			if len(updated) > 0 && onIncidents != nil {
				onIncidents(wctx, updated)
			}
			return nil
		}); err != nil {
			return err
		}
		p.dirty, p.lastFlush = false, now
		p.count(func(st *Stats) { st.Incidents += int64(len(updated)) })
	}
	if upTo-p.lastExp >= int64(p.opts.ExpireEvery) && upTo > 0 {
		p.lastExp = upTo
		shed := p.opts.Correlator.Stats().Shed
		expired := p.opts.Correlator.Expire(time.Unix(0, upTo))
		if n := p.opts.Correlator.Stats().Shed - shed; n > 0 {
			p.m.shed.Add(float64(n))
			p.log.WarnContext(ctx, "incidents closed early: the open incidents held more signals than the correlator's bound",
				"closed", n, "open", p.opts.Correlator.Stats().Open)
		}
		if len(expired) > 0 {
			if err := p.enqueue(func() error { return StoreIncidents(wctx, p.opts.Store, expired, nil) }); err != nil {
				return err
			}
		}
	}
	p.countHeld(upTo, false)
	return nil
}

// popHeld hands fn the held signals at or before upTo, earliest first, and
// says how many.
func (p *Processor) popHeld(upTo int64, fn func(detect.Signal)) int {
	n := 0
	for len(p.held) > 0 && p.held[0].Time.UnixNano() <= upTo {
		s := heap.Pop(&p.held).(detect.Signal)
		delete(p.heldIDs, s.ID)
		fn(s)
		n++
	}
	return n
}

// countHeld records what is held, the watermark released at and idleness.
func (p *Processor) countHeld(upTo int64, idle bool) {
	p.count(func(st *Stats) {
		st.Held = len(p.held)
		st.ModelsRunning = p.behBusy || (p.behJobs != nil && p.behDone < p.behSent)
		st.Idle = idle
		if upTo > 0 {
			st.Watermark = time.Unix(0, upTo).UTC()
		}
	})
}

// watermarkEvery is how often (wall clock) a watermark that moved is
// published without signals: each step's would be a message every few
// milliseconds per partition.
const watermarkEvery = 100 * time.Millisecond

// publish hands the held signals the watermark passed to Options.Publish,
// with the watermark, on the writer goroutine (after the signals are stored).
func (p *Processor) publish(ctx context.Context, upTo int64, idle bool) error {
	var out []detect.Signal
	p.popHeld(upTo, func(s detect.Signal) { out = append(out, s) })
	idle = idle && len(p.held) == 0
	wm := max(upTo, p.pubWM)
	p.countHeld(wm, idle)
	now := p.opts.Now()
	if len(out) == 0 && idle == p.pubIdle && p.pubDone && (wm == p.pubWM || now.Sub(p.pubAt) < watermarkEvery) {
		return nil // nothing new, or only the watermark, said less than watermarkEvery ago
	}
	p.pubWM, p.pubIdle, p.pubDone, p.pubAt = wm, idle, true, now
	wctx := context.WithoutCancel(ctx)
	return p.enqueue(func() error {
		if err := p.opts.Publish(wctx, out, wm, idle); err != nil {
			return fmt.Errorf("publishing %d signals: %w", len(out), err)
		}
		return nil
	})
}

// BatchIncidentStore is implemented by stores that write many incidents in
// one transaction (store/sqlite): UpsertIncident for each, where a version the
// store already has is skipped rather than an error.
type BatchIncidentStore interface {
	UpsertIncidents(ctx context.Context, incs []correlate.Incident) (skipped int, err error)
}

// StoreIncidents writes incidents the correlator created or changed, newer
// versions only (a replay writes nothing twice), keeping an analyst's status,
// and marks merged ones.
func StoreIncidents(ctx context.Context, st store.Store, updated []correlate.Incident, merges []correlate.Merge) error {
	// The store keeps an analyst's status and assignee, and refuses a version
	// it already has or has newer (a replay): nothing to do then.
	if b, ok := st.(BatchIncidentStore); ok && len(updated) > 1 {
		if _, err := b.UpsertIncidents(ctx, updated); err != nil {
			return fmt.Errorf("storing %d incidents: %w", len(updated), err)
		}
	} else {
		for _, inc := range updated {
			if err := st.UpsertIncident(ctx, inc); err != nil && !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("storing incident %s: %w", inc.ID, err)
			}
		}
	}
	for _, m := range merges {
		old, err := st.GetIncident(ctx, m.From)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading incident %s: %w", m.From, err)
		}
		if old.Status == correlate.StatusMerged {
			continue
		}
		old.Status, old.MergedInto, old.Version = correlate.StatusMerged, m.Into, old.Version+1
		if err := st.UpsertIncident(ctx, old); err != nil {
			return fmt.Errorf("marking incident %s merged into %s: %w", m.From, m.Into, err)
		}
	}
	return nil
}

// sigHeap holds signals until the watermark passes them, earliest first.
type sigHeap []detect.Signal

func (h sigHeap) Len() int { return len(h) }
func (h sigHeap) Less(i, j int) bool {
	if c := h[i].Time.Compare(h[j].Time); c != 0 {
		return c < 0
	}
	return cmp.Less(h[i].ID, h[j].ID)
}
func (h sigHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sigHeap) Push(x any)   { *h = append(*h, x.(detect.Signal)) }
func (h *sigHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = detect.Signal{}
	*h = old[:len(old)-1]
	return x
}

type metrics struct {
	records, events, rejected prometheus.Counter
	signals                   *prometheus.CounterVec
	latency, storeLatency     prometheus.Histogram
	checkpoints               prometheus.Counter
	checkpointBytes           prometheus.Gauge
	checkpointSeconds         prometheus.Histogram
	checkpointCapture         prometheus.Histogram
	shed                      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		records:  prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_stream_records_total", Help: "Log records the stream processed."}),
		events:   prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_stream_events_total", Help: "Events decoded from the log."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_stream_rejected_total", Help: "Records rejected by the decoders or in no known format."}),
		signals:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_stream_signals_total", Help: "Signals produced, by detector."}, []string{"detector"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_stream_signal_latency_seconds",
			Help:    "Wall-clock time from a record's receipt to its signal leaving detection (per-event detectors).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		storeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_stream_signal_stored_latency_seconds",
			Help:    "Wall-clock time from a record's receipt to its signal being stored (per-event detectors).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		checkpoints:       prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_stream_checkpoints_total", Help: "Checkpoints written."}),
		checkpointBytes:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_stream_checkpoint_bytes", Help: "Size of the last checkpoint."}),
		checkpointSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_stream_checkpoint_seconds", Help: "Time to write a checkpoint."}),
		checkpointCapture: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_stream_checkpoint_capture_seconds",
			Help: "Time the processor stops to capture its state for a checkpoint (the models snapshot themselves and the capture is written beside the steps)."}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_stream_incidents_shed_total",
			Help: "Incidents the correlator closed early because the open ones held more signals than its bound (--max-open-signals)."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.records, m.events, m.rejected, m.signals, m.latency, m.storeLatency, m.checkpoints, m.checkpointBytes, m.checkpointSeconds, m.checkpointCapture, m.shed} {
			if err := reg.Register(c); err != nil {
				return m, fmt.Errorf("registering stream metrics: %w", err)
			}
		}
	}
	return m, nil
}
