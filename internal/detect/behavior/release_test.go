package behavior

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

// TestReleaseMatchesFinish: a stream whose observations arrive out of order by
// less than the tolerance, released batch by batch at the watermark, gives the
// signals a batch run over the same observations gives.
func TestReleaseMatchesFinish(t *testing.T) {
	all := append(signIns(true), spray(3)...)
	for i := range all {
		all[i].Offset = int64(i) // distinct origins, as events have
	}
	newEngine := func() *Engine {
		m, err := NewEdgeStream(EdgeStreamConfig{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewEngine([]Model{m, NewFirstSeen(FirstSeenConfig{}, nil, nil)}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	batch := newEngine()
	batch.obs = append(batch.obs, all...)
	var want []string
	if err := batch.Finish(t.Context(), func(s detect.Signal) { want = append(want, s.ID) }); err != nil {
		t.Fatal(err)
	}
	if len(want) < 2 {
		t.Fatalf("the batch run gives %d signals: the test proves nothing", len(want))
	}

	// Arrival order: shuffled within 30-second windows of event time.
	arrival := make([]Obs, len(all))
	copy(arrival, all)
	r := rand.New(rand.NewPCG(1, 2))
	for start := 0; start < len(arrival); {
		end := start
		for end < len(arrival) && arrival[end].Time-arrival[start].Time < int64(30*time.Second) {
			end++
		}
		r.Shuffle(end-start, func(i, j int) { arrival[start+i], arrival[start+j] = arrival[start+j], arrival[start+i] })
		start = end
	}
	stream := newEngine()
	var got []string
	emit := func(s detect.Signal) { got = append(got, s.ID) }
	var maxSeen int64
	const tolerance = int64(time.Minute)
	for i := 0; i < len(arrival); i += 97 {
		chunk := arrival[i:min(i+97, len(arrival))]
		for _, o := range chunk {
			maxSeen = max(maxSeen, o.Time)
		}
		stream.mu.Lock()
		stream.obs = append(stream.obs, chunk...)
		stream.mu.Unlock()
		if err := stream.Release(t.Context(), maxSeen-tolerance, emit); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := stream.Held(); n > len(arrival) {
			t.Fatalf("holding %d observations", n)
		}
	}
	if err := stream.Release(t.Context(), math.MaxInt64, emit); err != nil {
		t.Fatal(err)
	}
	stream.Flush(emit)
	if n, _, ok := stream.Held(); n != 0 || ok {
		t.Fatalf("%d observations still held", n)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stream signals %v\nbatch signals  %v", got, want)
	}
}

// TestHeldCoversCollected: observations collected but not yet released count
// as held, so a stream replays from before them after a restart.
func TestHeldCoversCollected(t *testing.T) {
	m, err := NewEdgeStream(EdgeStreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine([]Model{m}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _, ok := e.Held(); n != 0 || ok {
		t.Fatalf("a new engine holds %d", n)
	}
	obs := signIns(false)[:10]
	for i := range obs {
		obs[i].Pos = uint64(100 + i)
	}
	if err := e.Release(t.Context(), obs[4].Time, func(detect.Signal) {}); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.obs = append(e.obs, obs[5:]...) // collected, Release not yet called
	e.mu.Unlock()
	if n, pos, ok := e.Held(); n != 5 || pos != 105 || !ok {
		t.Fatalf("held %d from %d (%v), want 5 from 105", n, pos, ok)
	}
	if err := e.Release(t.Context(), obs[6].Time, func(detect.Signal) {}); err != nil {
		t.Fatal(err)
	}
	if n, pos, ok := e.Held(); n != 3 || pos != 107 || !ok {
		t.Fatalf("after a release: held %d from %d (%v), want 3 from 107", n, pos, ok)
	}
}
