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
