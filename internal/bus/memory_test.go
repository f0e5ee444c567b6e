package bus_test

import (
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/bus/bustest"
)

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T, leaseTTL time.Duration) bus.Bus {
		return bus.NewMemory(bus.MemoryOptions{LeaseTTL: leaseTTL})
	})
}

// clock is a settable clock for lease expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestMemoryLeaseClock: lease expiry follows MemoryOptions.Now to the
// nanosecond.
func TestMemoryLeaseClock(t *testing.T) {
	c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	m := bus.NewMemory(bus.MemoryOptions{LeaseTTL: time.Minute, Now: c.Now})
	defer m.Close()
	ctx := t.Context()
	acquire := func(key, owner string, want bool) {
		t.Helper()
		ok, err := m.Acquire(ctx, key, owner)
		if err != nil || ok != want {
			t.Fatalf("at %v: Acquire(%s, %s) = %v, %v; want %v", c.Now(), key, owner, ok, err, want)
		}
	}
	acquire("k", "a", true)
	c.Advance(time.Minute - time.Nanosecond)
	acquire("k", "b", false)
	acquire("k", "a", true) // renewed: lives until a minute from now
	c.Advance(time.Minute - time.Nanosecond)
	acquire("k", "b", false)
	leases, err := m.Leases(ctx, "")
	if err != nil || len(leases) != 1 || leases["k"] != "a" {
		t.Fatalf("Leases before expiry: %v, %v", leases, err)
	}
	c.Advance(time.Nanosecond)
	leases, err = m.Leases(ctx, "")
	if err != nil || len(leases) != 0 {
		t.Fatalf("Leases at expiry: %v, %v", leases, err)
	}
	acquire("k", "b", true)
	acquire("k", "a", false)
}

// TestMemoryDedupWindow: Memory remembers the IDs of the last DedupWindow
// messages appended, no more.
func TestMemoryDedupWindow(t *testing.T) {
	m := bus.NewMemory(bus.MemoryOptions{DedupWindow: 3})
	defer m.Close()
	ctx := t.Context()
	if err := m.Ensure(ctx, bus.Topic{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	publish := func(wantLast uint64, ids ...string) {
		t.Helper()
		var msgs []bus.Message
		for _, id := range ids {
			msgs = append(msgs, bus.Message{ID: id})
		}
		if err := m.Publish(ctx, "t", 0, msgs); err != nil {
			t.Fatal(err)
		}
		if got, err := m.Last(ctx, "t", 0); err != nil || got != wantLast {
			t.Fatalf("after publishing %v: Last = %d, %v; want %d", ids, got, err, wantLast)
		}
	}
	publish(3, "a", "b", "c")
	publish(3, "a", "b", "c") // all within the window
	publish(4, "d")           // a leaves the window: b, c, d
	publish(5, "a")           // so a is appended again: c, d, a
	publish(5, "c", "d", "a") // all within the window
	publish(6, "b")           // b had left it: d, a, b
	publish(7, "c")           // and c too: a, b, c
	publish(7, "a", "b", "c")
}

// BenchmarkPublish: see bustest.BenchPublish.
func BenchmarkPublish(b *testing.B) {
	m := bus.NewMemory(bus.MemoryOptions{})
	defer m.Close()
	bustest.BenchPublish(b, m)
}

// BenchmarkRead: see bustest.BenchRead.
func BenchmarkRead(b *testing.B) {
	m := bus.NewMemory(bus.MemoryOptions{})
	defer m.Close()
	bustest.BenchRead(b, m)
}
