package escalate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/store"
)

// Dispatcher defaults.
const (
	DefaultLease       = 2 * time.Minute
	DefaultBatch       = 32
	DefaultPoll        = time.Second
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = time.Hour
	DefaultMaxAttempts = 20
)

// DispatcherOptions configures NewDispatcher. Store and Policies are required.
type DispatcherOptions struct {
	Store    store.Store
	Policies *Policies
	// Owner names this dispatcher in leases; empty means host-pid-random.
	Owner string
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits between polls in Run; nil means a timer that ends early when
	// ctx is done.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1); nil means math/rand/v2.
	Jitter func() float64
	// Secret looks up secret_env variables; nil means os.LookupEnv.
	Secret SecretFunc
	// HTTPClient sends webhooks, Slack and PagerDuty; nil means a client with
	// no overall timeout (each attempt is bounded by the action's timeout).
	HTTPClient *http.Client
	// Senders replaces the sender of a kind (tests, or a transport with custom
	// TLS); kinds left out get the default sender.
	Senders map[string]Sender
	// Version is the CEF device version.
	Version     string
	Lease       time.Duration // how long a claim holds items; 0 means DefaultLease
	Batch       int           // items per claim; 0 means DefaultBatch
	Poll        time.Duration // wait when nothing is due; 0 means DefaultPoll
	MinBackoff  time.Duration // first retry delay; 0 means DefaultMinBackoff
	MaxBackoff  time.Duration // cap of the retry delay; 0 means DefaultMaxBackoff
	MaxAttempts int           // attempts before failing permanently; 0 means DefaultMaxAttempts
	Logger      *slog.Logger
}

// Dispatcher delivers outbox items. Several dispatchers (processes) may run
// over one store: leases keep them from sending the same item at once.
type Dispatcher struct {
	o       DispatcherOptions
	log     *slog.Logger
	senders map[string]Sender

	mu      sync.Mutex
	buckets map[string]*bucket
}

// NewDispatcher returns a dispatcher.
func NewDispatcher(o DispatcherOptions) (*Dispatcher, error) {
	if o.Store == nil || o.Policies == nil {
		return nil, errors.New("creating escalation dispatcher: store and policies are required")
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather)
		o.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Jitter == nil {
		o.Jitter = mrand.Float64
	}
	if o.Secret == nil {
		o.Secret = os.LookupEnv
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	o.Lease = cmpOr(o.Lease, DefaultLease)
	o.Batch = cmpOr(o.Batch, DefaultBatch)
	o.Poll = cmpOr(o.Poll, DefaultPoll)
	o.MinBackoff = cmpOr(o.MinBackoff, DefaultMinBackoff)
	o.MaxBackoff = cmpOr(o.MaxBackoff, DefaultMaxBackoff)
	o.MaxAttempts = cmpOr(o.MaxAttempts, DefaultMaxAttempts)
	if o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("creating escalation dispatcher: max backoff %v below min backoff %v", o.MaxBackoff, o.MinBackoff)
	}
	for _, p := range o.Policies.Policies {
		for _, a := range p.Actions {
			if t := actionTimeout(&a); 2*t > o.Lease {
				return nil, fmt.Errorf("creating escalation dispatcher: lease %v shorter than twice action %s's timeout %v", o.Lease, a.ID, t)
			}
		}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{o: o, log: log, buckets: map[string]*bucket{}, senders: map[string]Sender{
		KindWebhook:   &WebhookSender{Client: o.HTTPClient, Secret: o.Secret},
		KindSlack:     &SlackSender{Client: o.HTTPClient, Secret: o.Secret},
		KindPagerDuty: &PagerDutySender{Client: o.HTTPClient, Secret: o.Secret},
		KindEmail:     &EmailSender{Secret: o.Secret},
		KindSyslogCEF: &SyslogCEFSender{Version: o.Version},
	}}
	for k, s := range o.Senders {
		d.senders[k] = s
	}
	return d, nil
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func actionTimeout(a *Action) time.Duration {
	if a.Timeout > 0 {
		return a.Timeout
	}
	return DefaultTimeout
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run delivers due items until ctx is done, then returns nil. Store errors are
// logged and retried after a poll interval.
func (d *Dispatcher) Run(ctx context.Context) error {
	for {
		n, err := d.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d.log.ErrorContext(ctx, "escalation dispatch failed", "err", err)
		}
		if err != nil || n < d.o.Batch {
			if d.o.Sleep(ctx, d.o.Poll) != nil {
				return nil
			}
		}
	}
}

// RunOnce claims one batch of due items and handles each: sends it, or puts it
// back when its target's rate limit is spent. It returns how many items it
// claimed.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	now := d.o.Now()
	items, err := d.o.Store.ClaimOutbox(ctx, store.OutboxClaim{Owner: d.o.Owner, Now: now, Lease: d.o.Lease, Limit: d.o.Batch})
	if err != nil {
		return 0, fmt.Errorf("claiming outbox items: %w", err)
	}
	var errs []error
	for i := range items {
		if ctx.Err() != nil {
			errs = append(errs, d.release(ctx, items[i:]))
			break
		}
		if err := d.handle(ctx, &items[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return len(items), errors.Join(errs...)
}

// release puts claimed items back unsent when the dispatcher stops, so a
// restarted one need not wait for their leases to end. It runs on a short
// context of its own: ctx is already done. Items it cannot release are freed
// when their lease ends.
func (d *Dispatcher) release(ctx context.Context, items []store.OutboxItem) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	now := d.o.Now()
	var errs []error
	for _, it := range items {
		err := d.o.Store.MarkOutbox(ctx, store.OutboxResult{Key: it.Key, Owner: d.o.Owner, State: store.OutboxPending, NextAttempt: now, Now: now})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			errs = append(errs, fmt.Errorf("releasing %s: %w", it.Key, err))
		}
	}
	return errors.Join(errs...)
}

// handle settles one claimed item. Only store errors are returned; delivery
// failures are recorded on the item.
func (d *Dispatcher) handle(ctx context.Context, it *store.OutboxItem) error {
	now := d.o.Now()
	res := store.OutboxResult{Key: it.Key, Owner: d.o.Owner, Now: now}
	a, ok := d.o.Policies.Action(it.Target)
	switch {
	case !ok:
		res.State, res.Attempted = store.OutboxFailed, true
		res.Error = fmt.Sprintf("action %s is no longer in policy file %s", it.Target, d.o.Policies.File)
	case now.Add(actionTimeout(a)).After(it.LeaseUntil):
		// Not enough lease left to send safely: put it back for the next claim.
		res.State, res.NextAttempt = store.OutboxPending, now
	default:
		if wait := d.take(a, now); wait > 0 {
			res.State, res.NextAttempt = store.OutboxPending, now.Add(wait)
			break
		}
		res.Attempted = true
		err := d.send(ctx, a, it, now)
		attempts := it.Attempts + 1
		switch {
		case err == nil:
			res.State = store.OutboxDelivered
		case IsPermanent(err) || attempts >= d.o.MaxAttempts:
			res.State, res.Error = store.OutboxFailed, err.Error()
		default:
			res.State, res.Error = store.OutboxPending, err.Error()
			res.NextAttempt = now.Add(d.backoff(attempts))
		}
		d.logResult(ctx, it, attempts, &res)
	}
	// Record the outcome even when ctx ended during the send: a delivery that is
	// not recorded is sent again.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := d.o.Store.MarkOutbox(mctx, res); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// The lease ran out and another dispatcher holds the item: it will
			// deliver (again) and the receiver deduplicates by key.
			d.log.WarnContext(ctx, "escalation lease lost", "key", it.Key, "err", err)
			return nil
		}
		return fmt.Errorf("recording outcome of %s: %w", it.Key, err)
	}
	return nil
}

func (d *Dispatcher) logResult(ctx context.Context, it *store.OutboxItem, attempts int, res *store.OutboxResult) {
	switch res.State {
	case store.OutboxDelivered:
		d.log.InfoContext(ctx, "escalation delivered", "key", it.Key, "target", it.Target, "incident_id", it.IncidentID, "attempts", attempts)
	case store.OutboxFailed:
		d.log.ErrorContext(ctx, "escalation failed permanently", "key", it.Key, "target", it.Target, "incident_id", it.IncidentID,
			"attempts", attempts, "err", res.Error)
	default:
		d.log.WarnContext(ctx, "escalation will be retried", "key", it.Key, "target", it.Target, "incident_id", it.IncidentID,
			"attempts", attempts, "next_attempt", res.NextAttempt, "err", res.Error)
	}
}

func (d *Dispatcher) send(ctx context.Context, a *Action, it *store.OutboxItem, now time.Time) error {
	s, ok := d.senders[a.Kind]
	if !ok {
		return Permanent(fmt.Errorf("no sender for action type %q", a.Kind))
	}
	var inc correlate.Incident
	if err := json.Unmarshal(it.Payload, &inc); err != nil {
		return Permanent(fmt.Errorf("decoding stored incident: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, actionTimeout(a))
	defer cancel()
	return s.Send(ctx, &Notification{Key: it.Key, Action: a, Incident: inc, Attempt: it.Attempts + 1, Now: now})
}

// backoff is the delay after the given number of failed attempts: MinBackoff
// doubled per attempt, capped at MaxBackoff, with equal jitter (a random point
// in its upper half), so retries of many items spread out but never come early.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	exp := math.Min(float64(d.o.MinBackoff)*math.Pow(2, float64(attempts-1)), float64(d.o.MaxBackoff))
	return time.Duration(exp/2 + d.o.Jitter()*exp/2)
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// take spends a token of a's rate limit, or returns how long until one is there.
func (d *Dispatcher) take(a *Action, now time.Time) time.Duration {
	if a.Rate <= 0 {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.buckets[a.ID]
	if !ok {
		b = &bucket{tokens: float64(a.Burst), last: now}
		d.buckets[a.ID] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(float64(a.Burst), b.tokens+el.Seconds()*a.Rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration(math.Ceil((1 - b.tokens) / a.Rate * float64(time.Second)))
}
