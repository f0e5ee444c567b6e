// Package replay turns a directory of line-oriented log files (a simulation's
// output, an export) into records in event-time order, as if the systems that
// wrote them were sending them live: `vigil demo` streams a simulated
// organisation through it, and the stream tests use it to feed the processor.
//
// Each file's format is detected from its head, as hunt does; every line is
// decoded once to learn its event time. Header lines (a Zeek TSV or W3C file's
// "#" directives) become the Context of the file's records; lines that decode
// to no event (trailers, comments, rejects) are left out and counted.
package replay

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// Timed is a record with the event time of what it holds.
type Timed struct {
	Time   time.Time
	Record ingest.Record
}

// Stats counts what Load read.
type Stats struct {
	Files   int
	Records int
	Skipped int // lines that decoded to no event
	// Unreadable lists files left out (unknown format, not line-oriented).
	Unreadable []string
}

// MaxFile bounds the size of a file Load reads.
const MaxFile = 1 << 30

// Load reads every regular file under dir and returns its lines as records,
// sorted by event time (ties in file and line order). Source is "replay:" and
// the path relative to dir.
func Load(ctx context.Context, dir string, reg *formats.Registry) ([]Timed, Stats, error) {
	var st Stats
	var out []Timed
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() || filepath.Ext(path) == ".csv" && filepath.Dir(path) == filepath.Clean(dir) {
			return nil // the simulator's identities.csv is not a log
		}
		if filepath.Ext(path) == ".json" && filepath.Dir(path) == filepath.Clean(dir) {
			return nil // nor its truth.json
		}
		rel, _ := filepath.Rel(dir, path)
		recs, skipped, ferr := loadFile(ctx, path, "replay:"+filepath.ToSlash(rel), reg)
		if ferr != nil {
			st.Unreadable = append(st.Unreadable, fmt.Sprintf("%s: %v", rel, ferr))
			return nil
		}
		st.Files++
		st.Records += len(recs)
		st.Skipped += skipped
		out = append(out, recs...)
		return nil
	})
	if err != nil {
		return nil, st, fmt.Errorf("reading %s: %w", dir, err)
	}
	slices.SortStableFunc(out, func(a, b Timed) int { return a.Time.Compare(b.Time) })
	return out, st, nil
}

var errNotLines = errors.New("not a line-oriented format")

func loadFile(ctx context.Context, path, source string, reg *formats.Registry) ([]Timed, int, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if fi.Size() > MaxFile {
		return nil, 0, fmt.Errorf("larger than %d bytes", MaxFile)
	}
	data, err := os.ReadFile(path) // #nosec G304 -- the operator names the directory
	if err != nil {
		return nil, 0, err
	}
	det, err := reg.Detect(data[:min(len(data), 64<<10)])
	if err != nil {
		return nil, 0, err
	}
	if det.Format.ID == "evtx" {
		return nil, 0, errNotLines
	}
	// Line starts, and the header: the leading "#" lines.
	var starts []int64
	header := 0
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data) - off
		}
		if len(starts) == 0 && header == off && bytes.HasPrefix(data[off:], []byte("#")) {
			header = off + end + 1
		} else {
			starts = append(starts, int64(off))
		}
		off += end + 1
	}
	sink := &timeSink{}
	in := decode.Input{R: bytes.NewReader(data), Source: source, Limits: decode.Limits{MaxLine: decode.DefaultMaxLine, MaxRecord: decode.DefaultMaxRecord}, ModTime: fi.ModTime()}
	if err := det.Format.New().Decode(ctx, in, sink); err != nil {
		return nil, 0, fmt.Errorf("decoding as %s: %w", det.Format.ID, err)
	}
	// The event time of each line: the first event that starts in it.
	times := make(map[int]time.Time, len(sink.at))
	for _, a := range sink.at {
		i, found := slices.BinarySearch(starts, a.offset)
		if !found {
			i--
		}
		if i < 0 {
			continue
		}
		if _, ok := times[i]; !ok {
			times[i] = a.t
		}
	}
	var ctxBytes []byte
	if header > 0 {
		ctxBytes = bytes.TrimRight(data[:min(header, len(data))], "\n")
	}
	out := make([]Timed, 0, len(times))
	for i, s := range starts {
		t, ok := times[i]
		if !ok {
			continue
		}
		end := int64(len(data))
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		line := bytes.TrimRight(data[s:end], "\r\n")
		out = append(out, Timed{Time: t, Record: ingest.Record{Source: source, Format: det.Format.ID, Context: ctxBytes, Data: line}})
	}
	slices.SortStableFunc(out, func(a, b Timed) int { return cmp.Compare(a.Time.UnixNano(), b.Time.UnixNano()) })
	return out, len(starts) - len(out), nil
}

type offTime struct {
	offset int64
	t      time.Time
}

// timeSink keeps each event's offset and time.
type timeSink struct {
	e  event.Event
	at []offTime
}

func (s *timeSink) Alloc() *event.Event {
	s.e.Reset()
	return &s.e
}

func (s *timeSink) Emit(e *event.Event) {
	if !e.Timestamp.IsZero() {
		s.at = append(s.at, offTime{e.Origin.Offset, e.Timestamp})
	}
}

func (*timeSink) Reject(*decode.RecordError) {}

// PlayOptions paces Play.
type PlayOptions struct {
	// Speed is how many seconds of event time pass per wall-clock second
	// (3600: an hour a second); 0 or less appends as fast as the appender takes.
	Speed float64
	// Batch is the most records per Append (default 512).
	Batch int
	// Now and Sleep are the wall clock (tests replace them).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Progress, when set, is called after each Append with the records sent and
	// the event time reached.
	Progress func(sent int, at time.Time)
}

// Play appends recs (sorted by time) to app, pacing them by event time. An
// overloaded appender is waited for and retried; other errors end the play.
func Play(ctx context.Context, recs []Timed, app ingest.Appender, o PlayOptions) error {
	if o.Batch <= 0 {
		o.Batch = 512
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if len(recs) == 0 {
		return nil
	}
	start, t0 := o.Now(), recs[0].Time
	batch := make([]ingest.Record, 0, o.Batch)
	for i := 0; i < len(recs); {
		if o.Speed > 0 {
			due := start.Add(time.Duration(float64(recs[i].Time.Sub(t0)) / o.Speed))
			if wait := due.Sub(o.Now()); wait > 0 {
				if err := o.Sleep(ctx, wait); err != nil {
					return err
				}
			}
		}
		now := o.Now()
		batch = batch[:0]
		j := i
		for ; j < len(recs) && len(batch) < o.Batch; j++ {
			if o.Speed > 0 && start.Add(time.Duration(float64(recs[j].Time.Sub(t0))/o.Speed)).After(now) {
				break
			}
			r := recs[j].Record
			r.Received = now
			batch = append(batch, r)
		}
		for {
			err := app.Append(ctx, batch)
			if err == nil {
				break
			}
			if !errors.Is(err, ingest.ErrOverloaded) {
				return fmt.Errorf("replaying records: %w", err)
			}
			if err := o.Sleep(ctx, ingest.RetryAfter(err)); err != nil {
				return err
			}
		}
		i = j
		if o.Progress != nil {
			o.Progress(i, recs[i-1].Time)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
