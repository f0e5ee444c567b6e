package escalate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// Receiver modes.
const (
	modeUp int32 = iota
	mode503
	modeHangUp // the connection is dropped without an answer
)

// receiver is a loopback webhook and PagerDuty endpoint that verifies
// signatures and counts accepted notifications by idempotency key. Its effect is
// exactly once when every key is in accepted once; raw counts every 2xx answer,
// duplicates included.
type receiver struct {
	srv      *httptest.Server
	mode     atomic.Int32
	now      func() time.Time
	mu       sync.Mutex
	accepted map[string]int // effects, deduplicated by key
	raw      map[string]int // 2xx answers per key
	refused  int            // requests answered 503 or dropped
}

func newReceiver(t *testing.T, now func() time.Time) *receiver {
	r := &receiver{now: now, accepted: map[string]int{}, raw: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	switch r.mode.Load() {
	case mode503:
		r.mu.Lock()
		r.refused++
		r.mu.Unlock()
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	case modeHangUp:
		r.mu.Lock()
		r.refused++
		r.mu.Unlock()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	var key string
	switch req.URL.Path {
	case "/hook":
		if err := VerifyWebhook(testKey, req.Header, body, r.now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		key = req.Header.Get("webhook-id")
	case "/v2/enqueue":
		var ev PagerDutyEvent
		if err := json.Unmarshal(body, &ev); err != nil || ev.RoutingKey != "RK" || ev.EventAction != "trigger" {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		key, _ = ev.Payload.CustomDetails["idempotency_key"].(string)
	default:
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	r.raw[key]++
	if r.accepted[key] == 0 { // the receiver deduplicates by key
		r.accepted[key] = 1
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (r *receiver) counts() (accepted, raw map[string]int, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, w := map[string]int{}, map[string]int{}
	for k, v := range r.accepted {
		a[k] = v
	}
	for k, v := range r.raw {
		w[k] = v
	}
	return a, w, r.refused
}

func policiesFor(t *testing.T, url string, extra string) *Policies {
	t.Helper()
	ps, err := Parse("test.yaml", fmt.Appendf(nil, `policies:
  - name: page
    when: {min_severity: high}
    actions:
      - type: webhook
        url: %s/hook
        secret_env: HOOK_SECRET
      - type: pagerduty
        url: %s/v2/enqueue
        secret_env: PD_KEY
      - type: review
%s`, url, url, extra))
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

var testSecrets = secrets(map[string]string{"HOOK_SECRET": testSecret(), "PD_KEY": "RK"})

func openStore(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newTestDispatcher(t *testing.T, st store.Store, ps *Policies, clk *fakeClock, owner string, senders map[string]Sender) *Dispatcher {
	t.Helper()
	d, err := NewDispatcher(DispatcherOptions{
		Store: st, Policies: ps, Owner: owner, Now: clk.Now, Jitter: func() float64 { return 0.5 },
		Secret: testSecrets, Senders: senders, Lease: time.Minute, Batch: 8, MinBackoff: time.Second, MaxBackoff: time.Minute,
		Sleep: func(context.Context, time.Duration) error { t.Error("Run is not used by the tests"); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// drain runs the dispatcher until nothing is due, then advances the clock by
// step, for the given span of fake time.
func drain(t *testing.T, d *Dispatcher, clk *fakeClock, step, span time.Duration) {
	t.Helper()
	for end := clk.Now().Add(span); clk.Now().Before(end); clk.Advance(step) {
		for range 1000 {
			n, err := d.RunOnce(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
	}
}

func outbox(t *testing.T, st store.Store, state store.OutboxState) []store.OutboxItem {
	t.Helper()
	var all []store.OutboxItem
	q := store.OutboxQuery{State: state, Order: store.OrderAsc}
	for {
		p, err := st.ListOutbox(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		q.Cursor = p.Next
	}
}

// enqueueIncidents evaluates incidents inc-0..inc-(n-1), versions 1..versions,
// twice (the second pass must add nothing), and returns the sendable keys.
func enqueueIncidents(t *testing.T, st store.Store, ps *Policies, clk *fakeClock, n int, versions int64) map[string]bool {
	t.Helper()
	eng, err := NewEngine(EngineOptions{Store: st, Policies: ps, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for pass := range 2 {
		for i := range n {
			for v := int64(1); v <= versions; v++ {
				inc := testIncident(fmt.Sprintf("inc-%d", i), v)
				added, err := eng.Evaluate(t.Context(), inc)
				if err != nil {
					t.Fatal(err)
				}
				if pass == 1 && added != 0 {
					t.Fatalf("evaluating %s version %d again added %d items", inc.ID, v, added)
				}
				for _, p := range ps.Policies {
					for _, a := range p.Actions {
						if a.Kind != KindReview {
							want[Key(a.ID, inc.ID, v)] = true
						}
					}
				}
			}
		}
	}
	return want
}

func checkExactlyOnce(t *testing.T, rcv *receiver, st store.Store, want map[string]bool) (raw map[string]int) {
	t.Helper()
	accepted, raw, _ := rcv.counts()
	for k := range want {
		if accepted[k] != 1 {
			t.Errorf("notification %s took effect %d times, want 1", k, accepted[k])
		}
	}
	if len(accepted) != len(want) {
		t.Errorf("receiver took %d distinct notifications, want %d", len(accepted), len(want))
	}
	delivered := outbox(t, st, store.OutboxDelivered)
	if len(delivered) != len(want) {
		t.Errorf("%d items delivered in the outbox, want %d", len(delivered), len(want))
	}
	for _, state := range []store.OutboxState{store.OutboxPending, store.OutboxFailed} {
		if left := outbox(t, st, state); len(left) != 0 {
			t.Errorf("%d items left %s: %+v", len(left), state, left[0])
		}
	}
	return raw
}

// TestDeliveryThroughOutage: the receiver answers 503, then drops connections,
// then recovers; every notification takes effect exactly once afterwards.
func TestDeliveryThroughOutage(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t, clk.Now)
	ps := policiesFor(t, rcv.srv.URL, "")
	st := openStore(t, t.TempDir())
	want := enqueueIncidents(t, st, ps, clk, 10, 2) // 10 incidents x 2 versions x (webhook + pagerduty)
	if len(want) != 40 {
		t.Fatalf("%d keys", len(want))
	}
	if review := outbox(t, st, store.OutboxReview); len(review) != 20 {
		t.Fatalf("%d review items, want 20", len(review))
	}
	d := newTestDispatcher(t, st, ps, clk, "d1", nil)

	rcv.mode.Store(mode503)
	drain(t, d, clk, 5*time.Second, 2*time.Minute)
	rcv.mode.Store(modeHangUp)
	drain(t, d, clk, 5*time.Second, 2*time.Minute)
	accepted, _, refused := rcv.counts()
	if len(accepted) != 0 || refused < 80 {
		t.Fatalf("during the outage: %d accepted, %d refused", len(accepted), refused)
	}
	for _, it := range outbox(t, st, store.OutboxPending) {
		if it.Attempts < 2 || it.LastError == "" || !it.NextAttempt.After(clk.Now().Add(-time.Minute)) {
			t.Fatalf("pending item after the outage: %+v", it)
		}
	}

	rcv.mode.Store(modeUp)
	drain(t, d, clk, 5*time.Second, 3*time.Minute) // the backoff is capped at a minute
	raw := checkExactlyOnce(t, rcv, st, want)
	for k, n := range raw {
		if n != 1 {
			t.Errorf("%s answered %d times: nothing was lost, so nothing should be resent", k, n)
		}
	}
	if review := outbox(t, st, store.OutboxReview); len(review) != 20 {
		t.Errorf("review queue has %d items after dispatching, want 20 (never sent)", len(review))
	}
}

// lossySender delivers, then reports a failure the first time for some keys:
// the answer was lost, so the dispatcher must send again.
type lossySender struct {
	Sender
	mu   sync.Mutex
	lose map[string]bool
}

func (l *lossySender) Send(ctx context.Context, n *Notification) error {
	if err := l.Sender.Send(ctx, n); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lose[n.Key] {
		delete(l.lose, n.Key)
		return fmt.Errorf("reading response: connection reset")
	}
	return nil
}

// TestRestartLosesNothing: a dispatcher handles part of the outbox, leases more
// and dies; a new dispatcher over the reopened store delivers everything, each
// notification with exactly one effect although some were sent twice.
func TestRestartLosesNothing(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t, clk.Now)
	ps := policiesFor(t, rcv.srv.URL, "")
	dir := t.TempDir()
	s1, err := sqlite.Open(t.Context(), sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := enqueueIncidents(t, s1, ps, clk, 15, 1) // 30 notifications
	lose := map[string]bool{}
	for k := range want {
		if len(lose) < 6 {
			lose[k] = true
		}
	}
	hook := &lossySender{Sender: &WebhookSender{Client: rcv.srv.Client(), Secret: testSecrets}, lose: lose}
	pd := &lossySender{Sender: &PagerDutySender{Client: rcv.srv.Client(), Secret: testSecrets}, lose: lose}
	senders := map[string]Sender{KindWebhook: hook, KindPagerDuty: pd}

	d1 := newTestDispatcher(t, s1, ps, clk, "d1", senders)
	if n, err := d1.RunOnce(t.Context()); err != nil || n != 8 {
		t.Fatalf("first batch: %d, %v", n, err)
	}
	// d1 claims the next batch and dies before sending or settling it.
	leased, err := s1.ClaimOutbox(t.Context(), store.OutboxClaim{Owner: "d1", Now: clk.Now(), Lease: time.Minute, Limit: 8})
	if err != nil || len(leased) != 8 {
		t.Fatalf("leasing: %d, %v", len(leased), err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, dir)
	d2 := newTestDispatcher(t, s2, ps, clk, "d2", senders)
	if n, err := d2.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	} else if n != 8 {
		t.Fatalf("second dispatcher claimed %d, want a full batch of 8 (14 items are due)", n)
	}
	drain(t, d2, clk, 5*time.Second, 3*time.Minute)
	raw := checkExactlyOnce(t, rcv, s2, want)
	dups := 0
	for _, n := range raw {
		dups += n - 1
	}
	if dups != 6 {
		t.Errorf("%d redeliveries, want 6 (the lost answers)", dups)
	}
	for _, it := range leased {
		got := outbox(t, s2, store.OutboxDelivered)
		found := false
		for _, g := range got {
			found = found || g.Key == it.Key
		}
		if !found {
			t.Errorf("item %s leased by the dead dispatcher was not delivered", it.Key)
		}
	}
}

func TestPermanentAndExhausted(t *testing.T) {
	clk := newClock()
	status := atomic.Int32{}
	status.Store(http.StatusBadRequest)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(status.Load())) }))
	defer srv.Close()
	ps := policiesFor(t, srv.URL, "")
	st := openStore(t, t.TempDir())
	enqueueIncidents(t, st, ps, clk, 1, 1)
	d, err := NewDispatcher(DispatcherOptions{Store: st, Policies: ps, Owner: "d", Now: clk.Now, Jitter: func() float64 { return 0 },
		Secret: testSecrets, MinBackoff: 2 * time.Second, MaxBackoff: 5 * time.Second, MaxAttempts: 4})
	if err != nil {
		t.Fatal(err)
	}
	// 400 fails both items at once.
	if _, err := d.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	failed := outbox(t, st, store.OutboxFailed)
	if len(failed) != 2 || failed[0].Attempts != 1 || failed[0].LastError == "" {
		t.Fatalf("after a 400: %+v", failed)
	}

	// 429 is retried with backoff (no jitter: half the exponential delay, capped)
	// until MaxAttempts.
	status.Store(http.StatusTooManyRequests)
	enqueueIncidents(t, st, ps, clk, 1, 2)
	var delays []time.Duration
	for range 10 {
		if _, err := d.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		p := outbox(t, st, store.OutboxPending)
		if len(p) == 0 {
			break
		}
		delays = append(delays, p[0].NextAttempt.Sub(clk.Now()))
		clk.Advance(p[0].NextAttempt.Sub(clk.Now()))
	}
	if fmt.Sprint(delays) != "[1s 2s 2.5s]" {
		t.Errorf("retry delays %v, want [1s 2s 2.5s]", delays)
	}
	failed = outbox(t, st, store.OutboxFailed)
	if len(failed) != 4 {
		t.Errorf("after exhausting attempts: %d failed, want 4", len(failed))
	}
	for _, it := range failed {
		if want := map[int64]int{1: 1, 2: 4}[it.IncidentVersion]; it.Attempts != want {
			t.Errorf("version %d %s: %d attempts, want %d", it.IncidentVersion, it.Target, it.Attempts, want)
		}
	}

	// An action removed from the policy file fails its items.
	other := policiesFor(t, srv.URL, "")
	other.Policies[0].Actions = other.Policies[0].Actions[2:] // review only
	enqueueIncidents(t, st, ps, clk, 1, 3)
	d2, err := NewDispatcher(DispatcherOptions{Store: st, Policies: other, Owner: "d2", Now: clk.Now, Secret: testSecrets})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	failed = outbox(t, st, store.OutboxFailed)
	if len(failed) != 6 {
		t.Errorf("removed action: %d failed, want 6", len(failed))
	}
	for _, it := range failed {
		if it.IncidentVersion == 3 && it.LastError != "action "+it.Target+" is no longer in policy file test.yaml" {
			t.Errorf("removed action %s: last error %q", it.Target, it.LastError)
		}
	}
}

func TestRateLimit(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t, clk.Now)
	ps, err := Parse("rl.yaml", fmt.Appendf(nil, `policies:
  - name: page
    actions:
      - type: webhook
        url: %s/hook
        secret_env: HOOK_SECRET
        rate_limit: {per_second: 2, burst: 3}
`, rcv.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, t.TempDir())
	want := enqueueIncidents(t, st, ps, clk, 10, 1)
	d := newTestDispatcher(t, st, ps, clk, "d", nil)
	delivered := func() int { a, _, _ := rcv.counts(); return len(a) }
	run := func() {
		for {
			n, err := d.RunOnce(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	run()
	if got := delivered(); got != 3 {
		t.Fatalf("burst: %d delivered, want 3", got)
	}
	for _, it := range outbox(t, st, store.OutboxPending) {
		if it.Attempts != 0 || it.NextAttempt.Sub(clk.Now()) != 500*time.Millisecond {
			t.Fatalf("item put back by the rate limit: attempts %d, next in %v", it.Attempts, it.NextAttempt.Sub(clk.Now()))
		}
	}
	clk.Advance(time.Second)
	run()
	if got := delivered(); got != 5 {
		t.Fatalf("after a second at 2/s: %d delivered, want 5", got)
	}
	for range 3 {
		clk.Advance(time.Second)
		run()
	}
	checkExactlyOnce(t, rcv, st, want)
}

func TestKeyAndEvaluate(t *testing.T) {
	if Key("a/b", "c", 1) == Key("a", "b/c", 1) || Key("p/x", "i", 1) == Key("p/x", "i", 2) || Key("p/x", "i", 12) == Key("p/x", "i1", 2) {
		t.Error("keys do not separate their parts")
	}
	if k := Key("p/x", "i", 1); k != "vigil_"+k[len("vigil_"):] || len(k) != len("vigil_")+32 {
		t.Errorf("key %q: want vigil_ and 32 hex digits", k)
	}
	clk := newClock()
	ps := policiesFor(t, "http://127.0.0.1:9", "")
	st := openStore(t, t.TempDir())
	eng, err := NewEngine(EngineOptions{Store: st, Policies: ps, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	low := testIncident("quiet", 1)
	low.Severity = 1
	if n, err := eng.Evaluate(t.Context(), low); err != nil || n != 0 {
		t.Errorf("non-matching incident: %d items, %v", n, err)
	}
	inc := testIncident("loud", 3)
	if n, err := eng.Evaluate(t.Context(), inc); err != nil || n != 3 {
		t.Errorf("matching incident: %d items, %v", n, err)
	}
	inc.Version = 4 // the incident grew
	if n, err := eng.Evaluate(t.Context(), inc); err != nil || n != 3 {
		t.Errorf("grown incident: %d items, %v", n, err)
	}
	items := outbox(t, st, "")
	if len(items) != 6 {
		t.Fatalf("%d items", len(items))
	}
	for _, it := range items {
		if it.Key != Key(it.Target, it.IncidentID, it.IncidentVersion) || it.Created != clk.Now() {
			t.Errorf("item %+v", it)
		}
	}
}

// cancelSender delivers through next, then cancels the dispatcher's context.
type cancelSender struct {
	next   Sender
	cancel context.CancelFunc
}

func (c *cancelSender) Send(ctx context.Context, n *Notification) error {
	err := c.next.Send(ctx, n)
	c.cancel()
	return err
}

// TestStopReleasesClaims: a dispatcher stopped mid-batch puts the rest of its
// claim back at once, so the next one does not wait for the lease.
func TestStopReleasesClaims(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t, clk.Now)
	ps := policiesFor(t, rcv.srv.URL, "")
	st := openStore(t, t.TempDir())
	want := enqueueIncidents(t, st, ps, clk, 3, 1) // 6 items
	ctx, cancel := context.WithCancel(t.Context())
	hook := &WebhookSender{Client: rcv.srv.Client(), Secret: testSecrets}
	d := newTestDispatcher(t, st, ps, clk, "d1", map[string]Sender{KindWebhook: &cancelSender{next: hook, cancel: cancel},
		KindPagerDuty: &cancelSender{next: &PagerDutySender{Client: rcv.srv.Client(), Secret: testSecrets}, cancel: cancel}})
	if n, err := d.RunOnce(ctx); err != nil || n != 6 {
		t.Fatalf("RunOnce: %d, %v", n, err)
	}
	pending := outbox(t, st, store.OutboxPending)
	if len(pending) != 5 {
		t.Fatalf("%d pending after the stop, want 5", len(pending))
	}
	for _, it := range pending {
		if it.LeaseOwner != "" || it.Attempts != 0 {
			t.Errorf("released item %+v", it)
		}
	}
	d2 := newTestDispatcher(t, st, ps, clk, "d2", nil)
	if n, err := d2.RunOnce(t.Context()); err != nil || n != 5 {
		t.Fatalf("second dispatcher at the same instant: %d, %v", n, err)
	}
	checkExactlyOnce(t, rcv, st, want)
}
