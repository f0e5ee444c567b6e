package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/bus"
)

// partKey names a partition.
type partKey struct {
	topic     string
	partition int
}

// reader is an ephemeral pull consumer of a partition's stream and where its
// caller stands.
type reader struct {
	stream string
	name   string
	cons   natsjs.Consumer
	// next is the caller's position: the lowest Seq it wants next. The
	// consumer delivers next the first message held at or after it, as long
	// as delivered is the consumer sequence of the last message received.
	next      uint64
	delivered uint64
	used      time.Time
}

// errOutOfStep reports that a reader's consumer delivered messages that never
// reached it (to a pull request given up): it must be replaced.
var errOutOfStep = errors.New("reader out of step with its consumer")

// maxReaderAttempts bounds how many times one Read replaces its consumer.
const maxReaderAttempts = 3

// Read returns up to limit messages of a partition from from on, waiting up to
// wait for the first.
func (b *Bus) Read(ctx context.Context, topic string, partition int, from uint64, limit int, wait time.Duration) ([]bus.Message, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: read of %d messages", bus.ErrInvalid, limit)
	}
	stream, err := b.stream(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	from = max(from, 1)
	deadline := time.Now().Add(wait)
	key := partKey{topic, partition}
	r := b.takeReader(key)
	if r != nil && (r.next != from || time.Since(r.used) > readerInactive/2) {
		b.dropReader(r)
		r = nil
	}
	for attempt := 1; ; attempt++ {
		if r == nil {
			r, err = b.newReader(ctx, stream, from)
			if err != nil {
				return b.readFailed(ctx, err, "reading %s/%d", topic, partition)
			}
		}
		out, err := b.fetch(ctx, r, limit, deadline)
		if err == nil {
			r.used = time.Now()
			b.putReader(key, r)
			return out, nil
		}
		b.dropReader(r)
		if len(out) > 0 {
			// What came before the consumer went out of step or failed: the
			// next Read starts a new one after it.
			return out, nil
		}
		retry := errors.Is(err, errOutOfStep) || errors.Is(err, nats.ErrNoResponders) ||
			errors.Is(err, natsjs.ErrConsumerDeleted) || errors.Is(err, natsjs.ErrConsumerNotFound)
		if !retry || attempt == maxReaderAttempts || ctx.Err() != nil || b.isClosed() {
			return b.readFailed(ctx, err, "reading %s/%d from %d", topic, partition, r.next)
		}
		// Replace the consumer where the caller stands and read again.
		from, r = r.next, nil
	}
}

// readFailed is Read's result for err: none and no error when ctx is done
// (the contract), ErrClosed after Close.
func (b *Bus) readFailed(ctx context.Context, err error, format string, args ...any) ([]bus.Message, error) {
	if errors.Is(err, bus.ErrClosed) || b.isClosed() {
		return nil, fmt.Errorf(format+": %w", append(args, bus.ErrClosed)...)
	}
	if ctx.Err() != nil {
		return nil, nil
	}
	return nil, b.fail(err, format, args...)
}

// newReader creates a consumer of stream starting at from.
func (b *Bus) newReader(ctx context.Context, stream string, from uint64) (*reader, error) {
	cons, err := b.js.CreateConsumer(ctx, stream, natsjs.ConsumerConfig{
		Description:       "vigil bus reader",
		DeliverPolicy:     natsjs.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         natsjs.AckNonePolicy,
		InactiveThreshold: readerInactive,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return nil, fmt.Errorf("creating a consumer of %s: %w", stream, err)
	}
	return &reader{stream: stream, name: cons.CachedInfo().Name, cons: cons, next: from}, nil
}

// takeReader removes the idle reader of a partition from the cache.
func (b *Bus) takeReader(key partKey) *reader {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.readers[key]
	delete(b.readers, key)
	return r
}

// putReader caches r as the idle reader of a partition, replacing any other.
func (b *Bus) putReader(key partKey, r *reader) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.dropReader(r)
		return
	}
	old := b.readers[key]
	b.readers[key] = r
	b.mu.Unlock()
	if old != nil {
		b.dropReader(old)
	}
}

// dropReader deletes a reader's consumer in the background. After Close the
// server deletes it once it has been inactive long enough.
func (b *Bus) dropReader(r *reader) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.bg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := b.js.DeleteConsumer(ctx, r.stream, r.name); err != nil && !errors.Is(err, natsjs.ErrConsumerNotFound) {
			b.log.DebugContext(ctx, "deleting a reader's consumer", "stream", r.stream, "consumer", r.name, "err", err)
		}
	})
}

// fetch reads up to limit messages with r: what is there, or else the first
// to come before deadline and what came with it. On errOutOfStep it returns
// the messages received before the consumer went out of step.
func (b *Bus) fetch(ctx context.Context, r *reader, limit int, deadline time.Time) ([]bus.Message, error) {
	out, err := b.take(r, limit, nil)
	if err != nil || len(out) > 0 {
		return out, err
	}
	for {
		left := time.Until(deadline)
		if left <= time.Millisecond {
			return nil, nil
		}
		batch, err := r.cons.Fetch(1, natsjs.FetchMaxWait(min(left, maxFetchWait)))
		if err != nil {
			return nil, err
		}
		select {
		case m, ok := <-batch.Messages():
			if !ok { // the request expired (or failed)
				if err := batch.Error(); err != nil {
					return nil, err
				}
				continue
			}
			if out, err = r.receive(out, m); err != nil {
				return out, err
			}
			// One came: take what came with it.
			return b.take(r, limit-1, out)
		case <-ctx.Done():
			// The request is still pending on the server, which may deliver
			// to it: the consumer is out of step.
			return nil, fmt.Errorf("waiting: %w: %w", errOutOfStep, ctx.Err())
		case <-b.done:
			return nil, bus.ErrClosed
		}
	}
}

// take appends to out up to limit messages there now.
func (b *Bus) take(r *reader, limit int, out []bus.Message) ([]bus.Message, error) {
	if limit < 1 {
		return out, nil
	}
	batch, err := r.cons.FetchNoWait(limit)
	if err != nil {
		return out, err
	}
	for m := range batch.Messages() {
		if out, err = r.receive(out, m); err != nil {
			return out, err
		}
	}
	return out, batch.Error()
}

// receive appends a delivered message to out, checking that no delivery was
// missed since the last.
func (r *reader) receive(out []bus.Message, m natsjs.Msg) ([]bus.Message, error) {
	meta, err := m.Metadata()
	if err != nil {
		return out, fmt.Errorf("reading a message's metadata: %w", err)
	}
	if meta.Sequence.Consumer != r.delivered+1 {
		return out, fmt.Errorf("delivery %d after %d: %w", meta.Sequence.Consumer, r.delivered, errOutOfStep)
	}
	r.delivered = meta.Sequence.Consumer
	r.next = meta.Sequence.Stream + 1
	raw := m.Headers().Get(natsjs.MsgIDHeader)
	id, err := unescapeID(raw)
	if err != nil {
		id = raw // published by something else than the bus
	}
	return append(out, bus.Message{Seq: meta.Sequence.Stream, ID: id, Data: m.Data()}), nil
}
