package behavior

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/pace"
)

// Model is one behavioral detector. The engine calls each model from one goroutine,
// with observations in event-time order; it keeps its own state, keyed by entity
// and bounded, and reports findings through the Emitter. Different models run
// concurrently, so what they share (a GeoIP reader, the identity directory) must be
// safe for concurrent use, and a model must not modify the observations.
type Model interface {
	ID() string      // stable, namespaced: "behavior.first_seen"
	Version() string // stamped on every signal
	// Observe learns from o and reports what deviates from what it learned before.
	Observe(o *Obs, out *Emitter)
	// Advance tells the model that event time has reached now: windows that closed
	// before it are evaluated. The engine calls it on every new event-time minute and
	// at the end of the input.
	Advance(now int64, out *Emitter)
	// Snapshot writes everything the model learned; Restore replaces the model's
	// state with a snapshot. A restored model behaves as the original would have.
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
	// Stats reports what the model holds.
	Stats() ModelStats
}

// Normalizer is implemented by models that accept analyst feedback: "this value is
// normal for this entity" until the event time until (zero: for good). It reports
// whether the model knew the kind of attribute.
type Normalizer interface {
	MarkNormal(entity, attribute string, until time.Time) bool
}

// Flusher is implemented by models with windows to close at the end of the input:
// Engine.Flush calls Flush instead of Advance. The model closes what is open at the
// latest event time it saw.
type Flusher interface {
	Flush(out *Emitter)
}

// ModelStats is what a model holds: tracked keys and an estimate of their memory.
type ModelStats struct {
	Entities int   `json:"entities"`
	Bytes    int64 `json:"bytes"`
	Trained  bool  `json:"trained"` // past its learning period
}

// Options configures an Engine.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Users maps a user name as logs give it to the person's canonical key (the
	// identity directory), so one person's CORP\alice and alice@corp.example
	// share one baseline. Nil keeps names as decoded.
	Users func(string) string
}

// Engine runs the behavioral models over observations in event-time order. In
// batch mode (hunt) the Collector gathers observations from the detect workers and
// Finish sorts and runs them; the order, and so every result, is the same whatever
// the number of workers.
type Engine struct {
	models []Model
	log    *slog.Logger

	mu  sync.Mutex
	obs []Obs

	observed  prometheus.Counter
	signalsBy *prometheus.CounterVec
	now       int64 // latest event time processed
	// restored is the event time the restored state covers up to; Finish leaves
	// out observations at or before it (the models learned them already)
	restored int64
	stale    int

	users    func(string) string
	userMemo map[Sym]Sym
	// since is each model's first learned event time (its training window's
	// start; 0: nothing learned yet), by model index
	since []int64
	// held are the observations Release keeps for later (event time past the
	// watermark), sorted in observation order; merge is its scratch space
	held  obsQueue
	merge []Obs
	// spare is the collected-observations buffer Release gives back to the
	// collector on its next call (the two alternate)
	spare []Obs
}

// NewEngine builds an engine over models (ids must be unique).
func NewEngine(models []Model, opts Options) (*Engine, error) {
	seen := map[string]bool{}
	for _, m := range models {
		if seen[m.ID()] {
			return nil, fmt.Errorf("registering behavioral model %q: duplicate id", m.ID())
		}
		seen[m.ID()] = true
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		models: models, log: log, users: opts.Users, userMemo: map[Sym]Sym{}, since: make([]int64, len(models)),
		observed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_behavior_observations_total", Help: "Events the behavioral models observed.",
		}),
		signalsBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_behavior_signals_total", Help: "Signals emitted by each behavioral model.",
		}, []string{"model"}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{e.observed, e.signalsBy} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering behavioral metrics: %w", err)
			}
		}
	}
	return e, nil
}

// Models returns the engine's models.
func (e *Engine) Models() []Model { return e.models }

// Collector returns the detector that feeds the engine from the pipeline's detect
// workers: it extracts an observation from each event and keeps it for Finish.
func (e *Engine) Collector() detect.Detector { return collector{e} }

type collector struct{ e *Engine }

// symCaches are the detect workers' intern caches.
var symCaches = sync.Pool{New: func() any { return newSymCache() }}

// localObs are the detect workers' observation buffers.
var localObs = sync.Pool{New: func() any { return new([]Obs) }}

func (collector) ID() string      { return "behavior.collect" }
func (collector) Version() string { return Version }

func (c collector) Detect(_ context.Context, batch []*event.Event, _ func(detect.Signal)) error {
	lp := localObs.Get().(*[]Obs)
	local := (*lp)[:0]
	var o Obs
	cache := symCaches.Get().(*symCache)
	for _, ev := range batch {
		if extract(ev, &o, cache) {
			local = append(local, o)
		}
	}
	symCaches.Put(cache)
	c.e.mu.Lock()
	c.e.obs = append(c.e.obs, local...)
	c.e.mu.Unlock()
	clear(local)
	*lp = local[:0]
	localObs.Put(lp)
	return nil
}

// Pending returns how many observations wait for Finish.
func (e *Engine) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.obs)
}

// Finish runs every collected observation through the models in event-time order,
// then closes the windows still open, and calls emit with each signal.
func (e *Engine) Finish(ctx context.Context, emit func(detect.Signal)) error {
	e.mu.Lock()
	obs := e.obs
	e.obs = nil
	e.mu.Unlock()
	slices.SortFunc(obs, func(a, b Obs) int {
		if a.less(&b) {
			return -1
		}
		if b.less(&a) {
			return 1
		}
		return 0
	})
	if e.restored != 0 {
		// A batch over data the saved state already covers (the same files hunted
		// again) is not learned twice: replayed at the state's time it would be a
		// burst the models never saw.
		n, _ := slices.BinarySearchFunc(obs, e.restored+1, func(o Obs, t int64) int { return cmp.Compare(o.Time, t) })
		e.mu.Lock()
		e.stale += n
		e.mu.Unlock()
		obs = obs[n:]
	}
	if err := e.Process(ctx, obs, emit); err != nil {
		return err
	}
	e.Flush(emit)
	return nil
}

// Release is the streaming form of Finish: it runs the collected observations
// whose event time is at or before upTo (the watermark: the latest event time
// seen less the out-of-order tolerance) through the models, in event-time order,
// and holds the later ones for a later call. Observations at or before the time
// a restored state covers are left out (counted by Stale), as in Finish, so a
// stream replayed from an earlier position after a restart learns nothing twice.
//
// Held observations are kept sorted: a batch is sorted on its own and, since a
// stream's batches mostly follow each other in time, appended (or merged from
// the first held observation it precedes), so the cost is the batch's sort, not
// the size of what is held.
func (e *Engine) Release(ctx context.Context, upTo int64, emit func(detect.Signal)) error {
	e.mu.Lock()
	collected := e.obs
	e.obs, e.spare = e.spare[:0], nil
	e.mu.Unlock()
	stale := 0
	if e.restored != 0 {
		kept := collected[:0]
		for i := range collected {
			if collected[i].Time <= e.restored {
				stale++
				continue
			}
			kept = append(kept, collected[i])
		}
		clear(collected[len(kept):])
		collected = kept
	}
	if len(collected) > 0 {
		slices.SortFunc(collected, cmpObs)
		e.held.insertSorted(collected, &e.merge)
	}
	clear(collected)
	if cap(collected) <= 1<<20 { // not what an unusual burst left
		e.spare = collected[:0]
	}
	if stale > 0 {
		e.mu.Lock()
		e.stale += stale
		e.mu.Unlock()
	}
	k := e.held.countUpTo(upTo)
	if k == 0 {
		return nil
	}
	err := e.process(ctx, e.held.front(k), emit)
	e.held.dropFront(k)
	return err
}

func cmpObs(a, b Obs) int {
	if a.less(&b) {
		return -1
	}
	if b.less(&a) {
		return 1
	}
	return 0
}

// Held returns how many observations the engine has taken but not yet run
// through the models (held by Release for a later watermark, or collected
// since the last Release), and the smallest log position (Obs.Pos) among them:
// what a stream must replay from to see them again after a restart (ok is
// false when there are none).
func (e *Engine) Held() (n int, minPos uint64, ok bool) {
	e.mu.Lock()
	collected := e.obs
	e.mu.Unlock()
	see := func(o *Obs) {
		if !ok || o.Pos < minPos {
			minPos, ok = o.Pos, true
		}
	}
	e.held.each(see)
	for i := range collected {
		see(&collected[i])
	}
	return e.held.Len() + len(collected), minPos, ok
}

// Stale returns how many observations Finish left out because the restored
// state already covered their time.
func (e *Engine) Stale() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stale
}

// Process runs observations, which must be in event-time order, through every
// model. Observations older than what the engine already saw are processed as if
// they happened at the latest time seen (models never go back in time).
//
// Models are independent of each other, so each runs on its own goroutine over the
// same observations (each still sees them one at a time, in order); their signals
// are then emitted model by model, in the order each model produced them, so the
// result does not depend on scheduling.
func (e *Engine) Process(ctx context.Context, obs []Obs, emit func(detect.Signal)) error {
	return e.process(ctx, [][]Obs{obs}, emit)
}

// process is Process over the observations of segs, in order.
func (e *Engine) process(ctx context.Context, segs [][]Obs, emit func(detect.Signal)) error {
	start := e.now
	total := 0
	for _, obs := range segs {
		for i := range obs {
			o := &obs[i]
			if o.Time < e.now {
				o.Time = e.now
			}
			e.now = o.Time
			if e.users != nil && o.User != (Sym{}) {
				o.User = e.canonicalUser(o.User)
			}
		}
		if len(obs) > 0 && total == 0 {
			for j := range e.since {
				if e.since[j] == 0 {
					e.since[j] = obs[0].Time
				}
			}
		}
		total += len(obs)
	}
	found := make([][]detect.Signal, len(e.models))
	errs := make([]error, len(e.models))
	var wg sync.WaitGroup
	for j, m := range e.models {
		wg.Go(func() {
			out := e.emitter(j, func(s detect.Signal) { found[j] = append(found[j], s) })
			prev := start
			n := 0
			for _, obs := range segs {
				for i := range obs {
					if n&4095 == 0 && ctx.Err() != nil {
						errs[j] = fmt.Errorf("running behavioral model %s: %w", m.ID(), ctx.Err())
						return
					}
					n++
					o := &obs[i]
					if o.Time/int64(time.Minute) != prev/int64(time.Minute) {
						m.Advance(o.Time, out)
					}
					prev = o.Time
					m.Observe(o, out)
				}
			}
		})
	}
	wg.Wait()
	for j := range e.models {
		if errs[j] != nil {
			return errs[j]
		}
		for _, s := range found[j] {
			emit(s)
		}
	}
	e.observed.Add(float64(total))
	return nil
}

func (e *Engine) canonicalUser(u Sym) Sym {
	if c, ok := e.userMemo[u]; ok {
		return c
	}
	c := intern(e.users(str(u)))
	if c == (Sym{}) {
		c = u
	}
	if len(e.userMemo) >= 1<<20 {
		clear(e.userMemo)
	}
	e.userMemo[u] = c
	return c
}

// Flush closes every open window at the latest event time seen.
func (e *Engine) Flush(emit func(detect.Signal)) {
	outs := e.emitters(emit)
	for j, m := range e.models {
		if f, ok := m.(Flusher); ok {
			f.Flush(outs[j])
			continue
		}
		m.Advance(e.now+int64(24*time.Hour*8), outs[j]) // past any window a model keeps open
	}
}

func (e *Engine) emitters(emit func(detect.Signal)) []*Emitter {
	outs := make([]*Emitter, len(e.models))
	for j := range e.models {
		outs[j] = e.emitter(j, emit)
	}
	return outs
}

func (e *Engine) emitter(j int, emit func(detect.Signal)) *Emitter {
	m := e.models[j]
	return &Emitter{model: m, emit: emit, counter: e.signalsBy.WithLabelValues(m.ID()), since: e.since[j]}
}

// MarkNormal passes "this is normal" feedback to every model that takes it and
// reports how many did.
func (e *Engine) MarkNormal(entity, attribute string, until time.Time) int {
	n := 0
	for _, m := range e.models {
		if nm, ok := m.(Normalizer); ok && nm.MarkNormal(entity, attribute, until) {
			n++
		}
	}
	return n
}

// MarkNormalFor passes "this is normal" feedback to the model with the id
// modelID, as a signal's Baseline names it. It reports whether the engine runs
// that model and whether the model took the feedback (a model without the
// entity in its state, or that takes no feedback, does not).
func (e *Engine) MarkNormalFor(modelID, entity, attribute string, until time.Time) (known, taken bool) {
	for _, m := range e.models {
		if m.ID() != modelID {
			continue
		}
		nm, ok := m.(Normalizer)
		return true, ok && nm.MarkNormal(entity, attribute, until)
	}
	return false, false
}

// State is one model's snapshot.
type State struct {
	ModelID string
	Version string
	Since   time.Time // event time the model started learning (zero: nothing learned)
	Updated time.Time // event time the state covers up to
	Blob    []byte
}

// Snapshot returns the state of every model.
func (e *Engine) Snapshot() ([]State, error) { return e.SnapshotPaced(nil) }

// SnapshotPaced is Snapshot paced by p (nil: flat out): the models' encoders
// pause between their writes, and between models, so that a checkpoint of a
// busy stream takes a bounded share of a core.
func (e *Engine) SnapshotPaced(p *pace.Pacer) ([]State, error) {
	out := make([]State, 0, len(e.models))
	for j, m := range e.models {
		p.Pause()
		var buf bytes.Buffer
		if err := m.Snapshot(p.Writer(&buf)); err != nil {
			return nil, fmt.Errorf("snapshotting %s: %w", m.ID(), err)
		}
		st := State{ModelID: m.ID(), Version: m.Version(), Updated: unixTime(e.now), Blob: buf.Bytes()}
		if e.since[j] != 0 {
			st.Since = unixTime(e.since[j])
		}
		out = append(out, st)
	}
	return out, nil
}

// Restore loads states into the models they belong to. States of unknown models
// are ignored (a model removed since); a state that does not load is an error,
// and the model keeps starting from nothing.
func (e *Engine) Restore(states []State) error {
	for _, st := range states {
		i := slices.IndexFunc(e.models, func(m Model) bool { return m.ID() == st.ModelID })
		if i < 0 {
			e.log.Warn("ignoring the saved state of an unknown behavioral model", "model", st.ModelID)
			continue
		}
		if err := e.models[i].Restore(bytes.NewReader(st.Blob)); err != nil {
			return fmt.Errorf("restoring %s: %w", st.ModelID, err)
		}
		e.since[i] = 0
		if !st.Since.IsZero() {
			e.since[i] = st.Since.UnixNano()
		}
		if t := st.Updated.UnixNano(); !st.Updated.IsZero() && t > e.now {
			e.now = t
			e.restored = max(e.restored, t)
		}
	}
	return nil
}

// Stats reports every model's statistics, by model id, in model order.
func (e *Engine) Stats() []NamedStats {
	out := make([]NamedStats, 0, len(e.models))
	for _, m := range e.models {
		out = append(out, NamedStats{ID: m.ID(), ModelStats: m.Stats()})
	}
	return out
}

// NamedStats is one model's statistics.
type NamedStats struct {
	ID string `json:"id"`
	ModelStats
}

// Finding is what a model reports; the Emitter turns it into a signal.
type Finding struct {
	Time       int64
	RuleID     string // the model's sub-detector, e.g. "first_seen.user_host"
	Title      string
	Severity   detect.Severity
	Confidence float64
	Tactics    []string
	Techniques []string
	Entities   []detect.Entity
	Explain    detect.Explanation
	Evidence   []detect.EvidenceRef
	// Normal is what the model's MarkNormal takes to accept "this is normal"
	// for the finding (empty: no such feedback).
	Normal NormalKey
}

// NormalKey is the arguments of a model's MarkNormal for one finding.
type NormalKey struct{ Entity, Attribute string }

// Emitter turns one model's findings into signals.
type Emitter struct {
	model   Model
	emit    func(detect.Signal)
	counter prometheus.Counter
	since   int64 // the model's training window start
}

// Emit reports f.
func (out *Emitter) Emit(f Finding) {
	if out == nil || out.emit == nil {
		return
	}
	s := detect.Signal{
		Time: unixTime(f.Time), DetectorID: out.model.ID(), DetectorVersion: out.model.Version(),
		RuleID: f.RuleID, Title: f.Title, Severity: f.Severity, Confidence: clamp01(f.Confidence),
		Tactics: f.Tactics, Techniques: f.Techniques, Entities: f.Entities, Explanation: f.Explain,
		Evidence: f.Evidence,
		Baseline: detect.Baseline{Entity: f.Normal.Entity, Attribute: f.Normal.Attribute},
	}
	if out.since != 0 {
		s.Baseline.LearnedFrom = unixTime(out.since)
	}
	slices.SortStableFunc(s.Evidence, func(a, b detect.EvidenceRef) int { return a.Time.Compare(b.Time) })
	s.ID = detect.SignalID(s.DetectorID, s.RuleID+"\x00"+entityKey(s.Entities), s.Evidence)
	out.counter.Inc()
	out.emit(s)
}

func entityKey(es []detect.Entity) string {
	var b []byte
	for _, e := range es {
		b = append(b, e.Kind...)
		b = append(b, ':')
		b = append(b, e.Value...)
		b = append(b, 0)
	}
	return string(b)
}

func unixTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func clamp01(x float64) float64 { return max(0, min(1, x)) }

// sortedKeys returns m's keys sorted by their text, for deterministic snapshots.
func sortedKeys[V any](m map[Sym]V) []Sym {
	keys := make([]Sym, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Sym) int { return cmp.Compare(str(a), str(b)) })
	return keys
}
