package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/stream"
)

// TestWorkersStartedTogetherSettle: workers started within the settle time of
// one another each start only the partitions rendezvous hashing gives them
// among all three: none takes every partition and hands most over.
func TestWorkersStartedTogetherSettle(t *testing.T) {
	const partitions = 8
	b := bus.NewMemory(bus.MemoryOptions{})
	defer b.Close()
	st, err := sqlite.Open(t.Context(), sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := []string{"w0", "w1", "w2"}
	nodes := make([]*Node, len(ids))
	for i, id := range ids {
		n, err := New(Options{
			ID: id, Bus: b, Store: st, Partitions: partitions, Work: true,
			NewStages: func(int) (*Stages, error) {
				eng, err := detect.NewEngine(nil, detect.EngineOptions{})
				return &Stages{Detect: eng}, err
			},
			Stream:   stream.Options{Registry: formats.Default(), Lateness: time.Second},
			LeaseTTL: 3 * time.Second, Settle: 300 * time.Millisecond, Logger: discard(),
		})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
	}
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { _ = n.Run(ctx) })
		if i == 0 {
			time.Sleep(50 * time.Millisecond) // the first looks alone, the others join within its settle time
		}
	}
	defer func() { stop(); wg.Wait() }()
	owned := func() (map[int]string, float64) {
		got, starts := map[int]string{}, 0.0
		for i, n := range nodes {
			parts, _ := n.running()
			for p := range parts {
				got[p] = ids[i]
			}
			starts += testutil.ToFloat64(n.mMoves)
		}
		return got, starts
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, starts := owned()
		if len(got) == partitions {
			for p := range partitions {
				if want := Owner(p, ids); got[p] != want {
					t.Errorf("partition %d run by %s, rendezvous hashing gives %s", p, got[p], want)
				}
			}
			if starts != partitions {
				t.Errorf("%v partition starts for %d partitions: handovers at start-up", starts, partitions)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: partitions run %s", fmt.Sprint(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDescribe: the overview any node reads from the bus names the live
// members, each partition's owner (the one rendezvous hashing gives it), the
// correlator, what each partition holds, and the partitions nobody runs.
func TestDescribe(t *testing.T) {
	ctx := t.Context()
	b := bus.NewMemory(bus.MemoryOptions{LeaseTTL: 3 * time.Second})
	defer b.Close()
	const partitions = 4
	if err := Ensure(ctx, b, partitions); err != nil {
		t.Fatal(err)
	}
	if n, err := Partitions(ctx, b); err != nil || n != partitions {
		t.Fatalf("Partitions = %d, %v; want %d", n, err, partitions)
	}
	if n, err := Partitions(ctx, bus.NewMemory(bus.MemoryOptions{})); err != nil || n != 0 {
		t.Fatalf("Partitions of a bus without a cluster = %d, %v; want 0", n, err)
	}
	o, err := Describe(ctx, b, partitions)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Members) != 0 || o.Correlator != "" || o.Unowned != partitions || len(o.Partitions) != partitions {
		t.Fatalf("an empty cluster: %+v", o)
	}
	// Records for partition 1, and two members that split the partitions.
	if err := b.Publish(ctx, EventsTopic, 1, []bus.Message{{ID: "a", Data: []byte("xyz")}, {ID: "b", Data: []byte("xyz")}}); err != nil {
		t.Fatal(err)
	}
	ids := []string{"w0", "w1"}
	for _, id := range ids {
		if _, err := b.Acquire(ctx, memberPrefix+id, id); err != nil {
			t.Fatal(err)
		}
	}
	for p := range partitions - 1 { // the last one: its owner died
		if _, err := b.Acquire(ctx, partitionKey+fmt.Sprint(p), Owner(p, ids)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Acquire(ctx, correlatorKey, "w1"); err != nil {
		t.Fatal(err)
	}
	if o, err = Describe(ctx, b, partitions); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(o.Members) != "[w0 w1]" || o.Correlator != "w1" || o.Unowned != 1 || o.Partitions[partitions-1].Owner != "" {
		t.Errorf("overview: %+v", o)
	}
	for p := range partitions - 1 {
		if got := o.Partitions[p].Owner; got != Owner(p, ids) {
			t.Errorf("partition %d: owner %q, want %q", p, got, Owner(p, ids))
		}
	}
	if pp := o.Partitions[1]; pp.Last != 2 || pp.HeldBytes <= 0 {
		t.Errorf("partition 1: %+v, want 2 records held", pp)
	}
	if pp := o.Partitions[0]; pp.Last != 0 || pp.HeldBytes != 0 {
		t.Errorf("partition 0: %+v, want empty", pp)
	}
}
