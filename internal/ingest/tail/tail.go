package tail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/files"
)

// Defaults of Options.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultMaxLine      = 1 << 20
	DefaultPartialFlush = 5 * time.Second
	DefaultBatchSize    = 512

	// fingerprintSize is how many leading bytes identify a file's content.
	fingerprintSize = 1024
	// stateEvery coalesces checkpoint writes.
	stateEvery = time.Second
	// maxHeader bounds the header lines kept as a file's context.
	maxHeader = 64 << 10
	readChunk = 64 << 10
)

var errEOF = io.EOF

// Options configure a Tailer.
type Options struct {
	Paths        []string // files or globs, re-expanded every PollInterval
	Appender     ingest.Appender
	StateFile    string        // checkpoints (JSON); required
	Format       string        // decoder format id stamped on records; "" lets the stream detect it
	StartAt      string        // "beginning" (default) or "end": where a file never seen before starts, at startup
	PollInterval time.Duration // default 250 ms
	MaxLine      int           // bytes; longer lines are skipped and counted (default 1 MiB)
	PartialFlush time.Duration // a last line without newline is emitted once the file has not grown for this long (default 5 s)
	BatchSize    int           // lines per Append (default 512)
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	switch {
	case len(o.Paths) == 0:
		return errors.New("tail: no paths")
	case o.Appender == nil:
		return errors.New("tail: no appender")
	case o.StateFile == "":
		return errors.New("tail: no state file")
	case o.StartAt != "" && o.StartAt != "beginning" && o.StartAt != "end":
		return fmt.Errorf("tail: start at %q: want beginning or end", o.StartAt)
	case o.PollInterval < 0, o.MaxLine < 0, o.PartialFlush < 0, o.BatchSize < 0:
		return errors.New("tail: negative limit")
	}
	for _, p := range o.Paths {
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("tail: path %q: %w", p, err)
		}
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.StartAt == "" {
		o.StartAt = "beginning"
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxLine == 0 {
		o.MaxLine = DefaultMaxLine
	}
	if o.PartialFlush == 0 {
		o.PartialFlush = DefaultPartialFlush
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// key identifies a file: its device and inode, or its path where the
// platform has no inodes.
type key struct {
	id   fileID
	path string
}

func keyOf(id fileID, path string) key {
	if id == (fileID{}) {
		return key{path: path}
	}
	return key{id: id}
}

// Tailer follows files, appending each complete line as one record and
// checkpointing how far it got.
type Tailer struct {
	opts Options
	log  *slog.Logger
	m    *metrics

	known     map[key]*entry    // checkpoints: open files and files still matched
	open      map[key]*follower // files being read
	skipped   map[key]bool      // compressed files already reported
	dirty     bool              // checkpoints changed since the last write
	lastWrite time.Time
	now       func() time.Time
	backoff   [2]time.Duration // append retry: first and longest wait
}

// New validates opts and registers the metrics; Run reads the state and tails.
func New(opts Options) (*Tailer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Tailer{
		opts: opts, log: opts.Logger.With("component", "tail"), m: m,
		known: map[key]*entry{}, open: map[key]*follower{}, skipped: map[key]bool{},
		now: time.Now, backoff: [2]time.Duration{10 * time.Millisecond, time.Second},
	}, nil
}

// Run tails until ctx is done, then closes the files and writes the
// checkpoints. A corrupt state file is an error (naming it) before anything
// is read.
func (t *Tailer) Run(ctx context.Context) error {
	entries, err := readState(t.opts.StateFile)
	if err != nil {
		return err
	}
	for i := range entries {
		e := entries[i]
		t.known[keyOf(fileID{e.Dev, e.Ino}, e.Path)] = &e
	}
	defer t.closeAll()
	first := true
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return t.shutdown()
		case <-timer.C:
		}
		t.scan(ctx, first)
		first = false
		for _, k := range t.sortedOpen() {
			if ctx.Err() != nil {
				break
			}
			t.poll(ctx, t.open[k])
		}
		if t.dirty && t.now().Sub(t.lastWrite) >= stateEvery {
			t.writeState(ctx)
		}
		timer.Reset(t.opts.PollInterval)
	}
}

func (t *Tailer) sortedOpen() []key {
	ks := make([]key, 0, len(t.open))
	for k := range t.open {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b key) int {
		return strings.Compare(t.open[a].path, t.open[b].path)
	})
	return ks
}

func (t *Tailer) shutdown() error {
	t.closeAll()
	if err := writeState(t.opts.StateFile, t.entries()); err != nil {
		return err
	}
	return nil
}

func (t *Tailer) closeAll() {
	for k, f := range t.open {
		_ = f.f.Close()
		delete(t.open, k)
		t.m.files.Dec()
	}
}

// entries lists the checkpoints in a stable order.
func (t *Tailer) entries() []entry {
	out := make([]entry, 0, len(t.known))
	for _, e := range t.known {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b entry) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		if a.Ino != b.Ino {
			return compare(a.Ino, b.Ino)
		}
		return compare(a.Dev, b.Dev)
	})
	return out
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (t *Tailer) writeState(ctx context.Context) {
	if err := writeState(t.opts.StateFile, t.entries()); err != nil {
		t.m.stateErrs.Inc()
		t.log.WarnContext(ctx, "writing tail checkpoints", "err", err)
		return
	}
	t.dirty = false
	t.lastWrite = t.now()
}

// expand lists the regular files the paths and globs match now.
func (t *Tailer) expand() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range t.opts.Paths {
		matches, _ := filepath.Glob(p) // patterns were validated
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}

// compressedName reports names logrotate gives compressed files, which are
// skipped even before their magic bytes are written.
func compressedName(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".gz", ".bz2", ".xz", ".zst", ".zip", ".7z", ".tgz":
		return true
	}
	return false
}

// scan re-expands the paths: it opens new files, notices files renamed or
// deleted under an open follower, and forgets checkpoints of files no longer
// matched and not open.
func (t *Tailer) scan(ctx context.Context, first bool) {
	matched := map[key]bool{}
	for _, p := range t.expand() {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		k := keyOf(identity(fi), p)
		matched[k] = true
		if f, ok := t.open[k]; ok {
			if f.gone && f.path == p {
				f.gone = false // it came back (renamed back, or a glob matches its new name)
			}
			continue
		}
		if t.skipped[k] {
			continue
		}
		if compressedName(p) {
			t.skip(ctx, k, p)
			continue
		}
		t.openFile(ctx, p, fi, k, first)
	}
	// Followers whose path now names another file, or nothing.
	for k, f := range t.open {
		if f.gone {
			continue
		}
		fi, err := os.Stat(f.path)
		if err == nil && keyOf(identity(fi), f.path) == k {
			continue
		}
		f.gone = true
		t.m.rotated.Inc()
		t.log.InfoContext(ctx, "tailed file renamed or deleted; reading it to its end", "path", f.path)
	}
	for k := range t.known {
		if !matched[k] && t.open[k] == nil {
			delete(t.known, k)
			t.dirty = true
		}
	}
	for k := range t.skipped {
		if !matched[k] {
			delete(t.skipped, k)
		}
	}
}

func (t *Tailer) skip(ctx context.Context, k key, p string) {
	t.skipped[k] = true
	t.m.skipped.WithLabelValues("compressed").Inc()
	t.log.InfoContext(ctx, "skipping compressed file", "path", p)
}

// openFile starts following p: at its checkpoint when its identity and
// fingerprint match one, else at the beginning (or the end, for files found
// at startup with StartAt "end").
func (t *Tailer) openFile(ctx context.Context, p string, fi os.FileInfo, k key, first bool) {
	fh, err := os.Open(p)
	if err != nil {
		t.m.skipped.WithLabelValues("read_error").Inc()
		t.log.WarnContext(ctx, "opening tailed file", "path", p, "err", err)
		return
	}
	head := make([]byte, fingerprintSize)
	n, err := fh.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		_ = fh.Close()
		t.log.WarnContext(ctx, "reading tailed file", "path", p, "err", err)
		return
	}
	head = head[:n]
	if files.Sniff(head) != files.None {
		_ = fh.Close()
		t.skip(ctx, k, p)
		return
	}
	size := fi.Size()
	f := &follower{path: p, source: "tail:" + p, f: fh, key: k, lastGrowth: t.now()}
	start := int64(0)
	if e, ok := t.known[k]; ok && e.FPLen <= n && e.Fingerprint == fingerprint(head[:e.FPLen]) {
		f.source = "tail:" + e.Path
		start = e.Offset
		if start > size {
			t.m.truncated.Inc()
			t.log.InfoContext(ctx, "tailed file shrank below its checkpoint; reading it from the start", "path", p)
			start = 0
		}
	} else if first && t.opts.StartAt == "end" {
		start = size
	}
	f.entry = &entry{Path: strings.TrimPrefix(f.source, "tail:"), Dev: k.id.Dev, Ino: k.id.Ino, Offset: start}
	f.setFingerprint(head)
	f.off, f.readOff = start, start
	f.atTop = start == 0
	if start > 0 {
		f.loadHeader(t.opts.Format, start)
	}
	t.known[k] = f.entry
	t.open[k] = f
	t.dirty = true
	t.m.files.Inc()
	t.log.InfoContext(ctx, "tailing file", "path", p, "offset", start)
}

func fingerprint(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// follower reads one open file.
type follower struct {
	path, source string
	f            *os.File
	key          key
	entry        *entry // its checkpoint (in Tailer.known)

	off        int64  // checkpoint: just past the last line appended
	readOff    int64  // next byte to read
	pend       []byte // bytes read after the last complete line (a partial line)
	skipping   bool   // inside a line over MaxLine
	lastGrowth time.Time
	gone       bool // the path no longer names this file

	// header context
	atTop    bool   // the next line is the file's first
	hashMode bool   // '#' lines are headers (Zeek TSV, W3C)
	context  []byte // header lines of the records
	block    []byte // '#' lines gathered after data, the next context when they hold #fields
	data     bool   // a record line was seen below the top header block
}

func (f *follower) setFingerprint(head []byte) {
	f.entry.FPLen = len(head)
	f.entry.Fingerprint = fingerprint(head)
}

// loadHeader rebuilds the header context of a file resumed at start, past its
// top, from the header lines before start.
func (f *follower) loadHeader(format string, start int64) {
	buf := make([]byte, min(maxHeader, start))
	n, _ := f.f.ReadAt(buf, 0)
	buf = buf[:n]
	var hdr []byte
	f.data = true
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			f.data = false // still inside the header block
			break
		}
		line := buf[:i+1]
		buf = buf[i+1:]
		if format == csvFormat {
			hdr = line
			break
		}
		if line[0] != '#' {
			break
		}
		f.hashMode = true
		hdr = append(hdr, line...)
		if len(buf) == 0 {
			f.data = false // start is right after a header line: more may follow
		}
	}
	if format != csvFormat && !f.hashMode {
		f.data = true
	}
	f.context = bytes.Clone(hdr)
}

const csvFormat = "csv"

// reset restarts a truncated file at offset 0.
func (f *follower) reset() {
	f.off, f.readOff, f.pend, f.skipping = 0, 0, nil, false
	f.atTop, f.hashMode, f.context, f.block, f.data = true, false, nil, nil, false
	f.entry.Offset = 0
}

// poll reads what the file gained since the last poll and appends it.
func (t *Tailer) poll(ctx context.Context, f *follower) {
	fi, err := f.f.Stat()
	if err != nil {
		t.log.WarnContext(ctx, "checking tailed file", "path", f.path, "err", err)
		return
	}
	size := fi.Size()
	if size < f.readOff {
		t.m.truncated.Inc()
		t.log.InfoContext(ctx, "tailed file truncated; reading it from the start", "path", f.path, "size", size, "offset", f.readOff)
		f.reset()
		t.dirty = true
	}
	if f.entry.FPLen < fingerprintSize && size > int64(f.entry.FPLen) {
		head := make([]byte, fingerprintSize)
		if n, err := f.f.ReadAt(head, 0); n > 0 && (err == nil || errors.Is(err, io.EOF)) {
			f.setFingerprint(head[:n])
			t.dirty = true
		}
	}
	b := &batch{}
	now := t.now()
	buf := make([]byte, readChunk)
	for f.readOff < size && ctx.Err() == nil {
		n, err := f.f.ReadAt(buf, f.readOff)
		if n > 0 {
			f.lastGrowth = now
			f.readOff += int64(n)
			t.lines(ctx, f, b, buf[:n])
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.m.skipped.WithLabelValues("read_error").Inc()
				t.log.WarnContext(ctx, "reading tailed file", "path", f.path, "err", err)
			}
			break
		}
	}
	if ctx.Err() != nil {
		return
	}
	// A last line without newline, once the file stopped growing.
	if len(f.pend) > 0 && now.Sub(f.lastGrowth) >= t.opts.PartialFlush {
		line := f.pend
		f.pend = nil
		t.line(f, b, line, f.readOff)
	}
	t.flush(ctx, f, b)
	if f.gone && len(f.pend) == 0 && now.Sub(f.lastGrowth) >= t.opts.PartialFlush {
		_ = f.f.Close()
		delete(t.open, f.key)
		t.m.files.Dec()
		t.log.InfoContext(ctx, "closed rotated file", "path", f.path, "offset", f.off)
	}
}

// batch is the records of one file waiting for Append, and the offset just
// past the last line they cover.
type batch struct {
	recs []ingest.Record
	end  int64
}

// lines splits data (just read, ending at f.readOff) into lines.
func (t *Tailer) lines(ctx context.Context, f *follower, b *batch, data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if f.skipping {
				return
			}
			if len(f.pend)+len(data) > t.opts.MaxLine {
				t.tooLong(ctx, f)
				f.pend = nil
				return
			}
			f.pend = append(f.pend, data...)
			return
		}
		chunk := data[:i]
		data = data[i+1:]
		end := f.readOff - int64(len(data))
		if f.skipping {
			f.skipping = false
			f.pend = nil
			b.end = end
			continue
		}
		var line []byte
		if len(f.pend) > 0 {
			line = append(f.pend, chunk...)
			f.pend = nil
		} else {
			line = chunk
		}
		if len(line) > t.opts.MaxLine {
			t.tooLong(ctx, f)
			f.skipping = false
			b.end = end
			continue
		}
		t.line(f, b, line, end)
		if len(b.recs) >= t.opts.BatchSize {
			t.flush(ctx, f, b)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

func (t *Tailer) tooLong(ctx context.Context, f *follower) {
	f.skipping = true
	t.m.skipped.WithLabelValues("line_too_long").Inc()
	t.log.WarnContext(ctx, "skipping a line over the maximum length", "path", f.path, "max_line", t.opts.MaxLine)
}

// line handles one complete line ending at file offset end: a header line
// updates the file's context, any other non-empty line becomes a record.
func (t *Tailer) line(f *follower, b *batch, line []byte, end int64) {
	b.end = end
	top := f.atTop
	f.atTop = false
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if top && t.opts.Format == csvFormat {
		f.context = appendLine(nil, line)
		return
	}
	if top && len(line) > 0 && line[0] == '#' {
		f.hashMode = true
	}
	if f.hashMode && len(line) > 0 && line[0] == '#' {
		if !f.data { // the block at the top of the file
			f.context = appendLine(f.context, line)
			return
		}
		f.block = appendLine(f.block, line) // a later block (a restart of the writer, or #close)
		return
	}
	if len(line) == 0 {
		return
	}
	if f.block != nil {
		if bytes.HasPrefix(bytes.ToLower(f.block), []byte("#fields")) || containsFold(f.block, "\n#fields") {
			f.context = f.block
		}
		f.block = nil
	}
	f.data = true
	b.recs = append(b.recs, ingest.Record{
		Source: f.source, Format: t.opts.Format, Context: f.context,
		Data: bytes.Clone(line), Received: t.now(),
	})
}

func appendLine(dst, line []byte) []byte {
	if len(dst)+len(line) >= maxHeader {
		return dst
	}
	out := make([]byte, 0, len(dst)+len(line)+1)
	out = append(out, dst...)
	out = append(out, line...)
	return append(out, '\n')
}

func containsFold(b []byte, s string) bool {
	return bytes.Contains(bytes.ToLower(b), []byte(s))
}

// flush appends the batch, retrying with backoff until it succeeds or ctx is
// done, and then moves the checkpoint past its last line.
func (t *Tailer) flush(ctx context.Context, f *follower, b *batch) {
	if len(b.recs) > 0 {
		wait := t.backoff[0]
		for {
			err := t.opts.Appender.Append(ctx, b.recs)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return // not appended: re-read after a restart
			}
			t.m.retries.Inc()
			if !errors.Is(err, ingest.ErrOverloaded) {
				t.log.WarnContext(ctx, "appending tailed lines; retrying", "path", f.path, "records", len(b.recs), "err", err)
			}
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return
			}
			wait = min(2*wait, t.backoff[1])
		}
		t.m.lines.Add(float64(len(b.recs)))
		for _, r := range b.recs {
			t.m.bytes.Add(float64(len(r.Data)))
		}
	}
	if b.end > f.off {
		f.off = b.end
		f.entry.Offset = b.end
		t.dirty = true
		if len(b.recs) > 0 && t.now().Sub(t.lastWrite) >= stateEvery {
			t.writeState(ctx)
		}
	}
	b.recs = nil
}
