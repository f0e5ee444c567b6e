package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/ingest"
)

// Appender is an ingest node's ingest.Appender: it publishes each record to
// the events partition of its entity key and returns once the bus holds them
// (JetStream acknowledged them: they are replicated and stored as the stream
// is configured), so sources acknowledge only durable records, as with serve's
// write-ahead log. Records of one call keep their order within a partition;
// records in different partitions have no order between them.
//
// A message's ID derives from the record's source, context and bytes: a
// source retrying a batch it got no answer for publishes nothing twice within
// the bus's deduplication window, and beyond it the workers give the record's
// events the same ids (stream.OffsetBits), so it is still one event.
type Appender struct {
	Bus        bus.Bus
	Keyer      *Keyer
	Partitions int
}

// Append implements ingest.Appender.
func (a *Appender) Append(ctx context.Context, recs []ingest.Record) error {
	if len(recs) == 0 {
		return nil
	}
	groups := make([][]bus.Message, a.Partitions)
	keys := a.Keyer.Keys(ctx, recs)
	for i := range recs {
		r := &recs[i]
		p := bus.Partition(keys[i], a.Partitions)
		groups[p] = append(groups[p], bus.Message{ID: RecordID(r), Data: ingest.AppendRecord(nil, r)})
	}
	g, gctx := errgroup.WithContext(ctx)
	for p, msgs := range groups {
		if len(msgs) == 0 {
			continue
		}
		g.Go(func() error {
			if err := a.Bus.Publish(gctx, EventsTopic, p, msgs); err != nil {
				return fmt.Errorf("publishing %d records to partition %d: %w", len(msgs), p, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// RecordID is a record's message ID: 128 bits of SHA-256 of its source,
// context and bytes (not its receipt time: a retry is the same record).
func RecordID(r *ingest.Record) string {
	h := sha256.New()
	_, _ = h.Write([]byte(r.Source))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(r.Context)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(r.Data)
	var sum [sha256.Size]byte
	return "r" + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

var _ ingest.Appender = (*Appender)(nil)
