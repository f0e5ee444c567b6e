package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/stream"
)

// undecodableSource is the source of a record whose message did not decode:
// the processor counts it as a record in no known format.
const undecodableSource = "bus:undecodable"

// partitionLog is one events partition as a stream.Log: committing trims the
// partition (its owner alone reads it; a checkpoint covers what is trimmed).
type partitionLog struct {
	bus       bus.Bus
	partition int
	bad       *atomic.Int64
	log       *slog.Logger
}

func (l partitionLog) Read(ctx context.Context, from uint64, maxN int, wait time.Duration) ([]stream.Entry, error) {
	msgs, err := l.bus.Read(ctx, EventsTopic, l.partition, from, maxN, wait)
	if err != nil {
		return nil, err
	}
	out := make([]stream.Entry, len(msgs))
	for i, m := range msgs {
		out[i].Seq = m.Seq
		r, err := ingest.DecodeRecord(m.Data)
		if err != nil {
			// kept as a record no decoder knows: positions stay contiguous
			l.bad.Add(1)
			l.log.WarnContext(ctx, "a message of the events topic is not a record", "partition", l.partition, "seq", m.Seq, "err", err)
			out[i].Record = ingest.Record{Source: undecodableSource}
			continue
		}
		out[i].Record = r
	}
	return out, nil
}

func (l partitionLog) Commit(seq uint64) error {
	if err := l.bus.Trim(context.Background(), EventsTopic, l.partition, seq+1); err != nil {
		return fmt.Errorf("trimming partition %d before %d: %w", l.partition, seq+1, err)
	}
	return nil
}
