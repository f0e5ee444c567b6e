// Package bus is how Vigil's nodes hand work to each other when one machine is
// not enough: partitioned, durable, ordered logs (topics) that ingest nodes
// publish to and workers read from a position, and leases by which workers
// share the partitions among themselves. Two implementations pass the same
// conformance suite (bus/bustest): Memory, in process, for one machine and for
// tests; and bus/jetstream, on NATS JetStream, for many.
//
// # Topics and partitions
//
// A topic has a fixed number of partitions. Each partition is its own log:
// messages get consecutive sequence numbers from 1 in the order they were
// appended, and a reader asks for messages from a sequence on, so a worker that
// takes a partition over restores the last owner's snapshot and reads on from
// the sequence it names. Which partition a message goes to is the publisher's
// choice (Partition hashes an entity key); the bus keeps no order across
// partitions.
//
// # Idempotency
//
// A message carries an ID. Publishing a message whose ID its partition already
// holds (within the implementation's deduplication window; Memory: the last
// DedupWindow messages; JetStream: the stream's duplicate window) appends
// nothing: a publisher that did not see its acknowledgement publishes the batch
// again. Readers are idempotent beyond the window (what they produce has ids
// derived from the messages' contents).
//
// # Leases
//
// A lease is a key held by one owner until it releases it or stops renewing it
// for the bus's lease time to live. Workers announce themselves with a lease
// each ("member/<id>") and hold the partitions they own with one each
// ("partition/<topic>/<n>"): when a worker dies its leases lapse and the others
// take its partitions over.
package bus

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors.
var (
	// ErrInvalid is returned for an invalid argument: an unknown topic, a
	// partition out of range, an empty message ID, a bad topic definition.
	ErrInvalid = errors.New("bus: invalid argument")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("bus: closed")
)

// Topic defines a partitioned log.
type Topic struct {
	// Name: letters, digits, '-' and '_', at most 64 bytes.
	Name string
	// Partitions is the fixed number of partitions, at least 1. Ensure refuses
	// to change it for an existing topic: messages would move between
	// partitions and their readers' positions would mean nothing.
	Partitions int
	// MaxBytes bounds each partition's size (0: unbounded); beyond it the
	// oldest messages are dropped, so a reader may find its position gone
	// (Read then starts from the oldest message held, see Read).
	MaxBytes int64
}

// PartitionState is a partition's size.
type PartitionState struct {
	Last uint64 // as Bus.Last
	// Bytes the partition holds (what Trim and MaxBytes have not dropped), as
	// MaxBytes counts them: a producer's measure of the backlog its readers
	// have not trimmed.
	Bytes int64
}

// Message is one entry of a partition.
type Message struct {
	// Seq is the message's position in its partition, from 1; set by the bus
	// (ignored on Publish).
	Seq uint64
	// ID identifies the message for deduplication; required, at most 256 bytes.
	ID   string
	Data []byte
}

// Bus is a set of partitioned logs with leases. Implementations are safe for
// concurrent use.
type Bus interface {
	// Ensure creates the topic if it does not exist; for an existing one it
	// checks the number of partitions (ErrInvalid when it differs) and applies
	// MaxBytes.
	Ensure(ctx context.Context, t Topic) error
	// Publish appends msgs to a partition of a topic, in order, and returns once
	// they are durable (as durable as the implementation is). Messages whose ID
	// the partition already holds are skipped. On error some of msgs may have
	// been appended: publishing them again is safe.
	Publish(ctx context.Context, topic string, partition int, msgs []Message) error
	// Read returns up to max (at least 1) messages of a partition with
	// Seq >= from, in order, waiting up to wait for the first when there is
	// none yet; none (and no error) when the wait ends or ctx is done. When
	// messages from on were dropped (Trim, MaxBytes) it starts from the oldest
	// one held: the caller sees the gap in the first message's Seq. The
	// messages returned are the caller's: the bus keeps no reference to their
	// Data.
	Read(ctx context.Context, topic string, partition int, from uint64, max int, wait time.Duration) ([]Message, error)
	// Trim drops a partition's messages with Seq < before: a reader has
	// checkpointed past them. A before past the last message drops every
	// message held, never one appended later, and does not change Last.
	Trim(ctx context.Context, topic string, partition int, before uint64) error
	// Last returns the Seq of the last message appended to a partition (0 when
	// none ever was).
	Last(ctx context.Context, topic string, partition int) (uint64, error)
	// State returns a partition's Last and the bytes it holds, in one
	// request.
	State(ctx context.Context, topic string, partition int) (PartitionState, error)

	// Acquire takes the lease key for owner, or renews it when owner holds it
	// already; it reports whether owner holds it now. A lease lapses when its
	// owner has not acquired it for the bus's lease TTL. Keys and owners are
	// any non-empty strings of at most MaxLeaseKey bytes (ErrInvalid otherwise).
	Acquire(ctx context.Context, key, owner string) (bool, error)
	// Release gives the lease up when owner holds it (no error otherwise).
	Release(ctx context.Context, key, owner string) error
	// Leases returns the live leases whose keys start with prefix, key → owner.
	Leases(ctx context.Context, prefix string) (map[string]string, error)

	// Close releases the bus; it is idempotent. Readers waiting in Read return
	// ErrClosed.
	Close() error
}

// Limits of the contract, in bytes; beyond them a call fails with ErrInvalid.
const (
	MaxTopicName = 64
	MaxID        = 256
	MaxLeaseKey  = 256
)

// Validate checks t against the rules of Topic; the error wraps ErrInvalid.
func (t Topic) Validate() error {
	if err := ValidateTopicName(t.Name); err != nil {
		return err
	}
	if t.Partitions < 1 {
		return fmt.Errorf("%w: topic %s has %d partitions, want at least 1", ErrInvalid, t.Name, t.Partitions)
	}
	if t.MaxBytes < 0 {
		return fmt.Errorf("%w: topic %s has a negative MaxBytes", ErrInvalid, t.Name)
	}
	return nil
}

// ValidateTopicName checks a topic name: letters, digits, '-' and '_', at most
// MaxTopicName bytes. The error wraps ErrInvalid.
func ValidateTopicName(name string) error {
	if name == "" || len(name) > MaxTopicName {
		return fmt.Errorf("%w: topic name %q is empty or longer than %d bytes", ErrInvalid, name, MaxTopicName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: topic name %q has a character other than letters, digits, '-' and '_'", ErrInvalid, name)
		}
	}
	return nil
}

// ValidateMessages checks the IDs of messages to publish: each required, at
// most MaxID bytes. The error wraps ErrInvalid.
func ValidateMessages(msgs []Message) error {
	for i, m := range msgs {
		if m.ID == "" || len(m.ID) > MaxID {
			return fmt.Errorf("%w: message %d has an empty ID or one longer than %d bytes", ErrInvalid, i, MaxID)
		}
	}
	return nil
}

// ValidateLease checks a lease key and owner. The error wraps ErrInvalid.
func ValidateLease(key, owner string) error {
	if key == "" || len(key) > MaxLeaseKey {
		return fmt.Errorf("%w: lease key is empty or longer than %d bytes", ErrInvalid, MaxLeaseKey)
	}
	if owner == "" || len(owner) > MaxLeaseKey {
		return fmt.Errorf("%w: lease owner is empty or longer than %d bytes", ErrInvalid, MaxLeaseKey)
	}
	return nil
}

// Partition returns the partition of key among n partitions: FNV-1a of the key,
// modulo n. Stable across versions and machines: a topic's messages never move.
func Partition(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := uint32(2166136261) // FNV-1a, 32 bits
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// DefaultLeaseTTL is how long a lease lives without being renewed, unless
// an implementation's options say otherwise.
const DefaultLeaseTTL = 10 * time.Second
