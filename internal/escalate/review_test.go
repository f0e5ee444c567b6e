package escalate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/store"
)

func TestReviewQueue(t *testing.T) {
	clk := newClock()
	ps := policiesFor(t, "http://127.0.0.1:9", "")
	st := openStore(t, t.TempDir())
	enqueueIncidents(t, st, ps, clk, 3, 1)
	p, err := ReviewQueue(t.Context(), st, 2, "")
	if err != nil || len(p.Items) != 2 || p.Next == "" || p.Items[0].Kind != KindReview {
		t.Fatalf("first page: %+v, %v", p, err)
	}
	key := p.Items[0].Key
	if err := ResolveReview(t.Context(), st, key, "analyst", "benign admin", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := ResolveReview(t.Context(), st, key, "analyst", "again", clk.Now()); !errors.Is(err, store.ErrConflict) {
		t.Errorf("resolving twice: %v, want ErrConflict", err)
	}
	if err := ResolveReview(t.Context(), st, "nope", "analyst", "", clk.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown key: %v, want ErrNotFound", err)
	}
	rest, _ := ReviewQueue(t.Context(), st, 10, "")
	if len(rest.Items) != 2 {
		t.Errorf("%d items left in the queue, want 2", len(rest.Items))
	}
	audit, err := st.ListAudit(t.Context(), store.AuditQuery{Action: "escalation.review.resolve"})
	if err != nil || len(audit.Items) != 1 || audit.Items[0].Target != key || string(audit.Items[0].Details) != `{"note":"benign admin"}` {
		t.Errorf("audit: %+v, %v", audit.Items, err)
	}
}

// TestRun drives Run with an injected sleep that advances the fake clock, and
// stops it by cancelling the context once everything is delivered.
func TestRun(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t, clk.Now)
	ps := policiesFor(t, rcv.srv.URL, "")
	st := openStore(t, t.TempDir())
	want := enqueueIncidents(t, st, ps, clk, 5, 1)
	rcv.mode.Store(mode503)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sleeps := 0
	d, err := NewDispatcher(DispatcherOptions{Store: st, Policies: ps, Owner: "run", Now: clk.Now, Secret: testSecrets,
		Poll: 2 * time.Second, MinBackoff: time.Second, MaxBackoff: 4 * time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleeps++
			if d != 2*time.Second {
				t.Errorf("slept %v, want the poll interval", d)
			}
			clk.Advance(d)
			if sleeps == 5 {
				rcv.mode.Store(modeUp)
			}
			if len(outbox(t, st, store.OutboxPending)) == 0 || sleeps > 1000 {
				cancel()
			}
			return ctx.Err()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(ctx); err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	checkExactlyOnce(t, rcv, st, want)
}
