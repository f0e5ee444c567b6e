package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior"
	"github.com/vigilsec/vigil/internal/detect/sigma"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/stream"
)

// Stages are one partition's detection stages: each partition has its own
// state (behavioral baselines, Sigma correlations, IP→host bindings), so a
// partition moves between workers with its checkpoint alone.
type Stages struct {
	Detect   *detect.Engine
	Behavior *behavior.Engine
	Sigma    *sigma.Detector
	// Resolve is the partition's entity resolution (its bindings); the
	// resolutions it makes of a signal's hosts and addresses travel with it.
	Resolve    func(detect.Entity, time.Time) detect.Entity
	Suppressed func(*detect.Signal) bool
	BeforeStep func(context.Context)
	Close      func()
}

// Options configures a Node.
type Options struct {
	ID         string  // the member's name, unique in the cluster (required)
	Bus        bus.Bus // required
	Store      store.Store
	Partitions int // of the events topic (required; fixed for the cluster's life)
	// Work: run partitions (a worker). NewStages builds a partition's stages.
	Work      bool
	NewStages func(partition int) (*Stages, error)
	// Stream is the template of each partition's processor: Registry,
	// Lateness, CheckpointEvery, CheckpointShare, Limits, Workers (Log,
	// Detect, Behavior, Sigma, Publish, Store, Checkpoints are the node's).
	Stream stream.Options
	// Correlate: take the correlator role when it is free. NewCorrelator
	// builds the correlator (override first in its entity resolution).
	Correlate     bool
	NewCorrelator func(override func(detect.Entity) (detect.Entity, bool)) *correlate.Correlator
	OnIncidents   func(context.Context, []correlate.Incident)
	// LeaseTTL is the bus's lease time to live: leases are renewed every
	// third of it.
	LeaseTTL time.Duration
	// Settle is how long a joining worker watches the membership before it
	// takes partitions: until two looks this far apart see the same members
	// (at most LeaseTTL). Workers started together then split the partitions
	// at once instead of one taking all and handing most over (Kafka's initial
	// rebalance delay). Default LeaseTTL/10.
	Settle     time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Lease keys.
const (
	memberPrefix  = "member/"
	partitionKey  = "partition/" + EventsTopic + "/"
	correlatorKey = "role/correlator"
)

// Node is one member of a cluster: it announces itself, runs the partitions
// rendezvous hashing gives it among the live members (holding each with a
// lease, so no two members run one), and the correlator when it holds that
// role's lease.
type Node struct {
	o   Options
	log *slog.Logger

	mu    sync.Mutex
	parts map[int]*partRun
	corr  *corrRunner

	bad     atomic.Int64
	mOwned  prometheus.Gauge
	mCorr   prometheus.Gauge
	mMoves  prometheus.Counter
	mFailed prometheus.Counter
}

type partRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	proc   atomic.Pointer[stream.Processor]
	err    error
}

type corrRunner struct {
	cancel context.CancelFunc
	done   chan struct{}
	run    atomic.Pointer[correlatorRun]
	err    error
}

// New checks o and builds the node.
func New(o Options) (*Node, error) {
	if o.ID == "" || o.Bus == nil || o.Store == nil || o.Partitions < 1 {
		return nil, errors.New("cluster: ID, Bus, Store and Partitions are required")
	}
	if o.Work && o.NewStages == nil {
		return nil, errors.New("cluster: a worker needs NewStages")
	}
	if o.Correlate && o.NewCorrelator == nil {
		return nil, errors.New("cluster: a correlator needs NewCorrelator")
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = bus.DefaultLeaseTTL
	}
	if o.Settle <= 0 {
		o.Settle = o.LeaseTTL / 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stream.Now == nil {
		o.Stream.Now = time.Now
	}
	if o.Stream.CheckpointEvery <= 0 {
		o.Stream.CheckpointEvery = 10 * time.Second
	}
	n := &Node{o: o, log: o.Logger.With("component", "cluster", "member", o.ID), parts: map[int]*partRun{},
		mOwned:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_cluster_partitions_owned", Help: "Events partitions this member runs."}),
		mCorr:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_cluster_correlator", Help: "1 when this member runs the correlator."}),
		mMoves:  prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_cluster_partition_starts_total", Help: "Partitions this member started running (taken over or at start)."}),
		mFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_cluster_failures_total", Help: "Partitions or correlator runs that ended with an error (retried)."}),
	}
	if o.Registerer != nil {
		bad := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_cluster_undecodable_records_total", Help: "Events-topic messages that were not records."},
			func() float64 { return float64(n.bad.Load()) })
		for _, c := range []prometheus.Collector{n.mOwned, n.mCorr, n.mMoves, n.mFailed, bad} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering the cluster's metrics: %w", err)
			}
		}
	}
	return n, nil
}

// Ensure creates the cluster's topics (or checks their partition counts).
func Ensure(ctx context.Context, b bus.Bus, partitions int) error {
	if err := b.Ensure(ctx, bus.Topic{Name: EventsTopic, Partitions: partitions}); err != nil {
		return fmt.Errorf("the events topic: %w", err)
	}
	if err := b.Ensure(ctx, bus.Topic{Name: SignalsTopic, Partitions: 1}); err != nil {
		return fmt.Errorf("the signals topic: %w", err)
	}
	return nil
}

// Run takes part in the cluster until ctx is done, then stops what it runs
// (each with a final checkpoint) and gives its leases up.
func (n *Node) Run(ctx context.Context) error {
	if err := Ensure(ctx, n.o.Bus, n.o.Partitions); err != nil {
		return err
	}
	if n.o.Work {
		n.settle(ctx)
	}
	tick := time.NewTicker(n.o.LeaseTTL / 3)
	defer tick.Stop()
	for {
		if err := n.balance(ctx); err != nil && ctx.Err() == nil {
			n.log.WarnContext(ctx, "taking part in the cluster", "err", err)
		}
		select {
		case <-ctx.Done():
			n.stopAll()
			return nil
		case <-tick.C:
		}
	}
}

// settle announces the node and waits until the membership holds still (see
// Options.Settle).
func (n *Node) settle(ctx context.Context) {
	deadline := time.Now().Add(n.o.LeaseTTL)
	var last []string
	for first := true; time.Now().Before(deadline); first = false {
		if _, err := n.o.Bus.Acquire(ctx, memberPrefix+n.o.ID, n.o.ID); err != nil {
			return // balance reports it
		}
		held, err := n.o.Bus.Leases(ctx, memberPrefix)
		if err != nil {
			return
		}
		members := slices.Sorted(maps.Values(held))
		if !first && slices.Equal(members, last) {
			return
		}
		last = members
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.o.Settle):
		}
	}
}

// Owner returns the member that rendezvous hashing gives partition p among
// members: the one with the highest hash of (member, p). When a member joins
// or leaves, only the partitions it wins or held move.
func Owner(p int, members []string) string {
	best, bestScore := "", uint64(0)
	for _, m := range members {
		s := xxhash.Sum64String(m + "\x00" + strconv.Itoa(p))
		if best == "" || s > bestScore || s == bestScore && m < best {
			best, bestScore = m, s
		}
	}
	return best
}

// balance renews the node's leases and starts and stops partitions and the
// correlator to match the live members.
func (n *Node) balance(ctx context.Context) error {
	if _, err := n.o.Bus.Acquire(ctx, memberPrefix+n.o.ID, n.o.ID); err != nil {
		return fmt.Errorf("renewing membership: %w", err)
	}
	n.reap(ctx)
	if n.o.Work {
		held, err := n.o.Bus.Leases(ctx, memberPrefix)
		if err != nil {
			return fmt.Errorf("listing the members: %w", err)
		}
		var members []string
		for _, owner := range held {
			members = append(members, owner)
		}
		if !slices.Contains(members, n.o.ID) {
			members = append(members, n.o.ID)
		}
		for p := range n.o.Partitions {
			key := partitionKey + strconv.Itoa(p)
			n.mu.Lock()
			run := n.parts[p]
			n.mu.Unlock()
			if Owner(p, members) != n.o.ID {
				if run != nil { // a member joined that wins it: hand it over
					n.stopPart(p, run)
					_ = n.o.Bus.Release(ctx, key, n.o.ID)
				}
				continue
			}
			ok, err := n.o.Bus.Acquire(ctx, key, n.o.ID)
			if err != nil {
				return fmt.Errorf("acquiring partition %d: %w", p, err)
			}
			switch {
			case ok && run == nil:
				n.startPart(ctx, p)
			case !ok && run != nil: // the lease lapsed (a long pause): another may run it now
				n.log.WarnContext(ctx, "lost the lease of a partition: stopping it", "partition", p)
				n.stopPart(p, run)
			}
		}
	}
	if n.o.Correlate {
		ok, err := n.o.Bus.Acquire(ctx, correlatorKey, n.o.ID)
		if err != nil {
			return fmt.Errorf("acquiring the correlator role: %w", err)
		}
		n.mu.Lock()
		cr := n.corr
		n.mu.Unlock()
		switch {
		case ok && cr == nil:
			n.startCorrelator(ctx)
		case !ok && cr != nil:
			n.log.WarnContext(ctx, "lost the correlator role's lease: stopping it")
			n.stopCorrelator(cr)
		}
	}
	return nil
}

// reap forgets partitions and a correlator that ended by themselves (an
// error): the next balance starts them again.
func (n *Node) reap(ctx context.Context) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for p, run := range n.parts {
		select {
		case <-run.done:
			n.mFailed.Inc()
			n.log.ErrorContext(ctx, "a partition stopped; it starts again", "partition", p, "err", run.err)
			delete(n.parts, p)
		default:
		}
	}
	if n.corr != nil {
		select {
		case <-n.corr.done:
			n.mFailed.Inc()
			n.log.ErrorContext(ctx, "the correlator stopped; it starts again", "err", n.corr.err)
			n.corr = nil
		default:
		}
	}
	n.mOwned.Set(float64(len(n.parts)))
}

// fenced saves checkpoints only while the node holds the lease key: a member
// that lost a partition (paused past the lease's life) does not overwrite its
// new owner's checkpoint.
type fenced struct {
	stream.Checkpoints
	bus        bus.Bus
	key, owner string
}

func (f fenced) Save(ctx context.Context, write func(io.Writer) error) error {
	ok, err := f.bus.Acquire(ctx, f.key, f.owner)
	if err != nil {
		return fmt.Errorf("checking the lease %s: %w", f.key, err)
	}
	if !ok {
		return fmt.Errorf("the lease %s is another member's: checkpoint not written", f.key)
	}
	return f.Checkpoints.Save(ctx, write)
}

func (n *Node) startPart(ctx context.Context, p int) {
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	run := &partRun{cancel: cancel, done: make(chan struct{})}
	n.mu.Lock()
	n.parts[p] = run
	n.mOwned.Set(float64(len(n.parts)))
	n.mu.Unlock()
	n.mMoves.Inc()
	n.log.InfoContext(ctx, "running a partition", "partition", p)
	go func() {
		defer close(run.done)
		run.err = n.runPart(pctx, p, run)
	}()
}

func (n *Node) runPart(ctx context.Context, p int, run *partRun) error {
	st, err := n.o.NewStages(p)
	if err != nil {
		return fmt.Errorf("building partition %d's stages: %w", p, err)
	}
	if st.Close != nil {
		defer st.Close()
	}
	so := n.o.Stream
	so.Log = partitionLog{bus: n.o.Bus, partition: p, bad: &n.bad, log: n.log}
	so.Detect, so.Behavior, so.Sigma, so.Store = st.Detect, st.Behavior, st.Sigma, n.o.Store
	so.Suppressed, so.BeforeStep = st.Suppressed, st.BeforeStep
	so.Correlator, so.OnIncidents, so.Registerer = nil, nil, nil
	so.Logger = n.o.Logger.With("partition", p)
	key := strconv.Itoa(p)
	so.Checkpoints = fenced{Checkpoints: stream.StoreCheckpoints{Store: n.o.Store, Key: EventsTopic + "/" + key},
		bus: n.o.Bus, key: partitionKey + key, owner: n.o.ID}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	runID, published := hex.EncodeToString(rnd[:]), 0
	so.Publish = func(ctx context.Context, signals []detect.Signal, wm int64, idle bool) error {
		published++
		b := Batch{Partition: p, Watermark: wm, Idle: idle, Signals: make([]Released, len(signals))}
		for i := range signals {
			b.Signals[i] = Released{Signal: signals[i], Resolved: resolutions(&signals[i], st.Resolve)}
		}
		m, err := EncodeBatch(&b, fmt.Sprintf("p%d-%s-%d", p, runID, published))
		if err != nil {
			return err
		}
		return n.o.Bus.Publish(ctx, SignalsTopic, 0, []bus.Message{m})
	}
	proc, err := stream.New(ctx, so)
	if err != nil {
		return fmt.Errorf("starting partition %d: %w", p, err)
	}
	run.proc.Store(proc)
	return proc.Run(ctx)
}

// resolutions are the resolutions resolve makes of s's hosts and addresses.
func resolutions(s *detect.Signal, resolve func(detect.Entity, time.Time) detect.Entity) []Resolution {
	if resolve == nil {
		return nil
	}
	var out []Resolution
	for _, e := range s.Entities {
		if e.Kind != detect.EntityHost && e.Kind != detect.EntityIP {
			continue
		}
		if to := resolve(e, s.Time); to != e {
			out = append(out, Resolution{From: e, To: to})
		}
	}
	return out
}

// stopPart stops a partition's processor (it writes its final checkpoint).
func (n *Node) stopPart(p int, run *partRun) {
	run.cancel()
	<-run.done
	n.mu.Lock()
	if n.parts[p] == run {
		delete(n.parts, p)
	}
	n.mOwned.Set(float64(len(n.parts)))
	n.mu.Unlock()
	if run.err != nil {
		n.log.Warn("a partition's last checkpoint", "partition", p, "err", run.err)
	}
	n.log.Info("stopped a partition", "partition", p)
}

func (n *Node) startCorrelator(ctx context.Context) {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cr := &corrRunner{cancel: cancel, done: make(chan struct{})}
	n.mu.Lock()
	n.corr = cr
	n.mu.Unlock()
	n.mCorr.Set(1)
	n.log.InfoContext(ctx, "running the correlator")
	go func() {
		defer close(cr.done)
		r, err := newCorrelatorRun(cctx, correlatorOptions{
			Bus: n.o.Bus, Store: n.o.Store, Partitions: n.o.Partitions, NewCorrelator: n.o.NewCorrelator, OnIncidents: n.o.OnIncidents,
			Checkpoints: fenced{Checkpoints: stream.StoreCheckpoints{Store: n.o.Store, Key: CorrelatorCheckpointID},
				bus: n.o.Bus, key: correlatorKey, owner: n.o.ID},
			CheckpointEvery: n.o.Stream.CheckpointEvery, IncidentFlush: 500 * time.Millisecond, ExpireEvery: time.Minute,
			Now: n.o.Stream.Now, Logger: n.log,
		})
		if err != nil {
			cr.err = err
			return
		}
		cr.run.Store(r)
		cr.err = r.run(cctx)
	}()
}

func (n *Node) stopCorrelator(cr *corrRunner) {
	cr.cancel()
	<-cr.done
	n.mu.Lock()
	if n.corr == cr {
		n.corr = nil
	}
	n.mu.Unlock()
	n.mCorr.Set(0)
	if cr.err != nil {
		n.log.Warn("the correlator's last checkpoint", "err", cr.err)
	}
}

// running returns what the node runs now.
func (n *Node) running() (map[int]*partRun, *corrRunner) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.parts), n.corr
}

// stopAll stops everything the node runs and gives its leases up, so the
// others take its partitions over at once rather than after the leases lapse.
func (n *Node) stopAll() {
	ctx := context.Background()
	parts, cr := n.running()
	var wg sync.WaitGroup
	for p, r := range parts {
		wg.Go(func() {
			n.stopPart(p, r)
			_ = n.o.Bus.Release(ctx, partitionKey+strconv.Itoa(p), n.o.ID)
		})
	}
	if cr != nil {
		wg.Go(func() {
			n.stopCorrelator(cr)
			_ = n.o.Bus.Release(ctx, correlatorKey, n.o.ID)
		})
	}
	wg.Wait()
	_ = n.o.Bus.Release(ctx, memberPrefix+n.o.ID, n.o.ID)
}

// PartitionStatus is one running partition.
type PartitionStatus struct {
	Partition int          `json:"partition"`
	Last      uint64       `json:"last"` // last message of the partition
	Stream    stream.Stats `json:"stream"`
}

// Status is what a member runs and how far it is.
type Status struct {
	Member     string            `json:"member"`
	Partitions []PartitionStatus `json:"partitions"`
	Correlator *CorrelatorStats  `json:"correlator,omitempty"`
}

// Status reports the node's partitions and correlator.
func (n *Node) Status(ctx context.Context) Status {
	parts, cr := n.running()
	st := Status{Member: n.o.ID, Partitions: []PartitionStatus{}}
	for p, r := range parts {
		ps := PartitionStatus{Partition: p}
		if proc := r.proc.Load(); proc != nil {
			ps.Stream = proc.Stats()
		}
		ps.Last, _ = n.o.Bus.Last(ctx, EventsTopic, p)
		st.Partitions = append(st.Partitions, ps)
	}
	slices.SortFunc(st.Partitions, func(a, b PartitionStatus) int { return a.Partition - b.Partition })
	if cr != nil {
		if r := cr.run.Load(); r != nil {
			s := r.Stats()
			s.Last, _ = n.o.Bus.Last(ctx, SignalsTopic, 0)
			st.Correlator = &s
		}
	}
	return st
}
