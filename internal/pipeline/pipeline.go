// Package pipeline runs the detection stages over streams of records:
//
//	sources ──▶ decode workers ──Batch──▶ detect workers ──Signal──▶ sink
//	           (one stream each,        (detect.Engine,           (one goroutine:
//	            format sniffed)          all detectors)            output, store)
//
// Queues between stages are bounded, so a slow stage slows the ones before it
// instead of growing memory. A stream is decoded by one worker, so events keep
// their source order within each batch and batches carry their sequence number.
// Batch mode (`vigil hunt`) and streaming mode run these same stages.
package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest/files"
)

// Options configures a Pipeline. Zero values take the defaults noted.
type Options struct {
	Registry *formats.Registry // required
	Engine   *detect.Engine    // required (it may hold no detector)
	// Format forces one decoder for every stream instead of sniffing ("" = sniff).
	Format          string
	DecodeWorkers   int // default GOMAXPROCS
	DetectWorkers   int // default GOMAXPROCS
	BatchSize       int // events per batch, default 256
	QueueDepth      int // batches buffered between stages, default 2 x DetectWorkers
	Limits          decode.Limits
	MaxDecompressed int64
	// Year is the year to give timestamps that have none (RFC 3164 syslog); 0 lets
	// decoders infer it from the data or the file's modification time.
	Year int
	// Strict makes the first rejected record or unreadable source fail the run.
	Strict bool
	// Since and Until bound the events analysed by event time: events before
	// Since or at or after Until are decoded, counted (Stats.OutOfRange) and
	// dropped before detection. Zero: no bound.
	Since, Until time.Time
	// MaxExamples bounds the rejected records kept as examples per reason (default 5).
	MaxExamples int

	// OnSignal receives every signal with the evidence events it cites; called from
	// one goroutine. Returning an error stops the run.
	OnSignal func(Detection) error
	// OnBatch, when set, receives every batch after detection, from one goroutine,
	// and must not keep it: the pipeline recycles it afterwards.
	OnBatch func(*Batch) error
	// OnReject, when set, sees each rejected record as it happens (from decode workers,
	// serialized by the pipeline).
	OnReject func(*decode.RecordError)

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Detection is a signal with the evidence events it cites, rendered as ECS JSON
// while the events were still alive.
type Detection struct {
	Signal   detect.Signal
	Evidence []EvidenceEvent
}

// EvidenceEvent is an event kept as evidence for a signal.
type EvidenceEvent struct {
	ID     string
	Time   time.Time
	Source string
	Format string
	JSON   []byte
}

// Source is one unit of input: Open calls fn with each stream it holds.
type Source struct {
	Name string
	Open func(fn func(files.Stream) error) error
}

// FileSource is a Source reading a file (plain, compressed or an archive).
func FileSource(path string, maxDecompressed int64) Source {
	return Source{Name: path, Open: func(fn func(files.Stream) error) error {
		return files.Open(path, maxDecompressed, fn)
	}}
}

// Pipeline runs sources through decoding and detection.
type Pipeline struct {
	opts    Options
	log     *slog.Logger
	pool    *batchPool
	stats   *collector
	metrics *metrics

	progress Progress
	rejectMu sync.Mutex // serializes OnReject
}

// Progress is a live view of a run, safe to read while it goes on.
type Progress struct {
	SourcesDone atomic.Int64
	Events      atomic.Int64
	Rejected    atomic.Int64
	Bytes       atomic.Int64
	Signals     atomic.Int64
}

// New checks opts and builds a pipeline.
func New(opts Options) (*Pipeline, error) {
	if opts.Registry == nil || opts.Engine == nil {
		return nil, errors.New("building pipeline: Registry and Engine are required")
	}
	if opts.Format != "" {
		if _, err := opts.Registry.Get(opts.Format); err != nil {
			return nil, fmt.Errorf("building pipeline: %w", err)
		}
	}
	n := runtime.GOMAXPROCS(0)
	if opts.DecodeWorkers <= 0 {
		opts.DecodeWorkers = n
	}
	if opts.DetectWorkers <= 0 {
		opts.DetectWorkers = n
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.QueueDepth <= 0 {
		opts.QueueDepth = 2 * opts.DetectWorkers
	}
	if opts.MaxExamples <= 0 {
		opts.MaxExamples = 5
	}
	opts.Limits = opts.Limits.WithDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Pipeline{
		opts: opts, log: log, pool: newBatchPool(opts.BatchSize),
		stats: newCollector(opts.MaxExamples), metrics: m,
	}, nil
}

// Progress returns the live counters of the current run.
func (p *Pipeline) Progress() *Progress { return &p.progress }

// ErrStrict is wrapped by the error of a strict run stopped by bad input.
var ErrStrict = errors.New("strict mode: bad input")

// Run decodes and analyses every source from sources until the channel is closed or
// ctx is cancelled, and returns the run's statistics. Bad records and unreadable
// sources are counted and reported in Stats, not returned as errors, unless Strict.
func (p *Pipeline) Run(ctx context.Context, sources <-chan Source) (*Stats, error) {
	start := time.Now()
	g, ctx := errgroup.WithContext(ctx)
	batches := make(chan *Batch, p.opts.QueueDepth)
	detections := make(chan Detection, 256)
	var after chan *Batch
	if p.opts.OnBatch != nil {
		after = make(chan *Batch, p.opts.QueueDepth)
	}

	var decodeWG sync.WaitGroup
	for range p.opts.DecodeWorkers {
		decodeWG.Add(1)
		g.Go(func() error {
			defer decodeWG.Done()
			decoders := map[string]decode.Decoder{} // this worker's, reused across streams
			for {
				select {
				case <-ctx.Done():
					return nil
				case src, ok := <-sources:
					if !ok {
						return nil
					}
					if err := p.runSource(ctx, src, batches, decoders); err != nil {
						return err
					}
				}
			}
		})
	}
	g.Go(func() error {
		decodeWG.Wait()
		close(batches)
		return nil
	})

	var detectWG sync.WaitGroup
	for range p.opts.DetectWorkers {
		detectWG.Add(1)
		g.Go(func() error {
			defer detectWG.Done()
			return p.detectLoop(ctx, batches, detections, after)
		})
	}
	g.Go(func() error {
		detectWG.Wait()
		close(detections)
		if after != nil {
			close(after)
		}
		return nil
	})

	g.Go(func() error {
		for d := range detections {
			p.progress.Signals.Add(1)
			p.stats.signal()
			if p.opts.OnSignal != nil {
				if err := p.opts.OnSignal(d); err != nil {
					return fmt.Errorf("handling signal: %w", err)
				}
			}
		}
		return nil
	})
	if after != nil {
		g.Go(func() error {
			for b := range after {
				err := p.opts.OnBatch(b)
				b.Release()
				if err != nil {
					return fmt.Errorf("handling batch: %w", err)
				}
			}
			return nil
		})
	}

	err := g.Wait()
	st := p.stats.snapshot()
	st.Elapsed = time.Since(start)
	return st, err
}

// runSource decodes every stream of one source. Only strict-mode failures and
// cancellation are returned; everything else is recorded in the stats.
func (p *Pipeline) runSource(ctx context.Context, src Source, out chan<- *Batch, decoders map[string]decode.Decoder) error {
	defer p.progress.SourcesDone.Add(1)
	p.stats.source()
	err := src.Open(func(s files.Stream) error {
		return p.runStream(ctx, s, out, decoders)
	})
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrStrict) {
		return err
	}
	p.stats.sourceFailed(src.Name, "unreadable", err)
	p.metrics.skipped.WithLabelValues("unreadable").Inc()
	p.log.InfoContext(ctx, "source unreadable", "source", src.Name, "err", err)
	if p.opts.Strict {
		return fmt.Errorf("%w: %w", ErrStrict, err)
	}
	return nil
}

func (p *Pipeline) runStream(ctx context.Context, s files.Stream, out chan<- *Batch, decoders map[string]decode.Decoder) error {
	counted := &countingReader{r: s.R, n: &p.progress.Bytes}
	br := bufio.NewReaderSize(counted, decode.SniffSize)
	head, err := br.Peek(decode.SniffSize)
	if len(head) == 0 && err != nil && !errors.Is(err, io.EOF) {
		return p.streamFailed(ctx, s.Name, "unreadable", fmt.Errorf("reading %s: %w", s.Name, err))
	}
	// A read error after some bytes (a truncated gzip) is left for the decoder to meet:
	// the records before it still decode, then the stream counts as a read error.
	if len(head) == 0 {
		p.stats.streamSkipped(s.Name, "empty", "", nil)
		p.metrics.skipped.WithLabelValues("empty").Inc()
		return nil
	}
	var f decode.Format
	if p.opts.Format != "" {
		f, _ = p.opts.Registry.Get(p.opts.Format)
	} else {
		d, derr := p.opts.Registry.Detect(head)
		if derr != nil {
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
				// The head was cut by a read error: say so rather than "unknown format".
				return p.streamFailed(ctx, s.Name, "read-error", fmt.Errorf("reading %s: %w", s.Name, err))
			}
			return p.streamFailed(ctx, s.Name, "unknown-format", fmt.Errorf("%s: %w", s.Name, derr))
		}
		f = d.Format
	}
	sink := &batchSink{
		pool: p.pool, stream: s.Name, format: f.ID, ok: true, since: p.opts.Since, until: p.opts.Until,
		send: func(b *Batch) bool {
			select {
			case out <- b:
				p.metrics.queue.Set(float64(len(out)))
				return true
			case <-ctx.Done():
				b.Release()
				return false
			}
		},
	}
	var strictErr error
	var rejected int64
	sink.reject = func(r *decode.RecordError) {
		rejected++
		if r.Format == "" {
			r.Format = f.ID
		}
		p.progress.Rejected.Add(1)
		p.stats.reject(r)
		p.metrics.rejected.WithLabelValues(r.Format, r.Reason).Inc()
		if p.opts.OnReject != nil {
			p.rejectMu.Lock()
			p.opts.OnReject(r)
			p.rejectMu.Unlock()
		}
		if p.opts.Strict && strictErr == nil {
			strictErr = fmt.Errorf("%w: %w", ErrStrict, r)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if p.opts.Strict {
		// Stop the decoder at the first reject: wrap reject to cancel.
		inner := sink.reject
		sink.reject = func(r *decode.RecordError) { inner(r); cancel() }
	}
	dec, ok := decoders[f.ID]
	if !ok {
		dec = f.New()
		decoders[f.ID] = dec
	}
	derr := decode.Safe(sctx, dec, decode.Input{R: br, Source: s.Name, Limits: p.opts.Limits, ModTime: s.ModTime, Year: p.opts.Year}, sink)
	if errors.Is(derr, decode.ErrPanic) {
		delete(decoders, f.ID) // its state may be inconsistent: start the next stream afresh
	}
	sink.flush()
	p.stats.stream(s.Name, f.ID, sink.events, rejected)
	if sink.outside > 0 {
		p.stats.outOfRange(sink.outside)
	}
	p.progress.Events.Add(sink.events)
	p.metrics.events.WithLabelValues(f.ID).Add(float64(sink.events))
	switch {
	case strictErr != nil:
		return strictErr
	case ctx.Err() != nil:
		return ctx.Err()
	case derr != nil && !errors.Is(derr, context.Canceled):
		return p.streamFailed(ctx, s.Name, "read-error", fmt.Errorf("decoding %s as %s: %w", s.Name, f.ID, derr))
	}
	return nil
}

func (p *Pipeline) streamFailed(ctx context.Context, name, reason string, err error) error {
	p.stats.streamSkipped(name, reason, "", err)
	p.metrics.skipped.WithLabelValues(reason).Inc()
	p.log.InfoContext(ctx, "stream skipped", "stream", name, "reason", reason, "err", err)
	if p.opts.Strict {
		return fmt.Errorf("%w: %w", ErrStrict, err)
	}
	return nil
}

func (p *Pipeline) detectLoop(ctx context.Context, in <-chan *Batch, out chan<- Detection, after chan<- *Batch) error {
	var pending []detect.Signal
	for b := range in {
		pending = pending[:0]
		if err := p.opts.Engine.Process(ctx, b.Events, func(s detect.Signal) { pending = append(pending, s) }); err != nil {
			b.Release()
			return err
		}
		var byID map[string]*event.Event
		for _, s := range pending {
			d := Detection{Signal: s}
			if len(s.Evidence) > 0 && byID == nil {
				byID = make(map[string]*event.Event, len(b.Events))
				for _, e := range b.Events {
					byID[e.ID()] = e
				}
			}
			for _, ev := range s.Evidence {
				if e, ok := byID[ev.EventID]; ok {
					d.Evidence = append(d.Evidence, EvidenceEvent{
						ID: ev.EventID, Time: e.Timestamp, Source: e.Origin.Source, Format: e.Origin.Format,
						JSON: e.AppendJSON(nil),
					})
				}
			}
			select {
			case out <- d:
			case <-ctx.Done():
				b.Release()
				return ctx.Err()
			}
		}
		if after == nil {
			b.Release()
			continue
		}
		select {
		case after <- b:
		case <-ctx.Done():
			b.Release()
			return ctx.Err()
		}
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}
