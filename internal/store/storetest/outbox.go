package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/store"
)

func outboxItem(key string, created time.Time) store.OutboxItem {
	return store.OutboxItem{
		Key: key, Target: "page/pagerduty", Kind: "pagerduty", IncidentID: "inc-" + key, IncidentVersion: 3,
		Payload: json.RawMessage(`{"id":"inc-` + key + `"}`), Created: created,
	}
}

func enqueue(t *testing.T, s store.Store, items ...store.OutboxItem) int {
	t.Helper()
	n, err := s.EnqueueOutbox(t.Context(), items)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func listOutbox(t *testing.T, s store.Store, q store.OutboxQuery) []store.OutboxItem {
	t.Helper()
	return collect(t, q.Limit, func(cursor string) (store.Page[store.OutboxItem], error) {
		q.Cursor = cursor
		return s.ListOutbox(t.Context(), q)
	})
}

func keys(items []store.OutboxItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Key)
	}
	return out
}

// testOutboxEnqueue checks the round trip and that enqueueing a key again is a
// no-op that keeps the first write.
func (h harness) testOutboxEnqueue(t *testing.T) {
	s := h.store(t)
	a, b := outboxItem("a", base), outboxItem("b", base.Add(time.Second))
	b.State = store.OutboxReview
	if n := enqueue(t, s, a, b); n != 2 {
		t.Errorf("first enqueue added %d, want 2", n)
	}
	again := outboxItem("a", base.Add(time.Hour))
	again.Payload = json.RawMessage(`{"changed":true}`)
	if n := enqueue(t, s, again, b); n != 0 {
		t.Errorf("enqueueing the same keys again added %d, want 0", n)
	}
	got := listOutbox(t, s, store.OutboxQuery{Order: store.OrderAsc})
	want := []store.OutboxItem{a, b}
	want[0].State, want[0].NextAttempt, want[0].Updated = store.OutboxPending, utc(base), utc(base)
	want[0].Created = utc(base)
	want[1].NextAttempt, want[1].Created, want[1].Updated = utc(b.Created), utc(b.Created), utc(b.Created)
	equal(t, "outbox after idempotent enqueue", got, want)
	for _, it := range got {
		inUTC(t, "created", it.Created)
		inUTC(t, "next attempt", it.NextAttempt)
	}
}

// testOutboxClaim checks due times, leases, lease expiry and stale owners.
func (h harness) testOutboxClaim(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	now := base.Add(time.Minute)
	late := outboxItem("late", base)
	late.NextAttempt = now.Add(time.Hour)
	review := outboxItem("review", base)
	review.State = store.OutboxReview
	enqueue(t, s, outboxItem("x2", base.Add(2*time.Second)), outboxItem("x1", base.Add(time.Second)), late, review)

	got, err := s.ClaimOutbox(ctx, store.OutboxClaim{Owner: "d1", Now: now, Lease: 30 * time.Second})
	must(t, err)
	equal(t, "first claim", keys(got), []string{"x1", "x2"})
	for _, it := range got {
		if it.LeaseOwner != "d1" || !it.LeaseUntil.Equal(now.Add(30*time.Second)) {
			t.Errorf("%s leased to %q until %v", it.Key, it.LeaseOwner, it.LeaseUntil)
		}
	}
	got, err = s.ClaimOutbox(ctx, store.OutboxClaim{Owner: "d2", Now: now.Add(29 * time.Second), Lease: 30 * time.Second})
	must(t, err)
	equal(t, "claim while leased", keys(got), []string(nil))

	// The lease ends: d2 takes x1 over, and d1 can no longer settle it.
	got, err = s.ClaimOutbox(ctx, store.OutboxClaim{Owner: "d2", Now: now.Add(30 * time.Second), Lease: 30 * time.Second, Limit: 1})
	must(t, err)
	equal(t, "claim after lease end", keys(got), []string{"x1"})
	wantErr(t, s.MarkOutbox(ctx, store.OutboxResult{Key: "x1", Owner: "d1", State: store.OutboxDelivered, Now: now}),
		store.ErrConflict, "mark by the owner of an ended lease")
	must(t, s.MarkOutbox(ctx, store.OutboxResult{Key: "x1", Owner: "d2", State: store.OutboxPending, Attempted: true,
		Error: "503", NextAttempt: now.Add(10 * time.Minute), Now: now.Add(31 * time.Second)}))
	wantErr(t, s.MarkOutbox(ctx, store.OutboxResult{Key: "x1", Owner: "d2", State: store.OutboxDelivered, Now: now}),
		store.ErrConflict, "mark without a lease")

	got, err = s.ClaimOutbox(ctx, store.OutboxClaim{Owner: "d3", Now: now.Add(10 * time.Minute), Lease: time.Second})
	must(t, err)
	equal(t, "claim at the retry time", keys(got), []string{"x2", "x1"}) // x2 lease ended too; x1 retried later
	for _, it := range got {
		if it.Key == "x1" && (it.Attempts != 1 || it.LastError != "503") {
			t.Errorf("x1 after a failed attempt: attempts %d, last error %q", it.Attempts, it.LastError)
		}
	}
	must(t, s.MarkOutbox(ctx, store.OutboxResult{Key: "x1", Owner: "d3", State: store.OutboxDelivered, Attempted: true, Now: now}))
	// Putting back unsent (a rate limit) does not count an attempt nor clear LastError.
	must(t, s.MarkOutbox(ctx, store.OutboxResult{Key: "x2", Owner: "d3", State: store.OutboxPending,
		NextAttempt: now.Add(11 * time.Minute), Now: now}))
	wantErr(t, s.MarkOutbox(ctx, store.OutboxResult{Key: "x1", Owner: "d3", State: store.OutboxFailed, Now: now}),
		store.ErrConflict, "mark after delivered")
	wantErr(t, s.MarkOutbox(ctx, store.OutboxResult{Key: "nope", Owner: "d3", State: store.OutboxFailed, Now: now}),
		store.ErrNotFound, "mark an unknown key")

	x1 := listOutbox(t, s, store.OutboxQuery{State: store.OutboxDelivered})
	if len(x1) != 1 || x1[0].Key != "x1" || x1[0].Attempts != 2 || x1[0].LastError != "" || x1[0].LeaseOwner != "" || !x1[0].LeaseUntil.IsZero() {
		t.Errorf("delivered items: %+v", x1)
	}
	x2 := listOutbox(t, s, store.OutboxQuery{IncidentID: "inc-x2"})
	if len(x2) != 1 || x2[0].Attempts != 0 || !x2[0].NextAttempt.Equal(now.Add(11*time.Minute)) {
		t.Errorf("x2 put back unsent: %+v", x2)
	}

	// Review items are never claimed; a person resolves them without a lease.
	got, err = s.ClaimOutbox(ctx, store.OutboxClaim{Owner: "d4", Now: now.Add(24 * time.Hour), Lease: time.Second})
	must(t, err)
	equal(t, "claim far ahead", keys(got), []string{"x2", "late"})
	wantErr(t, s.MarkOutbox(ctx, store.OutboxResult{Key: "review", State: store.OutboxPending, NextAttempt: now, Now: now}),
		store.ErrInvalid, "review item back to pending")
	must(t, s.MarkOutbox(ctx, store.OutboxResult{Key: "review", Owner: "analyst", State: store.OutboxDelivered, Now: now}))
	equal(t, "review queue after resolving", keys(listOutbox(t, s, store.OutboxQuery{State: store.OutboxReview})), []string(nil))
}

// testOutboxList checks filters and keyset pagination over (Created, Key).
func (h harness) testOutboxList(t *testing.T) {
	s := h.store(t)
	var items []store.OutboxItem
	for i := range 25 {
		it := outboxItem(fmt.Sprintf("k%02d", i), base.Add(time.Duration(i/5)*time.Second)) // ties on Created
		if i%2 == 0 {
			it.Target = "hook/webhook"
		}
		items = append(items, it)
	}
	enqueue(t, s, items...)
	asc := keys(listOutbox(t, s, store.OutboxQuery{Order: store.OrderAsc, Limit: 4}))
	want := keys(items)
	equal(t, "ascending pages", asc, want)
	desc := keys(listOutbox(t, s, store.OutboxQuery{Limit: 3}))
	for i := range want {
		if desc[len(desc)-1-i] != want[i] {
			t.Fatalf("descending pages %v are not the reverse of %v", desc, want)
		}
	}
	if n := len(listOutbox(t, s, store.OutboxQuery{Target: "hook/webhook", Limit: 5})); n != 13 {
		t.Errorf("target filter: %d items, want 13", n)
	}
	if n := len(listOutbox(t, s, store.OutboxQuery{State: store.OutboxFailed})); n != 0 {
		t.Errorf("state filter: %d failed items, want 0", n)
	}
	_, err := s.ListOutbox(t.Context(), store.OutboxQuery{Cursor: store.Cursor{Kind: store.CursorAudit, Seq: 1}.Encode()})
	wantErr(t, err, store.ErrInvalid, "audit cursor on the outbox")
}

// testOutboxConcurrentClaims checks that dispatchers claiming at once never get
// the same item.
func (h harness) testOutboxConcurrentClaims(t *testing.T) {
	s := h.store(t)
	var items []store.OutboxItem
	for i := range 200 {
		items = append(items, outboxItem(fmt.Sprintf("c%03d", i), base))
	}
	enqueue(t, s, items...)
	var (
		mu   sync.Mutex
		seen = map[string]string{}
		wg   sync.WaitGroup
	)
	for w := range 6 {
		owner := fmt.Sprintf("d%d", w)
		wg.Go(func() {
			for {
				got, err := s.ClaimOutbox(t.Context(), store.OutboxClaim{Owner: owner, Now: base, Lease: time.Hour, Limit: 7})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, it := range got {
					if prev, dup := seen[it.Key]; dup {
						t.Errorf("%s claimed by %s and %s", it.Key, prev, owner)
					}
					seen[it.Key] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != len(items) {
		t.Errorf("%d items claimed, want %d", len(seen), len(items))
	}
}

func (h harness) testOutboxInvalid(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	bad := map[string]store.OutboxItem{
		"no key":       func() store.OutboxItem { it := outboxItem("", base); return it }(),
		"no target":    func() store.OutboxItem { it := outboxItem("a", base); it.Target = ""; return it }(),
		"no incident":  func() store.OutboxItem { it := outboxItem("a", base); it.IncidentID = ""; return it }(),
		"bad payload":  func() store.OutboxItem { it := outboxItem("a", base); it.Payload = json.RawMessage(`{`); return it }(),
		"zero created": func() store.OutboxItem { it := outboxItem("a", time.Time{}); return it }(),
		"final state":  func() store.OutboxItem { it := outboxItem("a", base); it.State = store.OutboxDelivered; return it }(),
	}
	for name, it := range bad {
		_, err := s.EnqueueOutbox(ctx, []store.OutboxItem{outboxItem("good", base), it})
		wantErr(t, err, store.ErrInvalid, name)
	}
	if got := listOutbox(t, s, store.OutboxQuery{}); len(got) != 0 {
		t.Errorf("a rejected batch left %d items", len(got))
	}
	_, err := s.ClaimOutbox(ctx, store.OutboxClaim{Now: base, Lease: time.Second})
	wantErr(t, err, store.ErrInvalid, "claim without owner")
	_, err = s.ClaimOutbox(ctx, store.OutboxClaim{Owner: "d", Now: base})
	wantErr(t, err, store.ErrInvalid, "claim without lease")
	wantErr(t, s.MarkOutbox(ctx, store.OutboxResult{Key: "a", State: store.OutboxReview, Now: base}), store.ErrInvalid, "mark to review")
	wantErr(t, s.MarkOutbox(ctx, store.OutboxResult{Key: "a", State: store.OutboxPending, Now: base}), store.ErrInvalid, "pending without next attempt")
	_, err = s.ListOutbox(ctx, store.OutboxQuery{State: "lost"})
	wantErr(t, err, store.ErrInvalid, "unknown state")
}
