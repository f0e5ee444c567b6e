// Package ingest holds what every streaming source shares: the raw Record a
// source accepts and the Appender that makes records durable before the source
// acknowledges them (the write-ahead log, ingest/wal).
//
// The contract, for every source (HTTP NDJSON, Splunk HEC, Elasticsearch _bulk,
// syslog, file tail):
//   - A source acknowledges a record (HTTP 200, a tail checkpoint, a TCP read
//     continuing) only after Append returned nil for it: at-least-once.
//   - When Append returns an error wrapping ErrOverloaded the source pushes back:
//     HTTP answers 429 (or 503) with Retry-After, TCP stops reading, a tailer
//     waits; UDP, which cannot push back, counts the datagram as dropped.
//   - Records are raw: one log line or one JSON document each, without the
//     trailing newline. Decoding happens downstream (internal/stream), with the
//     same decoders as vigil hunt.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Record is one raw record as a source accepted it.
type Record struct {
	// Source names where the record came from, stable across restarts, as
	// "kind:detail": "http:ndjson", "hec:<token name>", "bulk:<index>",
	// "syslog:udp", "syslog:tcp", "tail:/var/log/auth.log". Records of one
	// source are decoded as one stream, in order.
	Source string
	// Format is the decoder format id when the source knows it (a HEC
	// sourcetype mapping, --format on a tail, a syslog listener); "" lets the
	// stream detect it from the content, as hunt does.
	Format string
	// Context is what the decoder must read before Data to understand it: the
	// header lines of a Zeek TSV or W3C file, a CSV header row. Empty for
	// self-describing records (JSON, syslog). Sources repeat it on every record
	// of such a file; the WAL may store it once per run of equal contexts.
	Context []byte
	// Data is the record itself.
	Data []byte
	// Received is the wall-clock time the source accepted the record. It is used
	// only for latency metrics, never by detection (event time rules there).
	Received time.Time
}

// Appender makes records durable. Append returns nil only once every record
// of recs is durable (written and synced, so it survives kill -9 and a power
// loss the storage honours); it is safe for concurrent use, and the records
// of one call stay in order and contiguous. Append does not keep recs, nor
// the bytes they point to, once it returns: a source may reuse its buffers.
type Appender interface {
	Append(ctx context.Context, recs []Record) error
}

// ErrOverloaded is wrapped by Append errors that ask the source to push back:
// the backlog of records not yet processed is over its bound.
var ErrOverloaded = errors.New("ingest overloaded")

// OverloadError is an ErrOverloaded with a suggested wait.
type OverloadError struct {
	RetryAfter time.Duration
	Backlog    int64 // bytes waiting to be processed
}

func (e *OverloadError) Error() string {
	return fmt.Sprintf("ingest overloaded: %d bytes waiting; retry after %s", e.Backlog, e.RetryAfter)
}

// Is makes errors.Is(err, ErrOverloaded) true.
func (e *OverloadError) Is(target error) bool { return target == ErrOverloaded }

// RetryAfter returns the wait an overload error suggests, at least a second
// (HTTP's Retry-After has second resolution), or 0 when err is not an overload.
func RetryAfter(err error) time.Duration {
	if !errors.Is(err, ErrOverloaded) {
		return 0
	}
	var oe *OverloadError
	if errors.As(err, &oe) && oe.RetryAfter > time.Second {
		return oe.RetryAfter.Round(time.Second)
	}
	return time.Second
}
