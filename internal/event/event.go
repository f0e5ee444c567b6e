// Package event defines Vigil's normalized event: an ECS-named typed core plus the
// producer's raw fields, addressable by name through accessors resolved once.
//
// The hot path (detectors evaluating events) never looks a field up by string: a
// rule compiles a field name to an Accessor with Lookup, and evaluation is then an
// array index (ECS fields) or a scan comparing interned keys (raw fields).
package event

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unique"
)

// MaxRawFields bounds the raw fields kept per event; hostile records with more
// fields are truncated and flagged (Event.RawTruncated) rather than growing memory.
const MaxRawFields = 1024

// Key is an interned raw field name. Comparing two Keys is a pointer compare.
type Key = unique.Handle[string]

// MakeKey interns name.
func MakeKey(name string) Key { return unique.Make(name) }

// RawField is one field as the producer named it (Image, CommandLine, id.orig_h, ...).
// A name may repeat: multi-valued producer fields are kept as repeated RawFields.
type RawField struct {
	Key   Key
	Value string
}

// Name returns the field's name.
func (r RawField) Name() string { return r.Key.Value() }

// Origin says where an event came from, for evidence and error reports.
type Origin struct {
	Source string // file path or stream name
	Format string // decoder id, e.g. "evtx", "zeek-tsv"
	Offset int64  // byte offset of the record in the (decompressed) source
	Line   int64  // 1-based line number for line formats, 0 otherwise
	Record int64  // producer's record number where it has one (EVTX EventRecordID), else 0
	// Pos is the position of the event's record in a stream's write-ahead log
	// (vigil serve); 0 for files. It is not part of the event's id: a record
	// sent twice (an unacknowledged retry) is the same event.
	Pos uint64
}

// Related holds the ECS related.* values: every IP, user, host and hash the event mentions.
type Related struct {
	IP    []netip.Addr
	User  []string
	Hosts []string
	Hash  []string
}

// Event is one normalized record. The zero value is an empty event; Reset makes an
// event reusable so the pipeline can recycle them without allocating.
type Event struct {
	Timestamp time.Time
	Category  Category
	Type      Type

	str    [numStrFields]string
	num    [numNumFields]int64
	hasNum uint32 // bit i set when num[i] is present
	ip     [numIPFields]netip.Addr

	Related Related
	Raw     []RawField
	// RawTruncated is set when the producer's record had more than MaxRawFields fields.
	RawTruncated bool

	Origin Origin
}

// Reset clears e for reuse, keeping the capacity of its slices.
func (e *Event) Reset() {
	raw := e.Raw[:0]
	rel := Related{IP: e.Related.IP[:0], User: e.Related.User[:0], Hosts: e.Related.Hosts[:0], Hash: e.Related.Hash[:0]}
	clear(e.Raw) // drop references to old strings (past len, ClearRaw kept them zero)
	*e = Event{Raw: raw, Related: rel}
}

// Str returns the value of an ECS string field ("" when unset).
func (e *Event) Str(f StrField) string { return e.str[f] }

// SetStr sets an ECS string field.
func (e *Event) SetStr(f StrField, v string) { e.str[f] = v }

// SetStrIfEmpty sets f to v unless f already has a value.
func (e *Event) SetStrIfEmpty(f StrField, v string) {
	if e.str[f] == "" {
		e.str[f] = v
	}
}

// Num returns the value of an ECS numeric field and whether it is set.
func (e *Event) Num(f NumField) (int64, bool) { return e.num[f], e.hasNum&(1<<f) != 0 }

// SetNum sets an ECS numeric field.
func (e *Event) SetNum(f NumField, v int64) {
	e.num[f] = v
	e.hasNum |= 1 << f
}

// IP returns an ECS IP field; the zero Addr (IsValid false) when unset.
func (e *Event) IP(f IPField) netip.Addr { return e.ip[f] }

// SetIP sets an ECS IP field and records the address in related.ip.
func (e *Event) SetIP(f IPField, a netip.Addr) {
	if !a.IsValid() {
		return
	}
	e.ip[f] = a
	e.AddRelatedIP(a)
}

// AddRaw appends a producer field. Past MaxRawFields it drops the field and flags the event.
func (e *Event) AddRaw(k Key, v string) {
	if len(e.Raw) >= MaxRawFields {
		e.RawTruncated = true
		return
	}
	e.Raw = append(e.Raw, RawField{Key: k, Value: v})
}

// ClearRaw empties e.Raw and clears RawTruncated, dropping the references to the old
// values (Reset relies on the slots past len being zero).
func (e *Event) ClearRaw() {
	clear(e.Raw)
	e.Raw, e.RawTruncated = e.Raw[:0], false
}

// RawValue returns the first value of the raw field k.
func (e *Event) RawValue(k Key) (string, bool) {
	for i := range e.Raw {
		if e.Raw[i].Key == k {
			return e.Raw[i].Value, true
		}
	}
	return "", false
}

// AddRelatedIP records a in related.ip once.
func (e *Event) AddRelatedIP(a netip.Addr) {
	if !a.IsValid() {
		return
	}
	for _, x := range e.Related.IP {
		if x == a {
			return
		}
	}
	e.Related.IP = append(e.Related.IP, a)
}

// AddRelatedUser records a canonical user name in related.user once.
func (e *Event) AddRelatedUser(u string) { e.Related.User = appendOnce(e.Related.User, u) }

// AddRelatedHost records a canonical host name in related.hosts once.
func (e *Event) AddRelatedHost(h string) { e.Related.Hosts = appendOnce(e.Related.Hosts, h) }

// AddRelatedHash records a hash in related.hash once.
func (e *Event) AddRelatedHash(h string) { e.Related.Hash = appendOnce(e.Related.Hash, h) }

func appendOnce(s []string, v string) []string {
	if v == "" || v == "-" {
		return s
	}
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// ID returns a stable identifier for the event derived from where it came from
// (source, offset, producer record number), so replays and redeliveries agree.
func (e *Event) ID() string { return e.Origin.ID() }

// ID returns the identifier of the event at this origin (see Event.ID), for code
// that keeps the origin but not the event.
func (o Origin) ID() string {
	h := fnv.New128a()
	h.Write([]byte(o.Source))
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], uint64(o.Offset))
	binary.LittleEndian.PutUint64(buf[8:], uint64(o.Record))
	h.Write(buf[:])
	return hex.EncodeToString(h.Sum(nil))
}

// Clone returns a deep copy of e: every string is copied, so the clone stays valid
// after e's batch (and the arena its strings point into) is recycled.
func (e *Event) Clone() *Event {
	c := *e
	for i := range c.str {
		c.str[i] = strings.Clone(c.str[i])
	}
	c.Raw = make([]RawField, len(e.Raw))
	for i, r := range e.Raw {
		c.Raw[i] = RawField{Key: r.Key, Value: strings.Clone(r.Value)}
	}
	c.Related = Related{IP: slices.Clone(e.Related.IP), User: cloneStrings(e.Related.User),
		Hosts: cloneStrings(e.Related.Hosts), Hash: cloneStrings(e.Related.Hash)}
	c.Origin.Source = strings.Clone(e.Origin.Source)
	c.Origin.Format = strings.Clone(e.Origin.Format)
	return &c
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.Clone(v)
	}
	return out
}
