package wal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// scanResult is what scanning one segment found.
type scanResult struct {
	last    uint64 // last valid seq; first-1 when none
	records uint64
	size    int64 // file size
	end     int64 // end of the last valid frame (0: the header itself is bad)
	beyond  int64 // frame bytes of records past the committed seq
	cut     error // why the bytes from end on are invalid; nil when none are
}

// scanSegment validates a segment: header, then every frame in turn.
func scanSegment(path string, first, committed uint64) (scanResult, error) {
	res := scanResult{last: first - 1}
	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("opening segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return res, fmt.Errorf("reading segment size: %w", err)
	}
	res.size = st.Size()
	r := bufio.NewReaderSize(f, int(min(res.size, 1<<20)))
	h := make([]byte, headerSize)
	n, err := io.ReadFull(r, h)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return res, fmt.Errorf("reading segment header %s: %w", path, err)
	}
	if err := checkHeader(h[:n], first); err != nil {
		res.cut = fmt.Errorf("segment header: %w", err)
		return res, nil
	}
	res.end = headerSize
	d := newDecoder(r, res.size-headerSize, first)
	for {
		e, size, err := d.decode()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if errors.Is(err, errTorn) || errors.Is(err, errCorrupt) {
			res.cut = fmt.Errorf("at offset %d: %w", res.end, err)
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("reading segment %s at offset %d: %w", path, res.end, err)
		}
		res.last = e.Seq
		res.records++
		res.end += size
		if e.Seq > committed {
			res.beyond += size
		}
	}
}

// recover rebuilds the state from the directory; see Open.
func (w *WAL) recover() error {
	dir := w.opts.Dir
	committed, err := readCheckpoint(dir)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, checkpointName+".tmp")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing a stale checkpoint: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing segments: %w", err)
	}
	var firsts []uint64
	for _, e := range ents {
		name := e.Name()
		base, ok := strings.CutSuffix(name, ".wal")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		first, err := strconv.ParseUint(base, 10, 64)
		if err != nil || len(base) != 20 || first == 0 {
			w.log.Warn("ignoring a file that is not a wal segment", "path", filepath.Join(dir, name))
			continue
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)

	var segs []*segment
	var expect uint64 // first seq the next segment must start at; 0: any
	for i, first := range firsts {
		path := filepath.Join(dir, segmentName(first))
		isLast := i == len(firsts)-1
		res, err := scanSegment(path, first, committed)
		if err != nil {
			return err
		}
		if res.cut != nil && !isLast {
			if firsts[i+1]-1 > committed {
				return fmt.Errorf("segment %s is damaged and is not the last one (a crash tears only the last): %w", path, res.cut)
			}
			// Its records are all committed (retention was removing it):
			// nothing is lost.
			w.log.Warn("wal recovery removes a damaged, wholly committed segment", "path", path, "err", res.cut)
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("removing a damaged committed segment: %w", err)
			}
			w.rec.RemovedFiles++
			continue
		}
		if res.cut != nil {
			cut := res.size - res.end
			w.rec.TruncatedBytes += cut
			w.m.truncated.Add(float64(cut))
			w.log.Warn("wal recovery cut a torn or corrupt tail", "path", path, "offset", res.end, "bytes", cut, "err", res.cut)
			if res.end == 0 {
				if err := os.Remove(path); err != nil {
					return fmt.Errorf("removing a torn segment: %w", err)
				}
				w.rec.RemovedFiles++
				continue
			}
			if err := truncateFile(path, res.end, !w.opts.NoSync); err != nil {
				return err
			}
		}
		// A gap is harmless when all it misses is committed: retention
		// removes segments oldest first, but a crash may bring back some of
		// the removed ones and not others.
		if expect != 0 && first != expect && (first < expect || first-1 > committed) {
			return fmt.Errorf("segment %s starts at seq %d but the previous segment ended at %d", path, first, expect-1)
		}
		expect = res.last + 1
		w.rec.Records += res.records
		segs = append(segs, &segment{first: first, last: res.last, size: res.end, path: path})
		if res.beyond > 0 {
			w.assigned += res.beyond
			w.marks = append(w.marks, mark{last: res.last, cum: w.assigned})
		}
	}

	// Segments the checkpoint covers wholly are gone already for the consumer.
	for len(segs) > 1 && segs[0].last <= committed {
		if err := os.Remove(segs[0].path); err != nil {
			return fmt.Errorf("removing a committed segment: %w", err)
		}
		w.rec.RemovedFiles++
		segs = segs[1:]
	}
	next := committed + 1
	if len(segs) > 0 {
		last := segs[len(segs)-1].last
		if last > committed {
			next = last + 1
		}
		if segs[0].first > committed+1 {
			w.log.Error("wal records are missing: the first segment starts after the checkpoint",
				"first_seq", segs[0].first, "committed", committed)
		}
	}
	// The last segment goes on taking appends when it starts where the log
	// goes on and has room; otherwise a new one starts.
	if n := len(segs); n > 0 {
		s := segs[n-1]
		switch {
		case s.last < s.first && s.first != next:
			if err := os.Remove(s.path); err != nil {
				return fmt.Errorf("removing an empty segment: %w", err)
			}
			w.rec.RemovedFiles++
			segs = segs[:n-1]
		case s.size < w.opts.SegmentBytes || s.last < s.first:
			f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return fmt.Errorf("opening the last segment: %w", err)
			}
			w.active = f
		}
	}
	if w.active == nil {
		f, s, err := w.createSegment(next)
		if err != nil {
			return err
		}
		w.active = f
		segs = append(segs, s)
	}
	w.segs = segs
	w.rec.Segments = len(segs)
	w.next, w.durable, w.committed = next, next-1, committed
	w.dropMarksLocked()
	w.log.Info("wal opened", "dir", dir, "segments", len(segs), "first_seq", segs[0].first,
		"last_seq", w.durable, "committed", committed, "truncated_bytes", w.rec.TruncatedBytes)
	return nil
}

func truncateFile(path string, size int64, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("opening a torn segment: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncating a torn segment: %w", err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("syncing a truncated segment: %w", err)
		}
	}
	return nil
}
