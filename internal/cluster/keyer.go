package cluster

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// EntityKey is the key an event is partitioned by: the entity whose behavior
// the models learn from it. Authentication and IAM events go by user (a user's
// logons from many hosts and addresses are one baseline: impossible travel,
// first-seen host); others by host, then by source address (network flows:
// beaconing and DNS baselines are per source), then by user, destination
// address; "" when the event names none. The prefix keeps kinds apart.
func EntityKey(e *event.Event) string {
	user := func() string {
		if u := e.Str(event.UserName); u != "" {
			return "user:" + event.UserRef{Name: u, Domain: e.Str(event.UserDomain)}.Key()
		}
		return ""
	}
	if e.Category.Has(event.CatAuthentication) || e.Category.Has(event.CatIAM) {
		if k := user(); k != "" {
			return k
		}
	}
	if h := e.Str(event.HostHostname); h != "" {
		return "host:" + h
	}
	if h := e.Str(event.HostName); h != "" {
		return "host:" + event.CanonicalHost(h).Short
	}
	if ip := e.IP(event.SourceIP); ip.IsValid() {
		return "ip:" + ip.String()
	}
	if k := user(); k != "" {
		return k
	}
	if ip := e.IP(event.DestinationIP); ip.IsValid() {
		return "ip:" + ip.String()
	}
	return ""
}

// Keyer chooses records' partition keys by decoding them with the decoders the
// workers use. A record that names no entity, or that does not decode, goes by
// its source (the worker counts it rejected, as serve does). Safe for
// concurrent use.
type Keyer struct {
	reg    *formats.Registry
	limits decode.Limits

	mu      sync.Mutex
	formats map[uint64]decode.Format // by source, format and context: what Detect found
}

// NewKeyer returns a Keyer over reg's decoders.
func NewKeyer(reg *formats.Registry, limits decode.Limits) *Keyer {
	if limits.MaxLine <= 0 {
		limits.MaxLine = decode.DefaultMaxLine
	}
	if limits.MaxRecord <= 0 {
		limits.MaxRecord = decode.DefaultMaxRecord
	}
	return &Keyer{reg: reg, limits: limits, formats: map[uint64]decode.Format{}}
}

// maxCachedFormats bounds the detection cache: hostile sources naming many
// contexts cannot grow it without end.
const maxCachedFormats = 4096

// Key returns r's partition key.
func (k *Keyer) Key(ctx context.Context, r *ingest.Record) string {
	return k.Keys(ctx, []ingest.Record{*r})[0]
}

// Keys returns the partition key of each of recs. The records of one stream
// (source, format, context) are decoded together, as the workers decode them:
// a decoder's set-up is paid once per stream, not per record.
func (k *Keyer) Keys(ctx context.Context, recs []ingest.Record) []string {
	keys := make([]string, len(recs))
	for _, idx := range ingest.Streams(len(recs), func(i int) *ingest.Record { return &recs[i] }) {
		if !k.keyStream(ctx, recs, idx, keys) && len(idx) > 1 {
			// The decoder failed part-way (a panic it recovered from): the
			// records without a key are keyed one by one.
			for _, i := range idx {
				if keys[i] == "" {
					k.keyStream(ctx, recs, []int{i}, keys)
				}
			}
		}
	}
	for i := range keys {
		if keys[i] == "" {
			keys[i] = "source:" + recs[i].Source // no event, or one naming no entity
		}
	}
	return keys
}

// keyStream keys recs[idx...], records of one stream, from the first event
// each yields ("" for none, or one naming no entity). It reports false if the
// decoder failed.
func (k *Keyer) keyStream(ctx context.Context, recs []ingest.Record, idx []int, keys []string) bool {
	first := &recs[idx[0]]
	s := keySinks.Get().(*keySink)
	defer func() { s.reset(); keySinks.Put(s) }()
	if len(first.Context) > 0 {
		s.buf.Write(first.Context)
		if first.Context[len(first.Context)-1] != '\n' {
			s.buf.WriteByte('\n')
		}
	}
	s.from = int64(s.buf.Len())
	for _, i := range idx {
		s.starts = append(s.starts, int64(s.buf.Len()))
		s.buf.Write(recs[i].Data)
		s.buf.WriteByte('\n')
	}
	s.keys = slices.Grow(s.keys[:0], len(idx))[:len(idx)]
	s.set = slices.Grow(s.set[:0], len(idx))[:len(idx)]
	ok := true
	if f, found := k.format(first, s.buf.Bytes()); found {
		in := decode.Input{R: bytes.NewReader(s.buf.Bytes()), Source: first.Source, Limits: k.limits, ModTime: first.Received}
		ok = decode.Safe(ctx, f.New(), in, s) == nil // a record that does not decode goes by its source
	}
	for j, i := range idx {
		keys[i] = s.keys[j]
	}
	return ok
}

// format returns the decoder of r: its named format, or the one detected from
// its content, cached per source and context.
func (k *Keyer) format(r *ingest.Record, b []byte) (decode.Format, bool) {
	if r.Format != "" {
		f, err := k.reg.Get(r.Format)
		return f, err == nil
	}
	d := xxhash.New()
	_, _ = d.WriteString(r.Source)
	_, _ = d.Write([]byte{0})
	_, _ = d.Write(r.Context)
	h := d.Sum64()
	k.mu.Lock()
	f, ok := k.formats[h]
	k.mu.Unlock()
	if ok {
		return f, true
	}
	det, err := k.reg.Detect(b[:min(len(b), 64<<10)])
	if err != nil {
		return decode.Format{}, false
	}
	// a source's records are one stream (the workers decode runs of them as one)
	k.mu.Lock()
	if len(k.formats) >= maxCachedFormats {
		clear(k.formats)
	}
	k.formats[h] = det.Format
	k.mu.Unlock()
	return det.Format, true
}

// keySink keeps the key of each record's first event (events before from
// are headers the decoder turned into events).
type keySink struct {
	buf    bytes.Buffer
	from   int64
	starts []int64 // each record's offset in buf
	ev     event.Event
	keys   []string
	set    []bool // the record's first event was seen
}

var keySinks = sync.Pool{New: func() any { return new(keySink) }}

func (s *keySink) Alloc() *event.Event { s.ev.Reset(); return &s.ev }

func (s *keySink) Emit(e *event.Event) {
	off := e.Origin.Offset
	if off < s.from {
		return
	}
	j, found := slices.BinarySearch(s.starts, off)
	if !found {
		j--
	}
	if j < 0 || s.set[j] {
		return
	}
	s.keys[j], s.set[j] = EntityKey(e), true
}

func (s *keySink) Reject(*decode.RecordError) {}

func (s *keySink) reset() {
	s.buf.Reset()
	s.from = 0
	s.starts = s.starts[:0]
	clear(s.keys)
	clear(s.set)
}
