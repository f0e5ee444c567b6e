package sim

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File ids. Every file is written, empty when nothing went to it.
const (
	fSecurity = iota
	fSysmon
	fAuth
	fConn
	fDNS
	fHTTP
	fSSL
	fK8sAudit
	fCloudTrail
	fOkta
	fEntra
	nFiles
)

// fileNames are the output files, relative to the output directory, by id.
var fileNames = [nFiles]string{
	fSecurity:   "windows/security.json",
	fSysmon:     "windows/sysmon.json",
	fAuth:       "linux/auth.log",
	fConn:       "zeek/conn.log",
	fDNS:        "zeek/dns.log",
	fHTTP:       "zeek/http.log",
	fSSL:        "zeek/ssl.log",
	fK8sAudit:   "kubernetes/audit.log",
	fCloudTrail: "aws/cloudtrail.json",
	fOkta:       "okta/system.json",
	fEntra:      "entra/signins.json",
}

type rec struct {
	t        int64 // unix ns
	seq      int64
	off, end int // in arena
	tag      tag
}

// fileOut buffers one file's records until they can be written in time order.
type fileOut struct {
	name    string
	f       *os.File
	w       *bufio.Writer
	off     int64 // bytes written
	lines   int64
	records int64
	arena   []byte
	recs    []rec
	trailer []byte
}

type outputs struct {
	dir   string
	files [nFiles]*fileOut
	seq   int64
	start time.Time
	end   time.Time
}

func newOutputs(dir string, start, end time.Time) (*outputs, error) {
	o := &outputs{dir: dir, start: start, end: end}
	for i, n := range fileNames {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return nil, fmt.Errorf("creating output directory: %w", err)
		}
		f, err := os.Create(p)
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", n, err)
		}
		o.files[i] = &fileOut{name: n, f: f, w: bufio.NewWriterSize(f, 1<<20)}
	}
	for _, id := range []int{fConn, fDNS, fHTTP, fSSL} {
		fo := o.files[id]
		h := zeekHeader(id, start)
		if _, err := fo.w.Write(h); err != nil {
			return nil, fmt.Errorf("writing %s: %w", fo.name, err)
		}
		fo.off += int64(len(h))
		fo.lines += int64(countLines(h))
		fo.trailer = zeekTrailer(end)
	}
	return o, nil
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

// add appends one record (text ending with a newline) to file id.
func (o *outputs) add(id int, t time.Time, tg tag, line []byte) {
	if t.Before(o.start) || !t.Before(o.end) {
		return
	}
	fo := o.files[id]
	off := len(fo.arena)
	fo.arena = append(fo.arena, line...)
	o.seq++
	fo.recs = append(fo.recs, rec{t: t.UnixNano(), seq: o.seq, off: off, end: len(fo.arena), tag: tg})
}

// flush writes every buffered record older than before, in time order.
func (o *outputs) flush(before time.Time, sink func(tag, TruthEvent)) error {
	lim := before.UnixNano()
	for _, fo := range o.files {
		slices.SortFunc(fo.recs, func(a, b rec) int {
			if a.t != b.t {
				if a.t < b.t {
					return -1
				}
				return 1
			}
			if a.seq < b.seq {
				return -1
			}
			return 1
		})
		n := 0
		for n < len(fo.recs) && fo.recs[n].t < lim {
			r := fo.recs[n]
			if r.tag.kind != tagNone {
				sink(r.tag, TruthEvent{File: fo.name, Offset: fo.off, Line: fo.lines + 1,
					Time: time.Unix(0, r.t).UTC(), Technique: r.tag.technique})
			}
			b := fo.arena[r.off:r.end]
			if _, err := fo.w.Write(b); err != nil {
				return fmt.Errorf("writing %s: %w", fo.name, err)
			}
			fo.off += int64(len(b))
			fo.lines++
			fo.records++
			n++
		}
		rest := fo.recs[n:]
		var arena []byte
		recs := make([]rec, 0, len(rest))
		for _, r := range rest {
			off := len(arena)
			arena = append(arena, fo.arena[r.off:r.end]...)
			r.off, r.end = off, len(arena)
			recs = append(recs, r)
		}
		fo.arena, fo.recs = arena, recs
	}
	return nil
}

func (o *outputs) close() error {
	for _, fo := range o.files {
		if len(fo.trailer) > 0 {
			if _, err := fo.w.Write(fo.trailer); err != nil {
				return fmt.Errorf("writing %s: %w", fo.name, err)
			}
		}
		if err := fo.w.Flush(); err != nil {
			return fmt.Errorf("writing %s: %w", fo.name, err)
		}
		if err := fo.f.Close(); err != nil {
			return fmt.Errorf("closing %s: %w", fo.name, err)
		}
	}
	return nil
}

// setModTimes stamps the files with the end of the simulation, so year-less
// syslog lines get their year from the file deterministically.
func (o *outputs) setModTimes(t time.Time) error {
	for _, fo := range o.files {
		if err := os.Chtimes(filepath.Join(o.dir, filepath.FromSlash(fo.name)), t, t); err != nil {
			return fmt.Errorf("setting time of %s: %w", fo.name, err)
		}
	}
	return nil
}
