package cluster

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/ingest"
)

// TestAppenderPushesBack: records for a partition holding more than
// MaxBacklog are refused whole with an overload error (nothing published),
// other partitions' records still go, and the partition takes records again
// once its worker trims it.
func TestAppenderPushesBack(t *testing.T) {
	ctx := t.Context()
	b := bus.NewMemory(bus.MemoryOptions{})
	defer b.Close()
	const parts = 4
	if err := Ensure(ctx, b, parts); err != nil {
		t.Fatal(err)
	}
	a := &Appender{Bus: b, Keyer: NewKeyer(formats.Default(), decode.Limits{}), Partitions: parts, MaxBacklog: 20_000}
	rec := func(host string, i int) ingest.Record {
		return ingest.Record{Source: "http:ndjson", Data: fmt.Appendf(nil,
			`{"@timestamp":"2026-03-04T10:00:%02dZ","host":{"name":%q},"event":{"kind":"event"},"message":"%0500d"}`, i%60, host, i)}
	}
	// Two hosts in different partitions.
	part := func(host string) int {
		r := rec(host, 0)
		return bus.Partition(a.Keyer.Key(ctx, &r), parts)
	}
	h1, h2 := "alpha", ""
	p1 := part(h1)
	for i := range 100 {
		if h := fmt.Sprintf("host%d", i); part(h) != p1 {
			h2 = h
			break
		}
	}
	p2 := part(h2)
	if h2 == "" {
		t.Fatalf("records are not keyed by host (partition %d for all)", p1)
	}
	// Fill p1 past the bound: the first call on an empty partition always goes.
	var batch []ingest.Record
	for i := range 50 {
		batch = append(batch, rec(h1, i))
	}
	if err := a.Append(ctx, batch); err != nil {
		t.Fatalf("the first append: %v", err)
	}
	last1, _ := b.Last(ctx, EventsTopic, p1)
	if last1 != 50 {
		t.Fatalf("partition %d holds %d records, want 50", p1, last1)
	}
	err := a.Append(ctx, []ingest.Record{rec(h2, 1), rec(h1, 99)})
	var oe *ingest.OverloadError
	if !errors.Is(err, ingest.ErrOverloaded) || !errors.As(err, &oe) || oe.Backlog < 20_000 || oe.RetryAfter <= 0 {
		t.Fatalf("append to a full partition: %v", err)
	}
	if n, _ := b.Last(ctx, EventsTopic, p2); n != 0 {
		t.Errorf("a refused call published %d records to partition %d", n, p2)
	}
	if err := a.Append(ctx, []ingest.Record{rec(h2, 2)}); err != nil {
		t.Errorf("another partition's records: %v", err)
	}
	if got := testutil.ToFloat64(a.Collectors()[0]); got != 1 {
		t.Errorf("overloaded_total = %v, want 1", got)
	}
	// The worker checkpoints and trims: after the cached size lapses the
	// partition takes records again.
	if err := b.Trim(ctx, EventsTopic, p1, last1+1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(heldTTL + 50*time.Millisecond)
	if err := a.Append(ctx, []ingest.Record{rec(h1, 100)}); err != nil {
		t.Errorf("after the trim: %v", err)
	}
	// Unbounded without MaxBacklog.
	a2 := &Appender{Bus: b, Keyer: a.Keyer, Partitions: parts}
	for i := range 3 {
		if err := a2.Append(ctx, batch); err != nil {
			t.Fatalf("unbounded append %d: %v", i, err)
		}
	}
}
