// Package bustest is the conformance suite every bus.Bus implementation runs:
// bus.Memory in process, bus/jetstream against a NATS server. It is the
// executable form of the contract documented in package bus.
//
// Usage, in an implementation's tests:
//
//	func TestConformance(t *testing.T) {
//		bustest.Run(t, func(t *testing.T, leaseTTL time.Duration) bus.Bus {
//			return openEmpty(t, leaseTTL)
//		})
//	}
package bustest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/bus"
)

// LeaseTTL is the lease time to live the suite opens its buses with: short, so
// that the lapse of a lease can be watched, long enough for a NATS server to
// answer many times within it.
const LeaseTTL = time.Second

// Run runs the conformance suite. open must return a new, empty bus for each
// call, whose leases live leaseTTL; the suite closes it (and closing it again
// must be harmless).
func Run(t *testing.T, open func(t *testing.T, leaseTTL time.Duration) bus.Bus) {
	h := harness{open: open}
	t.Run("Topics", func(t *testing.T) {
		t.Run("EnsureIdempotent", h.testEnsureIdempotent)
		t.Run("EnsurePartitionsFixed", h.testEnsurePartitionsFixed)
		t.Run("EnsureInvalid", h.testEnsureInvalid)
		t.Run("MaxBytes", h.testMaxBytes)
	})
	t.Run("Invalid", h.testInvalid)
	t.Run("Publish", func(t *testing.T) {
		t.Run("Sequences", h.testSequences)
		t.Run("RoundTrip", h.testRoundTrip)
		t.Run("Dedup", h.testDedup)
		t.Run("ConcurrentPublishers", h.testConcurrentPublishers)
	})
	t.Run("Read", func(t *testing.T) {
		t.Run("Positions", h.testReadPositions)
		t.Run("WaitsWhenAtEnd", h.testReadWaits)
		t.Run("WokenByPublish", h.testReadWokenByPublish)
		t.Run("ContextCanceled", h.testReadContextCanceled)
		t.Run("DataIsCallers", h.testReadDataIsCallers)
	})
	t.Run("Trim", h.testTrim)
	t.Run("State", h.testState)
	t.Run("Leases", func(t *testing.T) {
		t.Run("Exclusive", h.testLeaseExclusive)
		t.Run("Lapse", h.testLeaseLapse)
		t.Run("List", h.testLeaseList)
	})
	t.Run("Close", h.testClose)
}

type harness struct {
	open func(t *testing.T, leaseTTL time.Duration) bus.Bus
}

// bus opens a fresh bus that is closed when the test ends.
func (h harness) bus(t *testing.T) bus.Bus {
	t.Helper()
	b := h.open(t, LeaseTTL)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

func ensure(t *testing.T, b bus.Bus, name string, partitions int) {
	t.Helper()
	must(t, b.Ensure(t.Context(), bus.Topic{Name: name, Partitions: partitions}))
}

// msgs builds messages with the given IDs and data "data of <id>".
func msgs(ids ...string) []bus.Message {
	out := make([]bus.Message, len(ids))
	for i, id := range ids {
		out[i] = bus.Message{ID: id, Data: []byte("data of " + id)}
	}
	return out
}

// ids returns "<prefix><i>" for i in [from, to).
func ids(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func publish(t *testing.T, b bus.Bus, topic string, partition int, ids ...string) {
	t.Helper()
	must(t, b.Publish(t.Context(), topic, partition, msgs(ids...)))
}

func read(t *testing.T, b bus.Bus, topic string, partition int, from uint64, limit int) []bus.Message {
	t.Helper()
	got, err := b.Read(t.Context(), topic, partition, from, limit, 0)
	if err != nil {
		t.Fatalf("Read(%s/%d from %d, %d): %v", topic, partition, from, limit, err)
	}
	return got
}

// readAll reads a partition from from to its end, checking that every Read
// respects its limit and continues where the last one ended.
func readAll(t *testing.T, b bus.Bus, topic string, partition int, from uint64) []bus.Message {
	t.Helper()
	const limit = 100
	var all []bus.Message
	for {
		got := read(t, b, topic, partition, from, limit)
		if len(got) == 0 {
			return all
		}
		if len(got) > limit {
			t.Fatalf("Read returned %d messages, limit %d", len(got), limit)
		}
		if got[0].Seq < from {
			t.Fatalf("Read from %d returned Seq %d", from, got[0].Seq)
		}
		all = append(all, got...)
		from = got[len(got)-1].Seq + 1
	}
}

// entry is a message as the suite compares it.
type entry struct {
	Seq  uint64
	ID   string
	Data string
}

func entries(ms []bus.Message) []entry {
	out := make([]entry, len(ms))
	for i, m := range ms {
		out[i] = entry{m.Seq, m.ID, string(m.Data)}
	}
	return out
}

// want returns the entries of ids published in order from Seq first on.
func want(first uint64, ids ...string) []entry {
	out := make([]entry, len(ids))
	for i, id := range ids {
		out[i] = entry{first + uint64(i), id, "data of " + id}
	}
	return out
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s differs\n got: %+v\nwant: %+v", what, got, want)
	}
}

func last(t *testing.T, b bus.Bus, topic string, partition int) uint64 {
	t.Helper()
	n, err := b.Last(t.Context(), topic, partition)
	if err != nil {
		t.Fatalf("Last(%s/%d): %v", topic, partition, err)
	}
	return n
}

func (h harness) testEnsureIdempotent(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 4)
	publish(t, b, "events", 3, "a", "b")
	ensure(t, b, "events", 4) // again: keeps the messages
	if n := last(t, b, "events", 3); n != 2 {
		t.Errorf("Last after a second Ensure = %d, want 2", n)
	}
	equal(t, "messages after a second Ensure", entries(readAll(t, b, "events", 3, 1)), want(1, "a", "b"))
	// Topics are independent, and names differ by case and by '_'.
	ensure(t, b, "Events", 1)
	ensure(t, b, "events_000", 1)
	ensure(t, b, "ev-ents", 2)
	for _, topic := range []string{"Events", "events_000", "ev-ents"} {
		if n := last(t, b, topic, 0); n != 0 {
			t.Errorf("Last of new topic %s = %d, want 0", topic, n)
		}
	}
	publish(t, b, "events_000", 0, "x")
	if n := last(t, b, "events", 0); n != 0 {
		t.Errorf("publishing to events_000 changed events/0: Last = %d", n)
	}
}

func (h harness) testEnsurePartitionsFixed(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 4)
	for _, n := range []int{1, 3, 5, 8} {
		err := b.Ensure(t.Context(), bus.Topic{Name: "events", Partitions: n})
		wantErr(t, err, bus.ErrInvalid, fmt.Sprintf("Ensure with %d partitions of a topic with 4", n))
	}
	// Still 4 partitions.
	publish(t, b, "events", 3, "a")
	err := b.Publish(t.Context(), "events", 4, msgs("b"))
	wantErr(t, err, bus.ErrInvalid, "Publish to partition 4 after a refused Ensure with 5")
}

func (h harness) testEnsureInvalid(t *testing.T) {
	b := h.bus(t)
	for _, tc := range []struct {
		name  string
		topic bus.Topic
	}{
		{"empty name", bus.Topic{Name: "", Partitions: 1}},
		{"name too long", bus.Topic{Name: strings.Repeat("a", bus.MaxTopicName+1), Partitions: 1}},
		{"dot", bus.Topic{Name: "a.b", Partitions: 1}},
		{"star", bus.Topic{Name: "a*", Partitions: 1}},
		{"gt", bus.Topic{Name: ">", Partitions: 1}},
		{"slash", bus.Topic{Name: "a/b", Partitions: 1}},
		{"space", bus.Topic{Name: "a b", Partitions: 1}},
		{"non-ASCII", bus.Topic{Name: "évents", Partitions: 1}},
		{"zero partitions", bus.Topic{Name: "a", Partitions: 0}},
		{"negative partitions", bus.Topic{Name: "a", Partitions: -1}},
		{"negative MaxBytes", bus.Topic{Name: "a", Partitions: 1, MaxBytes: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, b.Ensure(t.Context(), tc.topic), bus.ErrInvalid, "Ensure")
		})
	}
	// The longest name is valid.
	ensure(t, b, strings.Repeat("a", bus.MaxTopicName), 1)
}

// testMaxBytes: a bound applied by a later Ensure drops the oldest messages
// at once, and keeps dropping them as more come.
func (h harness) testMaxBytes(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "big", 1)
	data := strings.Repeat("x", 1000)
	batch := func(from, to int) []bus.Message {
		var out []bus.Message
		for _, id := range ids("m", from, to) {
			out = append(out, bus.Message{ID: id, Data: []byte(data)})
		}
		return out
	}
	must(t, b.Publish(t.Context(), "big", 0, batch(1, 51)))
	if got := readAll(t, b, "big", 0, 1); len(got) != 50 {
		t.Fatalf("%d messages held without MaxBytes, want 50", len(got))
	}
	must(t, b.Ensure(t.Context(), bus.Topic{Name: "big", Partitions: 1, MaxBytes: 10_000}))
	check := func(lastSeq uint64) {
		t.Helper()
		got := readAll(t, b, "big", 0, 1)
		if len(got) < 5 || len(got) > 10 {
			t.Fatalf("%d messages of 1000 bytes held under MaxBytes 10000, want 5 to 10", len(got))
		}
		for i, m := range got {
			if wantSeq := lastSeq - uint64(len(got)-1-i); m.Seq != wantSeq || m.ID != fmt.Sprint("m", wantSeq) {
				t.Fatalf("message %d held: Seq %d ID %s, want the newest ones ending at %d", i, m.Seq, m.ID, lastSeq)
			}
		}
		if n := last(t, b, "big", 0); n != lastSeq {
			t.Errorf("Last = %d, want %d", n, lastSeq)
		}
	}
	check(50)
	must(t, b.Publish(t.Context(), "big", 0, batch(51, 101)))
	check(100)
}

func (h harness) testInvalid(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 2)
	ctx := t.Context()
	long := strings.Repeat("k", bus.MaxLeaseKey+1)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Publish unknown topic", func() error { return b.Publish(ctx, "nope", 0, msgs("a")) }},
		{"Publish unknown topic, no messages", func() error { return b.Publish(ctx, "nope", 0, nil) }},
		{"Publish invalid topic name", func() error { return b.Publish(ctx, "a.b", 0, msgs("a")) }},
		{"Publish partition -1", func() error { return b.Publish(ctx, "events", -1, msgs("a")) }},
		{"Publish partition n", func() error { return b.Publish(ctx, "events", 2, msgs("a")) }},
		{"Publish empty ID", func() error { return b.Publish(ctx, "events", 0, msgs("a", "")) }},
		{"Publish ID too long", func() error { return b.Publish(ctx, "events", 0, msgs(strings.Repeat("i", bus.MaxID+1))) }},
		{"Read unknown topic", func() error { _, err := b.Read(ctx, "nope", 0, 1, 10, 0); return err }},
		{"Read partition -1", func() error { _, err := b.Read(ctx, "events", -1, 1, 10, 0); return err }},
		{"Read partition n", func() error { _, err := b.Read(ctx, "events", 2, 1, 10, 0); return err }},
		{"Read max 0", func() error { _, err := b.Read(ctx, "events", 0, 1, 0, 0); return err }},
		{"Trim unknown topic", func() error { return b.Trim(ctx, "nope", 0, 1) }},
		{"Trim partition n", func() error { return b.Trim(ctx, "events", 2, 1) }},
		{"Last unknown topic", func() error { _, err := b.Last(ctx, "nope", 0); return err }},
		{"Last partition -1", func() error { _, err := b.Last(ctx, "events", -1); return err }},
		{"Acquire empty key", func() error { _, err := b.Acquire(ctx, "", "o"); return err }},
		{"Acquire empty owner", func() error { _, err := b.Acquire(ctx, "k", ""); return err }},
		{"Acquire key too long", func() error { _, err := b.Acquire(ctx, long, "o"); return err }},
		{"Acquire owner too long", func() error { _, err := b.Acquire(ctx, "k", long); return err }},
		{"Release empty key", func() error { return b.Release(ctx, "", "o") }},
		{"Release empty owner", func() error { return b.Release(ctx, "k", "") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.call(), bus.ErrInvalid, tc.name)
		})
	}
	// Nothing was appended by the refused batches, not even their valid part.
	if n := last(t, b, "events", 0); n != 0 {
		t.Errorf("Last after refused publishes = %d, want 0", n)
	}
	// The limits themselves are valid.
	publish(t, b, "events", 0, strings.Repeat("i", bus.MaxID))
	got := readAll(t, b, "events", 0, 1)
	if len(got) != 1 || got[0].ID != strings.Repeat("i", bus.MaxID) {
		t.Errorf("a message with a %d-byte ID read back as %+v", bus.MaxID, entries(got))
	}
	key := strings.Repeat("k", bus.MaxLeaseKey)
	if ok, err := b.Acquire(ctx, key, key); err != nil || !ok {
		t.Errorf("Acquire of a %d-byte key: %v, %v", bus.MaxLeaseKey, ok, err)
	}
}

// testSequences: Seq runs from 1 in each partition, independently, in publish
// order, and Last follows it.
func (h harness) testSequences(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 3)
	for p := range 3 {
		if n := last(t, b, "events", p); n != 0 {
			t.Errorf("Last of empty partition %d = %d, want 0", p, n)
		}
		if got := read(t, b, "events", p, 1, 10); len(got) != 0 {
			t.Errorf("Read of empty partition %d: %+v", p, entries(got))
		}
	}
	publish(t, b, "events", 0, "c", "a", "b")
	publish(t, b, "events", 2, "z", "y")
	publish(t, b, "events", 0, "d")
	publish(t, b, "events", 2, "x", "w", "v")
	must(t, b.Publish(t.Context(), "events", 1, nil)) // an empty batch appends nothing
	for _, tc := range []struct {
		partition int
		want      []entry
	}{
		{0, want(1, "c", "a", "b", "d")},
		{1, []entry{}},
		{2, want(1, "z", "y", "x", "w", "v")},
	} {
		equal(t, fmt.Sprintf("partition %d", tc.partition), entries(readAll(t, b, "events", tc.partition, 1)), tc.want)
		if n := last(t, b, "events", tc.partition); n != uint64(len(tc.want)) {
			t.Errorf("Last of partition %d = %d, want %d", tc.partition, n, len(tc.want))
		}
	}
	// Seq set by the caller is ignored.
	must(t, b.Publish(t.Context(), "events", 1, []bus.Message{{Seq: 42, ID: "s", Data: []byte("data of s")}}))
	equal(t, "a message published with a Seq", entries(readAll(t, b, "events", 1, 1)), want(1, "s"))
	// A long batch keeps its order.
	long := ids("m", 0, 2500)
	publish(t, b, "events", 1, long...)
	equal(t, "a batch of 2500", entries(readAll(t, b, "events", 1, 2)), want(2, long...))
}

// testRoundTrip: IDs and data come back byte for byte, whatever they hold.
func (h harness) testRoundTrip(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "odd", 1)
	in := []bus.Message{
		{ID: "plain", Data: []byte("text")},
		{ID: "empty data"},
		{ID: "binary", Data: []byte{0, 1, 2, 0xff, '\r', '\n', 0}},
		{ID: " leading and trailing spaces ", Data: []byte(" ")},
		{ID: "line\r\nbreak: injected", Data: []byte("x")},
		{ID: "percent %41%", Data: []byte("x")},
		{ID: "ümlaut ✓", Data: []byte("ü")},
		{ID: "\x00nul\x7f", Data: []byte("x")},
		{ID: "dots.and*stars>", Data: []byte("x")},
		{ID: "PLAIN", Data: []byte("IDs are case-sensitive")},
		{ID: "big", Data: []byte(strings.Repeat("0123456789", 50_000))},
	}
	must(t, b.Publish(t.Context(), "odd", 0, in))
	got := readAll(t, b, "odd", 0, 1)
	if len(got) != len(in) {
		t.Fatalf("read %d messages, want %d: %+v", len(got), len(in), entries(got))
	}
	for i, m := range got {
		if m.Seq != uint64(i+1) || m.ID != in[i].ID || string(m.Data) != string(in[i].Data) {
			t.Errorf("message %d: Seq %d ID %q data %.40q, want Seq %d ID %q data %.40q", i, m.Seq, m.ID, m.Data, i+1, in[i].ID, in[i].Data)
		}
	}
	// The same IDs again are duplicates, however odd.
	must(t, b.Publish(t.Context(), "odd", 0, in))
	if n := last(t, b, "odd", 0); n != uint64(len(in)) {
		t.Errorf("Last after republishing = %d, want %d", n, len(in))
	}
}

// testDedup: a message whose ID the partition holds appends nothing.
func (h harness) testDedup(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 2)
	publish(t, b, "events", 0, "a", "b", "c")
	publish(t, b, "events", 0, "a", "b", "c")           // the same batch again
	publish(t, b, "events", 0, "b", "d", "a", "e", "c") // old and new mixed
	publish(t, b, "events", 0, "f", "f", "g", "f")      // repeated within a batch
	publish(t, b, "events", 1, "a", "b")                // another partition has its own IDs
	equal(t, "partition 0", entries(readAll(t, b, "events", 0, 1)), want(1, "a", "b", "c", "d", "e", "f", "g"))
	equal(t, "partition 1", entries(readAll(t, b, "events", 1, 1)), want(1, "a", "b"))
	// A duplicate keeps the first message's data.
	must(t, b.Publish(t.Context(), "events", 0, []bus.Message{{ID: "a", Data: []byte("other")}}))
	if got := read(t, b, "events", 0, 1, 1); len(got) != 1 || string(got[0].Data) != "data of a" {
		t.Errorf("after a duplicate with other data: %+v", entries(got))
	}
}

// testConcurrentPublishers: publishers racing on one partition, each
// publishing its batches twice, leave every message once, in consecutive
// Seqs, each publisher's in its order.
func (h harness) testConcurrentPublishers(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 1)
	const publishers, batches, size = 8, 10, 25
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Go(func() {
			for i := range batches {
				batch := msgs(ids(fmt.Sprintf("p%d-", p), i*size, (i+1)*size)...)
				for range 2 {
					if err := b.Publish(t.Context(), "events", 0, batch); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := readAll(t, b, "events", 0, 1)
	if len(got) != publishers*batches*size {
		t.Fatalf("%d messages, want %d", len(got), publishers*batches*size)
	}
	seen := make(map[string]bool)
	next := make(map[string]int) // publisher → index of its next message
	for i, m := range got {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has Seq %d", i, m.Seq)
		}
		if seen[m.ID] {
			t.Fatalf("message %s appended twice", m.ID)
		}
		seen[m.ID] = true
		var p, k int
		if _, err := fmt.Sscanf(m.ID, "p%d-%d", &p, &k); err != nil {
			t.Fatalf("unexpected ID %q", m.ID)
		}
		pub := fmt.Sprint(p)
		if k != next[pub] {
			t.Fatalf("publisher %d: message %d follows %d", p, k, next[pub]-1)
		}
		next[pub]++
	}
	if n := last(t, b, "events", 0); n != uint64(len(got)) {
		t.Errorf("Last = %d, want %d", n, len(got))
	}
}

// testReadPositions: reads from anywhere, with limits, continuing, jumping
// back and past the end.
func (h harness) testReadPositions(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 2)
	all := ids("m", 1, 11)
	publish(t, b, "events", 1, all...)
	for _, tc := range []struct {
		name  string
		from  uint64
		limit int
		want  []entry
	}{
		{"from 1", 1, 3, want(1, all[0:3]...)},
		{"continuing", 4, 3, want(4, all[3:6]...)},
		{"continuing again", 7, 2, want(7, all[6:8]...)},
		{"back", 2, 2, want(2, all[1:3]...)},
		{"from 0 is from 1", 0, 1, want(1, all[0])},
		{"middle to end", 5, 100, want(5, all[4:]...)},
		{"last", 10, 5, want(10, all[9])},
		{"ahead", 3, 1, want(3, all[2])},
		{"past the end", 11, 5, []entry{}},
		{"far past the end", 1000, 5, []entry{}},
	} {
		equal(t, tc.name, entries(read(t, b, "events", 1, tc.from, tc.limit)), tc.want)
	}
	// Two partitions read in turns.
	publish(t, b, "events", 0, "x1", "x2", "x3")
	equal(t, "partition 0", entries(read(t, b, "events", 0, 1, 2)), want(1, "x1", "x2"))
	equal(t, "partition 1", entries(read(t, b, "events", 1, 9, 1)), want(9, "m9"))
	equal(t, "partition 0 on", entries(read(t, b, "events", 0, 3, 2)), want(3, "x3"))
	equal(t, "partition 1 on", entries(read(t, b, "events", 1, 10, 2)), want(10, "m10"))
	// A reader at the end sees what is published next.
	if got := read(t, b, "events", 1, 11, 5); len(got) != 0 {
		t.Errorf("at the end: %+v", entries(got))
	}
	publish(t, b, "events", 1, "m11", "m12")
	equal(t, "after publishing at the end", entries(read(t, b, "events", 1, 11, 5)), want(11, "m11", "m12"))
	// A reader past the end sees messages from its position on only.
	publish(t, b, "events", 1, "m13", "m14", "m15")
	equal(t, "from ahead of what was the end", entries(read(t, b, "events", 1, 1000, 5)), []entry{})
	equal(t, "from inside the new batch", entries(read(t, b, "events", 1, 14, 5)), want(14, "m14", "m15"))
}

// testReadWaits: at the end of a partition Read waits for wait, then returns
// nothing and no error.
func (h harness) testReadWaits(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 1)
	publish(t, b, "events", 0, "a")
	const wait = 300 * time.Millisecond
	for _, from := range []uint64{2, 50} {
		start := time.Now()
		got, err := b.Read(t.Context(), "events", 0, from, 10, wait)
		elapsed := time.Since(start)
		if err != nil || len(got) != 0 {
			t.Errorf("Read from %d past the end: %+v, %v; want none and no error", from, entries(got), err)
		}
		if elapsed < wait*9/10 || elapsed > wait+2*time.Second {
			t.Errorf("Read from %d past the end returned after %v, want about %v", from, elapsed, wait)
		}
	}
	// With messages there it does not wait.
	start := time.Now()
	got, err := b.Read(t.Context(), "events", 0, 1, 10, 10*time.Second)
	if err != nil || len(got) != 1 {
		t.Fatalf("Read with a message there: %+v, %v", entries(got), err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Read with a message there took %v", elapsed)
	}
}

type readResult struct {
	msgs    []bus.Message
	err     error
	elapsed time.Duration
}

// readAsync starts a Read and returns where its result will come.
func readAsync(ctx context.Context, b bus.Bus, topic string, partition int, from uint64, limit int, wait time.Duration) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		start := time.Now()
		got, err := b.Read(ctx, topic, partition, from, limit, wait)
		ch <- readResult{got, err, time.Since(start)}
	}()
	return ch
}

// result waits for a readAsync result, failing after d.
func result(t *testing.T, ch <-chan readResult, d time.Duration) readResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("Read did not return within %v", d)
		return readResult{}
	}
}

// testReadWokenByPublish: a Read waiting at the end returns as soon as a
// message comes, long before its wait ends.
func (h harness) testReadWokenByPublish(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 2)
	publish(t, b, "events", 0, "a")
	const wait = 20 * time.Second
	ch := readAsync(t.Context(), b, "events", 0, 2, 10, wait)
	other := readAsync(t.Context(), b, "events", 1, 1, 10, 2*time.Second)
	time.Sleep(200 * time.Millisecond)
	publish(t, b, "events", 0, "b", "c", "d")
	r := result(t, ch, 5*time.Second)
	if r.err != nil || len(r.msgs) == 0 {
		t.Fatalf("woken Read: %+v, %v", entries(r.msgs), r.err)
	}
	equal(t, "woken Read", entries(r.msgs), want(2, "b", "c", "d")[:len(r.msgs)])
	// A reader of another partition is not woken.
	if r := result(t, other, 10*time.Second); r.err != nil || len(r.msgs) != 0 || r.elapsed < time.Second {
		t.Errorf("Read of another partition: %+v, %v after %v; want none after its wait", entries(r.msgs), r.err, r.elapsed)
	}
	// Nothing was lost to the woken reader: the rest reads on.
	equal(t, "all", entries(readAll(t, b, "events", 0, 1)), want(1, "a", "b", "c", "d"))
}

// testReadContextCanceled: a waiting Read returns on ctx cancel, with nothing
// and no error, and no message published after that is lost to later reads.
func (h harness) testReadContextCanceled(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 1)
	publish(t, b, "events", 0, "a")
	equal(t, "first read", entries(read(t, b, "events", 0, 1, 10)), want(1, "a"))
	ctx, cancel := context.WithCancel(t.Context())
	ch := readAsync(ctx, b, "events", 0, 2, 10, 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	cancel()
	r := result(t, ch, 5*time.Second)
	if r.err != nil || len(r.msgs) != 0 {
		t.Errorf("canceled Read: %+v, %v; want none and no error", entries(r.msgs), r.err)
	}
	publish(t, b, "events", 0, "b", "c")
	got, err := b.Read(t.Context(), "events", 0, 2, 10, 5*time.Second)
	must(t, err)
	equal(t, "read after a canceled one", entries(got), want(2, "b", "c"))
}

// testReadDataIsCallers: what Read returns does not alias the bus's copy, nor
// does Publish keep the caller's buffers.
func (h harness) testReadDataIsCallers(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 1)
	buf := []byte("original")
	must(t, b.Publish(t.Context(), "events", 0, []bus.Message{{ID: "a", Data: buf}}))
	copy(buf, "XXXXXXXX")
	got := read(t, b, "events", 0, 1, 1)
	if len(got) != 1 || string(got[0].Data) != "original" {
		t.Fatalf("after the publisher reused its buffer: %+v", entries(got))
	}
	copy(got[0].Data, "YYYYYYYY")
	if again := read(t, b, "events", 0, 1, 1); len(again) != 1 || string(again[0].Data) != "original" {
		t.Errorf("after a reader wrote to its data: %+v", entries(again))
	}
}

// testTrim: trimmed messages are gone; a Read from before them starts at the
// oldest held; Last and the next Seq do not move.
// testState: State counts a partition's bytes, grows with what is published
// (duplicates add nothing), shrinks with Trim, is per partition, and names
// the partition's Last.
func (h harness) testState(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 2)
	held := func(p int) int64 {
		t.Helper()
		st, err := b.State(t.Context(), "events", p)
		must(t, err)
		if want := last(t, b, "events", p); st.Last != want {
			t.Errorf("State of partition %d: Last %d, want %d", p, st.Last, want)
		}
		return st.Bytes
	}
	if n := held(0); n != 0 {
		t.Fatalf("bytes held by an empty partition = %d", n)
	}
	data := strings.Repeat("x", 1000)
	var batch []bus.Message
	for _, id := range ids("m", 1, 11) {
		batch = append(batch, bus.Message{ID: id, Data: []byte(data)})
	}
	must(t, b.Publish(t.Context(), "events", 0, batch))
	ten := held(0)
	if ten < 10_000 || ten > 20_000 {
		t.Fatalf("bytes held after ten 1000-byte messages = %d, want 10000 plus some overhead", ten)
	}
	must(t, b.Publish(t.Context(), "events", 0, batch[:3]))
	if n := held(0); n != ten {
		t.Errorf("bytes held after duplicates = %d, want %d", n, ten)
	}
	if n := held(1); n != 0 {
		t.Errorf("bytes held of the other partition = %d", n)
	}
	must(t, b.Trim(t.Context(), "events", 0, 6))
	if n := held(0); n < ten/2-ten/10 || n > ten/2+ten/10 {
		t.Errorf("bytes held after trimming half = %d, want about %d", n, ten/2)
	}
	must(t, b.Trim(t.Context(), "events", 0, 11))
	if n := held(0); n != 0 {
		t.Errorf("bytes held after trimming all = %d", n)
	}
	if _, err := b.State(t.Context(), "events", 2); err == nil {
		t.Error("State of partition 2 of 2: no error")
	}
}

func (h harness) testTrim(t *testing.T) {
	b := h.bus(t)
	ensure(t, b, "events", 2)
	all := ids("m", 1, 11)
	publish(t, b, "events", 0, all...)
	publish(t, b, "events", 1, "other")
	// A reader positioned at 3 when the trim comes.
	equal(t, "before Trim", entries(read(t, b, "events", 0, 1, 2)), want(1, "m1", "m2"))
	must(t, b.Trim(t.Context(), "events", 0, 5))
	equal(t, "from 3 after Trim(5)", entries(read(t, b, "events", 0, 3, 3)), want(5, "m5", "m6", "m7"))
	equal(t, "from 1 after Trim(5)", entries(read(t, b, "events", 0, 1, 1)), want(5, "m5"))
	equal(t, "from 6 after Trim(5)", entries(read(t, b, "events", 0, 6, 1)), want(6, "m6"))
	if n := last(t, b, "events", 0); n != 10 {
		t.Errorf("Last after Trim = %d, want 10", n)
	}
	// Trimming less than already trimmed, or nothing, changes nothing.
	for _, before := range []uint64{0, 1, 3, 5} {
		must(t, b.Trim(t.Context(), "events", 0, before))
	}
	equal(t, "after smaller trims", entries(readAll(t, b, "events", 0, 1)), want(5, all[4:]...))
	// Other partitions are untouched.
	equal(t, "partition 1", entries(readAll(t, b, "events", 1, 1)), want(1, "other"))
	// Trim to the end, then past it: nothing held, Last kept, the next
	// message takes the next Seq.
	must(t, b.Trim(t.Context(), "events", 0, 11))
	equal(t, "after Trim(11)", entries(read(t, b, "events", 0, 1, 10)), []entry{})
	must(t, b.Trim(t.Context(), "events", 0, 500))
	if n := last(t, b, "events", 0); n != 10 {
		t.Errorf("Last after Trim past the end = %d, want 10", n)
	}
	publish(t, b, "events", 0, "m11")
	equal(t, "after publishing on a trimmed partition", entries(read(t, b, "events", 0, 1, 10)), want(11, "m11"))
	// A reader waiting from inside the trimmed range gets the next message.
	must(t, b.Trim(t.Context(), "events", 0, 12))
	ch := readAsync(t.Context(), b, "events", 0, 3, 10, 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	publish(t, b, "events", 0, "m12")
	r := result(t, ch, 5*time.Second)
	if r.err != nil {
		t.Fatal(r.err)
	}
	equal(t, "waiting reader from 3", entries(r.msgs), want(12, "m12"))
}

// testLeaseExclusive: a lease has one owner at a time, renewals keep it, and
// a release frees it.
func (h harness) testLeaseExclusive(t *testing.T) {
	b := h.bus(t)
	ctx := t.Context()
	acquire := func(key, owner string, want bool) {
		t.Helper()
		ok, err := b.Acquire(ctx, key, owner)
		if err != nil || ok != want {
			t.Fatalf("Acquire(%s, %s) = %v, %v; want %v", key, owner, ok, err, want)
		}
	}
	acquire("partition/events/3", "worker-1", true)
	acquire("partition/events/3", "worker-2", false)
	acquire("partition/events/3", "worker-1", true) // renewal
	acquire("partition/events/3", "worker-2", false)
	acquire("partition/events/30", "worker-2", true) // another key
	must(t, b.Release(ctx, "partition/events/3", "worker-2"))
	acquire("partition/events/3", "worker-2", false) // not released by a non-owner
	must(t, b.Release(ctx, "partition/events/3", "worker-1"))
	must(t, b.Release(ctx, "partition/events/3", "worker-1")) // twice
	must(t, b.Release(ctx, "never/held", "worker-1"))
	acquire("partition/events/3", "worker-2", true)
	acquire("partition/events/3", "worker-1", false)
	got, err := b.Leases(ctx, "partition/")
	must(t, err)
	equal(t, "leases", got, map[string]string{"partition/events/3": "worker-2", "partition/events/30": "worker-2"})

	// Concurrent acquirers: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan string, 10)
	for i := range 10 {
		wg.Go(func() {
			owner := fmt.Sprint("racer-", i)
			ok, err := b.Acquire(ctx, "contended", owner)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins <- owner
			}
		})
	}
	wg.Wait()
	close(wins)
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("%d of 10 racing acquirers won: %v", len(winners), winners)
	}
	got, err = b.Leases(ctx, "contended")
	must(t, err)
	equal(t, "contended lease", got, map[string]string{"contended": winners[0]})
}

// testLeaseLapse: renewals keep a lease past its TTL; once they stop it lapses
// after the TTL, and another owner takes it.
func (h harness) testLeaseLapse(t *testing.T) {
	b := h.bus(t)
	ctx := t.Context()
	const key = "member/worker-1"
	if ok, err := b.Acquire(ctx, key, "w1"); err != nil || !ok {
		t.Fatalf("Acquire: %v, %v", ok, err)
	}
	// Renew every TTL/2 for 2 TTLs: nobody else gets it meanwhile.
	var renewed time.Time
	for range 4 {
		time.Sleep(LeaseTTL / 2)
		ok, err := b.Acquire(ctx, key, "w1")
		renewed = time.Now()
		if err != nil || !ok {
			t.Fatalf("renewal: %v, %v", ok, err)
		}
		if ok, err := b.Acquire(ctx, key, "w2"); err != nil || ok {
			t.Fatalf("Acquire by another owner of a renewed lease: %v, %v", ok, err)
		}
	}
	// Stop renewing: it lapses after the TTL, not before.
	for {
		ok, err := b.Acquire(ctx, key, "w2")
		must(t, err)
		since := time.Since(renewed)
		if ok {
			if since < LeaseTTL*9/10 {
				t.Errorf("lease taken over %v after its renewal, TTL %v", since, LeaseTTL)
			}
			break
		}
		if since > LeaseTTL+5*time.Second {
			t.Fatalf("lease still held %v after its last renewal, TTL %v", since, LeaseTTL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := b.Leases(ctx, "member/")
	must(t, err)
	equal(t, "leases after the takeover", got, map[string]string{key: "w2"})
	// A lapsed lease is not listed.
	time.Sleep(LeaseTTL + LeaseTTL/2)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, err := b.Leases(ctx, "")
		must(t, err)
		if len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lapsed leases still listed: %v", got)
		}
	}
}

// testLeaseList: Leases lists live leases by key prefix, keys of any bytes.
func (h harness) testLeaseList(t *testing.T) {
	b := h.bus(t)
	ctx := t.Context()
	held := map[string]string{
		"member/worker-1":     "worker-1",
		"member/worker-2":     "worker-2",
		"partition/events/3":  "worker-1",
		"partition/events/10": "worker-2",
		"partition/other/0":   "worker-1",
		"member":              "no slash",
		"/leading/slash/":     "o",
		"a//b":                "o",
		"dots.and*stars>":     "o",
		"with space":          "o",
		"escape=3D%2F":        "o",
		"ünï/cödé":            "o",
		"\x00":                "o",
	}
	for k, owner := range held {
		if ok, err := b.Acquire(ctx, k, owner); err != nil || !ok {
			t.Fatalf("Acquire(%q): %v, %v", k, ok, err)
		}
	}
	filter := func(prefix string) map[string]string {
		out := make(map[string]string)
		for k, o := range held {
			if strings.HasPrefix(k, prefix) {
				out[k] = o
			}
		}
		return out
	}
	for _, prefix := range []string{"", "member/", "member", "partition/events/", "partition/events/1", "partition/", "/", "a/", "dots.", "ü", "\x00", "none"} {
		got, err := b.Leases(ctx, prefix)
		must(t, err)
		if got == nil {
			got = map[string]string{}
		}
		equal(t, fmt.Sprintf("Leases(%q)", prefix), got, filter(prefix))
	}
	must(t, b.Release(ctx, "member/worker-1", "worker-1"))
	delete(held, "member/worker-1")
	got, err := b.Leases(ctx, "member/")
	must(t, err)
	equal(t, "after a release", got, filter("member/"))
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range held {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		if ok, err := b.Acquire(ctx, k, "intruder"); err != nil || ok {
			t.Errorf("Acquire(%q) by another owner: %v, %v", k, ok, err)
		}
	}
}

// testClose: Close is idempotent, wakes waiting readers, and every call after
// it fails with ErrClosed.
func (h harness) testClose(t *testing.T) {
	b := h.bus(t) // closed again at cleanup: harmless
	ensure(t, b, "events", 1)
	publish(t, b, "events", 0, "a")
	ch := readAsync(t.Context(), b, "events", 0, 2, 10, 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	must(t, b.Close())
	r := result(t, ch, 10*time.Second)
	if len(r.msgs) != 0 || !errors.Is(r.err, bus.ErrClosed) {
		t.Errorf("Read waiting at Close: %+v, %v; want ErrClosed", entries(r.msgs), r.err)
	}
	must(t, b.Close())
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Ensure", func() error { return b.Ensure(ctx, bus.Topic{Name: "events", Partitions: 1}) }},
		{"Publish", func() error { return b.Publish(ctx, "events", 0, msgs("b")) }},
		{"Read", func() error { _, err := b.Read(ctx, "events", 0, 1, 10, 0); return err }},
		{"Read waiting", func() error { _, err := b.Read(ctx, "events", 0, 5, 10, time.Second); return err }},
		{"Trim", func() error { return b.Trim(ctx, "events", 0, 1) }},
		{"Last", func() error { _, err := b.Last(ctx, "events", 0); return err }},
		{"Acquire", func() error { _, err := b.Acquire(ctx, "k", "o"); return err }},
		{"Release", func() error { return b.Release(ctx, "k", "o") }},
		{"Leases", func() error { _, err := b.Leases(ctx, ""); return err }},
	} {
		wantErr(t, tc.call(), bus.ErrClosed, tc.name+" after Close")
	}
	must(t, b.Close())
}
