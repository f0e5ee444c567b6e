package wal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/ingest"
)

// Defaults of Options.
const (
	DefaultSegmentBytes = 64 << 20
	DefaultMaxBacklog   = 1 << 30
	DefaultMaxRecord    = 16 << 20
)

// Options configure a WAL. Zero values take the defaults.
type Options struct {
	// Dir holds the segments and the checkpoint; created 0700. Required.
	Dir string
	// SegmentBytes: past this size a segment is closed and a new one started
	// (at the next Append boundary).
	SegmentBytes int64
	// MaxBacklog bounds the bytes appended but not yet processed (committed,
	// or reported with Consumed); past it, Append returns an
	// *ingest.OverloadError.
	MaxBacklog int64
	// MaxRecord bounds len(Data)+len(Context) of one record; larger records
	// are refused (not an overload: retrying cannot help).
	MaxRecord int
	// NoSync skips fsync: for tests and benchmarks only, it voids the
	// durability guarantee.
	NoSync     bool
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// withDefaults fills zero values.
func (o Options) withDefaults() Options {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MaxBacklog == 0 {
		o.MaxBacklog = DefaultMaxBacklog
	}
	if o.MaxRecord == 0 {
		o.MaxRecord = DefaultMaxRecord
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate checks the options (after defaults).
func (o Options) Validate() error {
	o = o.withDefaults()
	switch {
	case o.Dir == "":
		return errors.New("wal: dir is required")
	case o.SegmentBytes < 0:
		return fmt.Errorf("wal: segment bytes %d is negative", o.SegmentBytes)
	case o.MaxBacklog < 0:
		return fmt.Errorf("wal: max backlog %d is negative", o.MaxBacklog)
	case o.MaxRecord < 0 || o.MaxRecord > 1<<30:
		return fmt.Errorf("wal: max record %d is outside 0..1GiB", o.MaxRecord)
	}
	return nil
}

var (
	// ErrClosed is wrapped by every call on a closed WAL.
	ErrClosed = errors.New("wal closed")
	// ErrTruncated is wrapped by Read when the seq asked for was already
	// deleted by retention; First tells where the log starts now.
	ErrTruncated = errors.New("wal: seq already deleted")
	// ErrFailed is wrapped by every Append after a write or fsync failed: what
	// is on disk is unknown until the WAL is reopened and recovers.
	ErrFailed = errors.New("wal failed")
)

// Entry is one durable record and its seq.
type Entry struct {
	Seq    uint64
	Record ingest.Record
}

// Recovery reports what Open found.
type Recovery struct {
	Segments       int    // segment files kept
	Records        uint64 // records found in them (committed or not)
	TruncatedBytes int64  // bytes of torn or corrupt tail cut
	RemovedFiles   int    // segment files removed: empty or wholly torn ones, and those wholly committed
}

type segment struct {
	first uint64
	last  uint64 // last durable seq; first-1 while empty
	size  int64  // durable bytes, header included
	path  string
}

// mark records the cumulative bytes appended up to a seq, for the backlog.
type mark struct {
	last uint64
	cum  int64
}

// WAL is a segmented write-ahead log; see the package doc.
type WAL struct {
	opts Options
	log  *slog.Logger
	m    *metrics
	lock *os.File
	rec  Recovery

	mu        sync.Mutex
	closed    bool
	failed    error
	next      uint64        // next seq to assign
	durable   uint64        // last durable seq
	pend      []byte        // frames assigned but not yet written
	free      [][]byte      // buffers for pend
	flushing  bool          // a leader is writing
	flushed   chan struct{} // closed (and replaced) after each flush and at Close
	segs      []*segment    // oldest first; the last one is the active one
	active    *os.File      // write handle of the last segment (owned by the leader while flushing)
	assigned  int64         // cumulative frame bytes assigned
	marks     []mark        // per Append call, past the committed (or consumed) seq
	consumed  uint64        // the consumer has read and processed up to here (Consumed)
	committed uint64
	doneBytes int64 // cumulative bytes through the committed mark

	commitMu sync.Mutex
	readMu   sync.Mutex
	cur      cursor
}

// Open opens (creating) the log in opts.Dir and recovers it: it scans every
// segment, cuts a torn or corrupt tail off the last one, removes segments the
// checkpoint covers, and reopens the last segment for appending.
func Open(opts Options) (*WAL, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating wal dir: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	w := &WAL{opts: opts, log: opts.Logger, m: m, lock: lock, flushed: make(chan struct{})}
	if err := w.recover(); err != nil {
		return nil, errors.Join(fmt.Errorf("recovering wal %s: %w", opts.Dir, err), w.closeFiles())
	}
	m.backlog.Set(float64(w.assigned - w.doneBytes))
	return w, nil
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d.wal", first) }

// Recovered returns what Open found and cut.
func (w *WAL) Recovered() Recovery { return w.rec }

// Append makes recs durable: it returns nil only once every record is written
// and fsync'd. Concurrent calls share one write and one fsync (group commit);
// the records of one call get contiguous seqs, in order.
//
// When ctx ends while the call waits for its group commit, Append returns the
// ctx error but the records may still become durable and be read: the source
// must not acknowledge them, and may send them again (at-least-once).
func (w *WAL) Append(ctx context.Context, recs []ingest.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var size int64
	for i := range recs {
		r := &recs[i]
		if n := len(r.Data) + len(r.Context); n > w.opts.MaxRecord {
			return fmt.Errorf("appending record %d of %d from %q: %d bytes of data and context, over the %d-byte limit",
				i+1, len(recs), truncName(r.Source), n, w.opts.MaxRecord)
		}
		if len(r.Source) > maxNameLen || len(r.Format) > maxNameLen {
			return fmt.Errorf("appending record %d of %d from %q: source or format over %d bytes",
				i+1, len(recs), truncName(r.Source), maxNameLen)
		}
		size += frameSize(r, sameContext(recs, i))
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("appending: %w", ErrClosed)
	}
	if w.failed != nil {
		err := w.failed
		w.mu.Unlock()
		return fmt.Errorf("appending: %w", err)
	}
	if len(recs) == 0 {
		w.mu.Unlock()
		return nil
	}
	if backlog := w.assigned - w.doneBytes; backlog > 0 && backlog+size > w.opts.MaxBacklog {
		w.mu.Unlock()
		w.m.overload.Inc()
		return &ingest.OverloadError{RetryAfter: time.Second, Backlog: backlog}
	}
	if w.pend == nil && len(w.free) > 0 {
		w.pend = w.free[len(w.free)-1]
		w.free = w.free[:len(w.free)-1]
	}
	w.pend = appendFrames(w.pend, w.next, recs)
	w.next += uint64(len(recs))
	last := w.next - 1
	w.assigned += size
	w.marks = append(w.marks, mark{last: last, cum: w.assigned})
	w.m.backlog.Set(float64(w.assigned - w.doneBytes))
	for {
		if w.durable >= last {
			w.mu.Unlock()
			return nil
		}
		if w.failed != nil {
			err := w.failed
			w.mu.Unlock()
			return fmt.Errorf("appending: %w", err)
		}
		if !w.flushing {
			w.flushLocked()
			continue
		}
		ch := w.flushed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			// The records stay queued: make sure a leader writes them even
			// if no other Append comes to do it.
			go w.flushOrphans()
			return fmt.Errorf("waiting for the group commit (the records may still become durable): %w", ctx.Err())
		}
		w.mu.Lock()
	}
}

func truncName(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// flushOrphans flushes what is pending until nothing is, for records whose
// Append gave up waiting.
func (w *WAL) flushOrphans() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for !w.closed && w.failed == nil && len(w.pend) > 0 {
		if !w.flushing {
			w.flushLocked()
			continue
		}
		ch := w.flushed
		w.mu.Unlock()
		<-ch
		w.mu.Lock()
	}
}

// flushLocked writes and syncs everything pending, as the leader of a group
// commit. Called with mu held and no flush running; returns with mu held.
func (w *WAL) flushLocked() {
	buf := w.pend
	w.pend = nil
	last := w.next - 1
	first := w.durable + 1
	w.flushing = true
	w.mu.Unlock()

	start := time.Now()
	err := w.write(buf, first)
	elapsed := time.Since(start)

	w.mu.Lock()
	w.flushing = false
	if err != nil {
		w.failed = fmt.Errorf("%w: %w", ErrFailed, err)
		w.log.Error("wal write failed; appends refused until reopened", "err", err, "first_seq", first, "last_seq", last)
	} else {
		w.durable = last
		s := w.segs[len(w.segs)-1]
		s.last = last
		s.size += int64(len(buf))
		w.m.records.Add(float64(last - first + 1))
		w.m.bytes.Add(float64(len(buf)))
		w.m.fsync.Observe(elapsed.Seconds())
	}
	// Two buffers take turns (one written, one filled); keep them unless a
	// burst made them huge.
	if len(w.free) < 2 && cap(buf) <= 64<<20 {
		w.free = append(w.free, buf[:0])
	}
	close(w.flushed)
	w.flushed = make(chan struct{})
}

// write appends buf (frames from seq first) to the active segment, starting a
// new segment first when the active one is full, and syncs it. It runs
// without mu, as the only leader.
func (w *WAL) write(buf []byte, first uint64) error {
	w.mu.Lock()
	s := w.segs[len(w.segs)-1]
	full := s.size >= w.opts.SegmentBytes && s.last >= s.first
	w.mu.Unlock()
	if full {
		f, ns, err := w.createSegment(first)
		if err != nil {
			return err
		}
		old := w.active
		w.mu.Lock()
		w.segs = append(w.segs, ns)
		w.active = f
		w.mu.Unlock()
		if err := old.Close(); err != nil {
			w.log.Warn("closing full wal segment", "err", err, "path", s.path)
		}
	}
	if _, err := w.active.Write(buf); err != nil {
		return fmt.Errorf("writing %d bytes to the wal: %w", len(buf), err)
	}
	if w.opts.NoSync {
		return nil
	}
	if err := syncData(w.active); err != nil {
		return fmt.Errorf("syncing the wal: %w", err)
	}
	return nil
}

// createSegment creates and syncs a segment file (header only) starting at
// first, and syncs the directory so that its name survives a crash.
func (w *WAL) createSegment(first uint64) (*os.File, *segment, error) {
	path := filepath.Join(w.opts.Dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("creating segment: %w", err)
	}
	if _, err := f.Write(appendHeader(nil, first)); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("writing segment header %s: %w", path, err)
	}
	if !w.opts.NoSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("syncing segment %s: %w", path, err)
		}
		if err := syncDir(w.opts.Dir); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return f, &segment{first: first, last: first - 1, size: headerSize, path: path}, nil
}

// Committed returns the last committed seq (0: none), as persisted.
func (w *WAL) Committed() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.committed
}

// Last returns the last durable seq (0: none ever).
func (w *WAL) Last() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.durable
}

// First returns the first seq still on disk (retention deletes older ones);
// Last()+1 when the log holds no record.
func (w *WAL) First() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.segs[0].first
}

// Consumed tells the WAL that the consumer has processed every seq <= seq,
// though it does not yet commit them (it may still need them after a restart,
// until its next checkpoint): the backlog, which bounds appends, counts only
// what lies beyond. Retention still follows Commit.
func (w *WAL) Consumed(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq > w.consumed && seq <= w.durable {
		w.consumed = seq
		w.dropMarksLocked()
		w.m.backlog.Set(float64(w.assigned - w.doneBytes))
	}
}

// Backlog returns the bytes appended beyond the committed (or consumed) seq.
func (w *WAL) Backlog() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.assigned - w.doneBytes
}

// Commit records that the consumer has durably handled every seq <= seq: it
// persists the checkpoint atomically, then deletes the segments wholly at or
// below it. Committing a seq at or below the current one does nothing.
func (w *WAL) Commit(seq uint64) error {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	w.mu.Lock()
	closed, committed, durable := w.closed, w.committed, w.durable
	w.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("committing: %w", ErrClosed)
	case seq <= committed:
		return nil
	case seq > durable:
		return fmt.Errorf("committing seq %d: beyond the last durable seq %d", seq, durable)
	}
	if err := writeCheckpoint(w.opts.Dir, seq, !w.opts.NoSync); err != nil {
		return err
	}
	w.mu.Lock()
	w.committed = seq
	w.dropMarksLocked()
	w.m.backlog.Set(float64(w.assigned - w.doneBytes))
	var drop []*segment
	for len(w.segs) > 1 && w.segs[0].last <= seq {
		drop = append(drop, w.segs[0])
		w.segs = w.segs[1:]
	}
	w.mu.Unlock()
	var errs []error
	for _, s := range drop {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing committed segment: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		w.log.Warn("wal retention", "err", err)
		return err
	}
	return nil
}

// dropMarksLocked advances doneBytes past the marks the committed seq covers.
func (w *WAL) dropMarksLocked() {
	done := max(w.committed, w.consumed)
	i := 0
	for i < len(w.marks) && w.marks[i].last <= done {
		w.doneBytes = w.marks[i].cum
		i++
	}
	w.marks = w.marks[i:]
	if cap(w.marks) > 1024 && len(w.marks) < cap(w.marks)/4 {
		w.marks = append([]mark(nil), w.marks...)
	}
}

// Close flushes what is pending (so that waiting Appends get their answer),
// closes the files and releases the directory. It is idempotent; later calls
// of Append, Read and Commit return errors wrapping ErrClosed.
func (w *WAL) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	for w.flushing {
		ch := w.flushed
		w.mu.Unlock()
		<-ch
		w.mu.Lock()
	}
	if len(w.pend) > 0 && w.failed == nil {
		w.flushLocked()
	}
	close(w.flushed) // wakes readers, which see closed
	w.flushed = make(chan struct{})
	w.mu.Unlock()
	w.readMu.Lock()
	w.cur.reset()
	w.readMu.Unlock()
	return w.closeFiles()
}

func (w *WAL) closeFiles() error {
	var err error
	if w.active != nil {
		if !w.opts.NoSync {
			err = syncData(w.active)
		}
		if cerr := w.active.Close(); err == nil {
			err = cerr
		}
		w.active = nil
	}
	if w.lock != nil {
		w.lock.Close()
		w.lock = nil
	}
	if err != nil {
		return fmt.Errorf("closing wal: %w", err)
	}
	return nil
}

// The checkpoint: magic, seq, CRC32C of both.
const (
	checkpointName  = "checkpoint"
	checkpointMagic = "VGWALCP1"
	checkpointSize  = 8 + 8 + 4
)

func writeCheckpoint(dir string, seq uint64, sync bool) error {
	b := binary.LittleEndian.AppendUint64([]byte(checkpointMagic), seq)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	tmp := filepath.Join(dir, checkpointName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("syncing checkpoint: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing checkpoint: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, checkpointName)); err != nil {
		return fmt.Errorf("renaming checkpoint: %w", err)
	}
	if sync {
		return syncDir(dir)
	}
	return nil
}

// readCheckpoint returns the committed seq, 0 when there is no checkpoint.
func readCheckpoint(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading checkpoint: %w", err)
	}
	if len(b) != checkpointSize || string(b[:8]) != checkpointMagic ||
		crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return 0, fmt.Errorf("reading checkpoint %s: not a valid checkpoint (%d bytes); it is written atomically, so the disk is damaged: fix or remove it (removing replays every record still on disk)",
			filepath.Join(dir, checkpointName), len(b))
	}
	return binary.LittleEndian.Uint64(b[8:16]), nil
}

var (
	_ ingest.Appender = (*WAL)(nil)
	_ io.Closer       = (*WAL)(nil)
)
