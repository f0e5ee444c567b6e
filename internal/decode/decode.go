// Package decode defines the contract every log decoder implements, and the
// framing helpers they share: a bounded line reader, a JSON record framer, record
// errors with stable reasons, and timestamp parsing.
//
// One package per format lives below this one (decode/evtx, decode/zeek, ...);
// decode/formats holds the one explicit list of them and detects a format from content.
package decode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// Decoder turns one stream of a single format into events.
//
// Decode reads in.R until EOF, filling events obtained from sink.Alloc and handing
// them on with sink.Emit, in source order. A record that cannot be decoded is
// reported with sink.Reject and decoding goes on with the next record. Decode returns
// a non-nil error only when the stream cannot be read any further (an I/O error, or
// a structure so broken that no later record can be found); records emitted before
// that stay emitted. It returns ctx.Err() soon after ctx is cancelled.
//
// A Decoder may be used again for another stream once Decode has returned (the
// pipeline keeps one per worker, so buffers and caches are reused), but never by two
// goroutines at once. Nothing of one stream may influence how the next is decoded
// (decode/formats tests this for every format).
type Decoder interface {
	Decode(ctx context.Context, in Input, sink Sink) error
}

// Input is one decompressed stream.
type Input struct {
	R      io.Reader
	Source string // file path (or archive!member) used in Origin and errors
	Limits Limits
	// ModTime is the source's modification time when it has one (a file, an archive
	// member); zero otherwise. Formats whose timestamps lack a year use it to place
	// them: it is a property of the input, so replays stay deterministic.
	ModTime time.Time
	// Year, when non-zero, is the year an operator states for year-less timestamps
	// (vigil hunt --year); it overrides ModTime.
	Year int
}

// Limits bound what one record may cost. Zero fields take the defaults.
type Limits struct {
	MaxLine   int // longest line a line format accepts, bytes
	MaxRecord int // largest single record (JSON object, EVTX chunk), bytes
}

// DefaultMaxLine is the longest accepted line: 1 MiB. Longer lines are rejected and skipped.
const DefaultMaxLine = 1 << 20

// DefaultMaxRecord is the largest accepted multi-line record: 64 MiB.
const DefaultMaxRecord = 64 << 20

// WithDefaults fills zero limits with the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultMaxLine
	}
	if l.MaxRecord <= 0 {
		l.MaxRecord = DefaultMaxRecord
	}
	return l
}

// Sink receives a decoder's output.
//
// Alloc returns a cleared event that the decoder owns until it passes it to Emit.
// A decoder that gives up on a record need not return the event: the next Alloc
// returns a cleared event again (possibly the same one). Emit hands the event on;
// the decoder must not touch it afterwards.
type Sink interface {
	Alloc() *event.Event
	Emit(e *event.Event)
	Reject(err *RecordError)
}

// Reasons for rejecting a record. They are stable: summaries count by them and
// tests assert them.
const (
	ReasonMalformed      = "malformed"        // syntax error in the record
	ReasonTruncated      = "truncated"        // the record ends before its structure does
	ReasonBadTimestamp   = "bad-timestamp"    // no parseable event time
	ReasonLineTooLong    = "line-too-long"    // longer than Limits.MaxLine
	ReasonRecordTooLarge = "record-too-large" // larger than Limits.MaxRecord
	ReasonBadChecksum    = "bad-checksum"     // a checksum over the record does not match
	ReasonUnsupported    = "unsupported"      // well-formed but not a record this decoder understands
	ReasonMissingField   = "missing-field"    // a field the format requires is absent
	ReasonBadEncoding    = "bad-encoding"     // invalid text encoding
)

// RecordError reports one rejected record: where it was and why.
type RecordError struct {
	Source string
	Format string
	Offset int64 // byte offset in the decompressed stream, -1 when unknown
	Line   int64 // 1-based line, 0 when not a line format
	Reason string
	Err    error
}

func (e *RecordError) Error() string {
	loc := e.Source
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, e.Line)
	}
	if e.Offset >= 0 {
		loc = fmt.Sprintf("%s (offset %d)", loc, e.Offset)
	}
	msg := fmt.Sprintf("%s: %s: %s", loc, e.Format, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *RecordError) Unwrap() error { return e.Err }

// Reject is a convenience that builds a RecordError and hands it to sink.
func Reject(sink Sink, in Input, format string, offset, line int64, reason string, err error) {
	sink.Reject(&RecordError{Source: in.Source, Format: format, Offset: offset, Line: line, Reason: reason, Err: err})
}

// ErrStop can be returned by helpers' callbacks to end iteration early without error.
var ErrStop = errors.New("stop")

// ErrPanic is wrapped by Safe's error when the decoder panicked.
var ErrPanic = errors.New("decoder panicked")

// Safe runs d, turning a panic into an error wrapping ErrPanic: a decoder bug
// on one hostile input must not end a run (it is counted and reported
// instead). A decoder that panicked may hold inconsistent state: callers that
// reuse decoders drop it.
func Safe(ctx context.Context, d Decoder, in Input, sink Sink) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return d.Decode(ctx, in, sink)
}
