package behavior

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestObsQueueMatchesSortedSlice drives a queue and a plain sorted slice with
// the same random batches (in order, overlapping the held tail, far older than
// everything held) and releases, and compares them after every operation; the
// slots outside the live range must be cleared (no reference kept, pooled
// blocks empty).
func TestObsQueueMatchesSortedSlice(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	var q obsQueue
	var tmp, ref []Obs
	var now, rec int64
	check := func(step int, what string) {
		t.Helper()
		if q.Len() != len(ref) {
			t.Fatalf("step %d (%s): queue holds %d, want %d", step, what, q.Len(), len(ref))
		}
		i := 0
		q.each(func(o *Obs) {
			if o.Time != ref[i].Time || o.Record != ref[i].Record {
				t.Fatalf("step %d (%s): observation %d is (%d, %d), want (%d, %d)", step, what, i, o.Time, o.Record, ref[i].Time, ref[i].Record)
			}
			i++
		})
		live := make(map[*Obs]bool, q.Len())
		for i := range q.Len() {
			live[q.at(i)] = true
		}
		for b, blk := range q.blocks {
			for k := range blk {
				if !live[&blk[k]] && blk[k] != (Obs{}) {
					t.Fatalf("step %d (%s): block %d slot %d outside the live range is not cleared", step, what, b, k)
				}
			}
		}
	}
	for step := range 1500 {
		switch op := r.IntN(10); {
		case op < 7: // a batch
			n := 1 + r.IntN(3000)
			batch := make([]Obs, n)
			base := now - int64(r.IntN(50)) // overlaps what is held
			if r.IntN(40) == 0 {
				base = now - 100000 // far older than anything held
			}
			for i := range batch {
				rec++
				batch[i] = Obs{Time: base + int64(r.IntN(60)), Record: rec}
			}
			slices.SortFunc(batch, cmpObs)
			now = max(now, batch[n-1].Time)
			q.insertSorted(slices.Clone(batch), &tmp)
			ref = append(ref, batch...)
			slices.SortStableFunc(ref, cmpObs)
			check(step, "insert")
		default: // a release up to a watermark
			up := now - int64(r.IntN(80))
			k := q.countUpTo(up)
			want := 0
			for want < len(ref) && ref[want].Time <= up {
				want++
			}
			if k != want {
				t.Fatalf("step %d: %d observations up to %d, want %d", step, k, up, want)
			}
			got := 0
			for _, s := range q.front(k) {
				for i := range s {
					if s[i].Record != ref[got].Record {
						t.Fatalf("step %d: released observation %d is record %d, want %d", step, got, s[i].Record, ref[got].Record)
					}
					got++
				}
			}
			if got != k {
				t.Fatalf("step %d: front(%d) gave %d observations", step, k, got)
			}
			q.dropFront(k)
			ref = ref[k:]
			check(step, "release")
		}
	}
	q.dropFront(q.Len())
	if len(q.blocks) != 0 || q.head != 0 {
		t.Fatalf("an empty queue keeps %d blocks from %d", len(q.blocks), q.head)
	}
}
