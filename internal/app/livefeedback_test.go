package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// countingStore counts the reads of analysts' verdicts.
type countingStore struct {
	store.Store
	lists atomic.Int64
}

func (c *countingStore) ListFeedback(ctx context.Context, q store.FeedbackQuery) (store.Page[store.Feedback], error) {
	c.lists.Add(1)
	return c.Store.ListFeedback(ctx, q)
}

// TestVerdictsSharedByPartitions: the partitions of a node share one reader
// of the verdicts: many partitions refreshing at once read the store once
// (not once each), and every one of them applies the verdict.
func TestVerdictsSharedByPartitions(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	if err := st.PutFeedback(ctx, store.Feedback{ID: "fb1", TargetKind: store.TargetRule, TargetID: "sigma/r1",
		Verdict: store.VerdictFalsePositive, Scope: "rule", Author: "ana", Created: t0}); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	reader := newVerdictReader(cs, slog.New(slog.DiscardHandler))
	parts := make([]*liveFeedback, 16)
	for i := range parts {
		parts[i] = newLiveFeedback(reader, nil)
	}
	var wg sync.WaitGroup
	for _, f := range parts {
		wg.Go(func() { f.refresh(ctx) })
	}
	wg.Wait()
	for _, f := range parts { // those that found the reader busy pick the book up on their next step
		f.refresh(ctx)
	}
	sig := detect.Signal{ID: "s", DetectorID: "sigma", RuleID: "r1", Time: t0.Add(time.Hour)}
	for i, f := range parts {
		if !f.suppressed(&sig) {
			t.Errorf("partition %d does not apply the verdict", i)
		}
	}
	// one poll (the newest verdict), then every verdict read page by page
	if n := cs.lists.Load(); n > 3 {
		t.Errorf("%d reads of the verdicts for %d partitions refreshing together, want one poll", n, len(parts))
	}
}
