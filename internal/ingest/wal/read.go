package wal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// cursor remembers where the last Read stopped, so that a consumer reading on
// from there does not rescan its segment.
type cursor struct {
	f     *os.File
	first uint64 // the segment's first seq
	off   int64  // file offset of the frame of seq next
	dec   *decoder
	br    *bufio.Reader
}

func (c *cursor) reset() {
	if c.f != nil {
		c.f.Close()
	}
	c.f, c.dec = nil, nil
}

// Read returns up to max durable entries with Seq >= from (from 0 means 1),
// in order. When none is durable yet it waits up to wait, or until ctx ends,
// for the first one, and returns an empty slice on timeout. A from already
// deleted by retention returns an error wrapping ErrTruncated: start again
// from First(). Entries may share their Context slices: do not modify them.
func (w *WAL) Read(ctx context.Context, from uint64, max int, wait time.Duration) ([]Entry, error) {
	if max <= 0 {
		return nil, fmt.Errorf("reading the wal: max %d is not positive", max)
	}
	if from == 0 {
		from = 1
	}
	var timer <-chan time.Time
	w.mu.Lock()
	for {
		if w.closed {
			w.mu.Unlock()
			return nil, fmt.Errorf("reading: %w", ErrClosed)
		}
		if first := w.segs[0].first; from < first {
			w.mu.Unlock()
			return nil, fmt.Errorf("reading seq %d (the log starts at %d): %w", from, first, ErrTruncated)
		}
		if w.durable >= from {
			break
		}
		if wait <= 0 {
			w.mu.Unlock()
			return nil, ctx.Err()
		}
		if timer == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
		}
		ch := w.flushed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-timer:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		w.mu.Lock()
	}
	// The segments from the one holding from; their durable bounds as of now.
	i := sort.Search(len(w.segs), func(i int) bool { return w.segs[i].first > from }) - 1
	snap := make([]segment, 0, len(w.segs)-i)
	for _, s := range w.segs[i:] {
		snap = append(snap, *s)
	}
	want := min(uint64(max), w.durable-from+1)
	w.mu.Unlock()

	w.readMu.Lock()
	defer w.readMu.Unlock()
	out := make([]Entry, 0, want)
	for _, s := range snap {
		if uint64(len(out)) >= want {
			break
		}
		if s.last < s.first || s.last < from {
			continue
		}
		var err error
		out, err = w.readSegment(s, from, want, out)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// readSegment appends to out the entries of s from seq from on, up to want in
// all, continuing from the cursor when it stands at or before from in s.
func (w *WAL) readSegment(s segment, from, want uint64, out []Entry) ([]Entry, error) {
	c := &w.cur
	if c.f == nil || c.first != s.first || c.dec.next > from {
		c.reset()
		f, err := os.Open(s.path)
		if errors.Is(err, os.ErrNotExist) {
			return out, fmt.Errorf("reading seq %d: segment %s: %w", from, s.path, ErrTruncated)
		}
		if err != nil {
			return out, fmt.Errorf("opening segment: %w", err)
		}
		c.f, c.first, c.off = f, s.first, headerSize
		c.dec = newDecoder(nil, 0, s.first)
	}
	if c.br == nil {
		c.br = bufio.NewReaderSize(nil, 256<<10)
	}
	c.br.Reset(io.NewSectionReader(c.f, c.off, s.size-c.off))
	c.dec.r, c.dec.remain = c.br, s.size-c.off
	for c.dec.next <= s.last && uint64(len(out)) < want {
		e, n, err := c.dec.decode()
		if err != nil {
			off := c.off
			c.reset()
			return out, fmt.Errorf("reading segment %s at offset %d: %w", s.path, off, err)
		}
		c.off += n
		if e.Seq >= from {
			out = append(out, e)
		}
	}
	return out, nil
}
