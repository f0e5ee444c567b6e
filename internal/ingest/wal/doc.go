// Package wal is Vigil's write-ahead log: the ingest.Appender that makes
// `vigil serve` at-least-once. A source acknowledges a record only after
// Append returned nil for it; the stream consumer reads the log with Read and
// calls Commit once it has durably handled a prefix of it.
//
// # Durability
//
// Append returns nil only after the records are written and synced
// (fdatasync on Linux, fsync elsewhere), so an acknowledged record survives
// kill -9 and a power loss the storage honours. Concurrent Appends share one
// write and one sync (group commit): the first caller to find no write in
// progress becomes the leader and writes everything queued so far, the others
// wait for it. The records of one call get contiguous sequence numbers, in
// order. If ctx ends while a call waits, Append returns the ctx error, but
// its records stay queued and may still become durable and be read: the
// source must not acknowledge them and may send them again (at-least-once,
// never at-most-once). A failed write or sync is never reported as success:
// it fails that Append and every later one (errors wrap ErrFailed), since
// what reached the disk is unknown until the log is reopened and recovered.
// Options.NoSync voids the guarantee (tests and benchmarks only).
//
// # Format
//
// Dir holds segment files named after their first sequence number
// (%020d.wal), a checkpoint file and a LOCK file (flock: one process at a
// time). Sequence numbers start at 1, are contiguous and are never reused,
// across restarts and retention. A segment is
//
//	header:  "VGWALSG1" | first seq (uint64 LE)
//	frames:  body length (uint32 LE) | CRC32C (Castagnoli) of the body (uint32 LE) | body
//	body:    seq (uint64 LE) | flags (byte) | received (int64 LE, unix ns)
//	         | uvarint len + Source | uvarint len + Format
//	         | [uvarint len + Context, absent when flag 1] | uvarint len + Data
//
// Flag 1 means "same Context as the previous record": only set inside one
// Append call, which never spans two segments, so a segment decodes on its
// own. Flag 2 means a zero Received time. Empty and nil fields read back as
// nil. A segment is closed and a new one started, at an Append boundary, once
// it holds SegmentBytes or more.
//
// # Recovery
//
// Open scans every segment and checks its header, each frame's length, CRC,
// flags, field lengths and the contiguity of seqs. A crash can tear only the
// end of the last segment (a segment is synced before the next one is
// created), so the last segment is truncated right after its last valid frame
// (removed if even its header is torn); the bytes cut are logged, counted in
// vigil_wal_recovered_truncated_bytes_total and returned by Recovered. Only
// records never acknowledged are cut. Damage in any other segment, or a gap
// between segments, makes Open fail with the file and offset (that is not a
// crash, and the operator must decide), unless all it touches is committed:
// a crash during retention may bring back some removed segments and not
// others, and those are removed again.
//
// # Consumption and retention
//
// Read returns durable entries from a seq on, waiting up to a given time for
// the first one; a reader going forward continues where it stopped instead of
// rescanning. Commit(seq) persists the checkpoint atomically (temp file,
// sync, rename, directory sync) and then deletes the segments whose records
// are all <= seq (never the segment being written). Reading a deleted seq
// returns an error wrapping ErrTruncated; First says where the log starts.
// Committed survives restarts; records after it are read again after a
// restart, so the consumer must be idempotent on redelivery.
//
// # Backpressure
//
// Backlog is the bytes appended beyond what the consumer has processed (the
// larger of the committed seq and the one it reported with Consumed: a
// consumer that checkpoints now and then processes far ahead of its commits).
// When an Append would take it past MaxBacklog (a call on an empty backlog
// always goes through), Append returns an *ingest.OverloadError (errors.Is
// ingest.ErrOverloaded) without writing anything, and the source pushes back;
// it succeeds again once the consumer has caught up. A record whose
// Data and Context exceed MaxRecord is refused with an error naming it: that
// is not an overload, retrying cannot help.
//
// # Metrics
//
// vigil_wal_appended_records_total, vigil_wal_appended_bytes_total,
// vigil_wal_fsync_seconds (one write+sync per group commit),
// vigil_wal_backlog_bytes, vigil_wal_recovered_truncated_bytes_total,
// vigil_wal_overloaded_total.
package wal
