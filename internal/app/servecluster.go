package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/bus/jetstream"
	"github.com/vigilsec/vigil/internal/cluster"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/wal"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/postgres"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/stream"
)

// serve's modes.
const (
	modeAll    = "all"    // sources, detection and correlation in one process
	modeIngest = "ingest" // sources only: records go to the bus
	modeWorker = "worker" // detection of the partitions it owns, and the correlator when it holds the role
)

const clusterHelp = `
Scale-out (docs/SCALING.md): with --bus, records go to a partitioned bus
instead of the write-ahead log, and the work is shared among processes:
  --mode ingest   sources only: each record is decoded for its entity key and
                  published to its partition (acknowledged once the bus has it)
  --mode worker   runs the partitions rendezvous hashing gives it among the
                  live workers, and the correlator when it holds that role
  --mode all      both, in one process
Every node serves the console and API from the shared store (--store
postgres://...), which also holds the users and tokens (vigil users and vigil
tokens with --store). vigil cluster status shows the members, who runs each
partition and the backlog.

  vigil serve --mode ingest --bus nats://nats:4222 --store postgres://pg/vigil --data-dir /var/lib/vigil --ingest-listen :8088
  vigil serve --mode worker --bus nats://nats:4222 --store postgres://pg/vigil --data-dir /var/lib/vigil
`

// clusterFlags registers serve's scale-out flags.
func (o *serveOptions) registerCluster(fs *flag.FlagSet) {
	fs.StringVar(&o.mode, "mode", modeAll, "what this process runs: all, ingest (sources to the bus) or worker (detection and correlation from the bus); ingest and worker need --bus")
	fs.StringVar(&o.bus, "bus", "", "the bus between ingest nodes and workers: nats://host:4222 (NATS JetStream), or memory (one process, not durable: for tests); empty: the local write-ahead log")
	fs.StringVar(&o.busPrefix, "bus-prefix", "VIGIL", "prefix of the bus's streams and buckets: clusters sharing a NATS server use different ones")
	fs.StringVar(&o.storeURL, "store", "", "the store: empty for the embedded one in --data-dir, or postgres://user@host/db (shared by a cluster's nodes; the password may come from PGPASSWORD)")
	fs.IntVar(&o.partitions, "partitions", 16, "events partitions (with --bus): fixed for the cluster's life; behavioral baselines are per partition, and more partitions than workers let workers be added later")
	fs.StringVar(&o.nodeID, "node-id", "", "this member's name in the cluster (default: one made and kept in --data-dir/node-id)")
	fs.DurationVar(&o.leaseTTL, "lease-ttl", bus.DefaultLeaseTTL, "how long a dead worker's partitions wait before another takes them over")
}

func (o *serveOptions) checkCluster() error {
	switch o.mode {
	case modeAll, modeIngest, modeWorker:
	default:
		return fmt.Errorf("--mode %q: want all, ingest or worker", o.mode)
	}
	if o.bus == "" && o.mode != modeAll {
		return fmt.Errorf("--mode %s needs --bus", o.mode)
	}
	if o.bus == "memory" && o.mode != modeAll {
		return errors.New("--bus memory is within one process: only with --mode all")
	}
	if o.bus != "" && o.bus != "memory" && !strings.HasPrefix(o.bus, "nats://") && !strings.HasPrefix(o.bus, "tls://") {
		return fmt.Errorf("--bus %q: want nats://host:port, tls://host:port or memory", o.bus)
	}
	if o.mode != modeAll && o.storeURL == "" {
		return fmt.Errorf("--mode %s: a cluster's nodes share the store: give --store with a postgres:// URL", o.mode)
	}
	if err := checkStoreURL(o.storeURL); err != nil {
		return err
	}
	if o.partitions < 1 || o.partitions > 4096 {
		return fmt.Errorf("--partitions %d: want 1 to 4096", o.partitions)
	}
	if o.leaseTTL < time.Second {
		return fmt.Errorf("--lease-ttl %s: want at least 1s", o.leaseTTL)
	}
	if o.nodeID != "" && !nodeIDPattern.MatchString(o.nodeID) {
		return fmt.Errorf("--node-id %q: want letters, digits, '.', '_' and '-', at most 64", o.nodeID)
	}
	return nil
}

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// checkStoreURL checks --store: empty, or a PostgreSQL URL.
func checkStoreURL(u string) error {
	if u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return errors.New("--store: want a postgres:// URL")
	}
	return nil
}

// openServeStore opens --store, or the embedded store in --data-dir.
func openServeStore(ctx context.Context, o serveOptions, log *slog.Logger) (store.Store, error) {
	if o.storeURL == "" {
		st, err := sqlite.Open(ctx, sqlite.Options{Dir: o.dataDir})
		if err != nil {
			return nil, fmt.Errorf("opening store: %w", err)
		}
		return st, nil
	}
	st, err := postgres.Open(ctx, postgres.Options{URL: o.storeURL, Logger: log})
	if err != nil {
		return nil, err // names no password
	}
	return st, nil
}

// nodeID is --node-id, or the one kept in the data directory (made once).
func nodeID(o serveOptions) (string, error) {
	if o.nodeID != "" {
		return o.nodeID, nil
	}
	path := filepath.Join(o.dataDir, "node-id")
	b, err := os.ReadFile(path) // #nosec G304 -- within --data-dir
	if err == nil {
		id := strings.TrimSpace(string(b))
		if !nodeIDPattern.MatchString(id) {
			return "", fmt.Errorf("%s: %q is not a node id", path, id)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading the node id: %w", err)
	}
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r < 128 && nodeIDPattern.MatchString(string(r)) {
			return r
		}
		return -1
	}, host)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := strings.TrimPrefix(fmt.Sprintf("%.40s-%s", host, hex.EncodeToString(rnd[:])), "-")
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keeping the node id: %w", err)
	}
	return id, nil
}

// serveEngine is what turns records into incidents in a serve: the local
// write-ahead log and processor, or a cluster node.
type serveEngine struct {
	appender ingest.Appender // nil: this process takes no records
	run      func(context.Context) error
	status   func() any
	cluster  func(context.Context) (any, error) // the cluster's overview; nil: not in one
	close    func()
	proc     *stream.Processor // local only
	wal      *wal.WAL          // local only
}

type correlatorFactory func(fb *liveFeedback, resolve func(detect.Entity, time.Time) detect.Entity) *correlate.Correlator

// localEngine is serve on one machine: sources append to the write-ahead log,
// one processor runs every stage over it.
func localEngine(ctx context.Context, o serveOptions, src *stageSource, st store.Store, log *slog.Logger, reg prometheus.Registerer,
	so stream.Options, newCorrelator correlatorFactory, onIncidents func(context.Context, []correlate.Incident)) (*serveEngine, error) {
	w, err := wal.Open(wal.Options{Dir: filepath.Join(o.dataDir, "wal"), MaxBacklog: o.maxBacklog, Logger: log, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("opening the write-ahead log: %w", err)
	}
	stg, err := src.build()
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	closeAll := func() { _ = w.Close(); stg.close() }
	fb := newLiveFeedback(newVerdictReader(st, log), stg.beh)
	so.Log, so.Detect, so.Behavior, so.Sigma = walLog{w}, stg.detect, stg.beh, stg.sigma
	so.Correlator = newCorrelator(fb, entityResolver(stg.resolver, stg.identities))
	so.Store, so.Suppressed, so.OnIncidents, so.BeforeStep, so.Registerer = st, fb.suppressed, onIncidents, fb.refresh, reg
	// beside the log it points into; a data directory from before the file
	// has its checkpoint in the store
	so.Checkpoints = stream.FileCheckpoints{Path: filepath.Join(o.dataDir, "stream.checkpoint"), Fallback: stream.StoreCheckpoints{Store: st}}
	proc, err := stream.New(ctx, so)
	if err != nil {
		closeAll()
		return nil, err
	}
	return &serveEngine{appender: w, run: proc.Run, proc: proc, wal: w, close: closeAll, status: func() any {
		return map[string]any{"stream": proc.Stats(), "wal": map[string]any{"last": w.Last(), "committed": w.Committed(), "backlog_bytes": w.Backlog()}}
	}}, nil
}

// overviewCache is GET /api/v1/cluster's reader: an overview costs two bus
// requests per partition, so one is read at most every 2 s whoever asks.
func overviewCache(b bus.Bus, partitions int) func(context.Context) (any, error) {
	var (
		mu   sync.Mutex
		last cluster.Overview
		at   time.Time
	)
	return func(ctx context.Context) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		if !at.IsZero() && time.Since(at) < 2*time.Second {
			return last, nil
		}
		o, err := cluster.Describe(ctx, b, partitions)
		if err != nil {
			return nil, err
		}
		last, at = o, time.Now()
		return o, nil
	}
}

// openBus opens --bus.
func openBus(ctx context.Context, o serveOptions, log *slog.Logger) (bus.Bus, error) {
	if o.bus == "memory" {
		return bus.NewMemory(bus.MemoryOptions{LeaseTTL: o.leaseTTL}), nil
	}
	b, err := jetstream.Open(ctx, jetstream.Options{URL: o.bus, Prefix: o.busPrefix, LeaseTTL: o.leaseTTL, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--bus: %w", err)
	}
	return b, nil
}

// workerOptions are a worker's node options: each partition's stages built
// fresh from src, with live feedback; the correlator from newCorrelator, each
// signal's resolutions (its partition's bindings) before the static ones
// (inventory, identities). The caller sets Stream, OnIncidents, LeaseTTL and
// Registerer.
func workerOptions(id string, b bus.Bus, st store.Store, partitions int, src *stageSource, corrFB *liveFeedback,
	newCorrelator correlatorFactory, log *slog.Logger) cluster.Options {
	static := entityResolver(huntResolver(src.inventory), src.identities)
	return cluster.Options{
		ID: id, Bus: b, Store: st, Partitions: partitions, Work: true, Correlate: true, Logger: log,
		NewStages: func(int) (*cluster.Stages, error) {
			stg, err := src.build()
			if err != nil {
				return nil, err
			}
			fb := newLiveFeedback(corrFB.v, stg.beh) // the node's partitions share one reader of the verdicts
			return &cluster.Stages{Detect: stg.detect, Behavior: stg.beh, Sigma: stg.sigma,
				Resolve:    entityResolver(stg.resolver, stg.identities),
				Suppressed: fb.suppressed, BeforeStep: fb.refresh, Close: stg.close}, nil
		},
		NewCorrelator: func(override func(detect.Entity) (detect.Entity, bool)) *correlate.Correlator {
			return newCorrelator(corrFB, func(e detect.Entity, t time.Time) detect.Entity {
				if to, ok := override(e); ok {
					return to
				}
				return static(e, t)
			})
		},
	}
}

// clusterEngine is serve as a member of a cluster (package cluster).
func clusterEngine(ctx context.Context, o serveOptions, src *stageSource, st store.Store, log *slog.Logger, reg prometheus.Registerer,
	so stream.Options, newCorrelator correlatorFactory, onIncidents func(context.Context, []correlate.Incident)) (*serveEngine, error) {
	b, err := openBus(ctx, o, log)
	if err != nil {
		return nil, err
	}
	if err := cluster.Ensure(ctx, b, o.partitions); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("--partitions %d: %w", o.partitions, err)
	}
	id, err := nodeID(o)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	eng := &serveEngine{close: func() { _ = b.Close() }, cluster: overviewCache(b, o.partitions)}
	if o.mode != modeWorker {
		app := &cluster.Appender{Bus: b, Keyer: cluster.NewKeyer(formats.Default(), decode.Limits{}), Partitions: o.partitions, MaxBacklog: o.maxBacklog}
		if reg != nil {
			for _, c := range app.Collectors() {
				if err := reg.Register(c); err != nil {
					_ = b.Close()
					return nil, fmt.Errorf("registering the appender's metrics: %w", err)
				}
			}
		}
		eng.appender = app
	}
	if o.mode == modeIngest {
		eng.run = func(ctx context.Context) error { <-ctx.Done(); return nil }
		eng.status = func() any { return map[string]any{"cluster": map[string]any{"member": id, "mode": o.mode}} }
		return eng, nil
	}
	// The correlator's feedback: the rules' precision (suppressions and "this
	// is normal" are the partitions').
	corrFB := newLiveFeedback(newVerdictReader(st, log), nil)
	no := workerOptions(id, b, st, o.partitions, src, corrFB, newCorrelator, log)
	no.Stream, no.OnIncidents, no.LeaseTTL, no.Registerer = so, onIncidents, o.leaseTTL, reg
	node, err := cluster.New(no)
	if err != nil {
		eng.close()
		return nil, err
	}
	eng.run = func(ctx context.Context) error {
		go func() {
			t := time.NewTicker(3 * time.Second)
			defer t.Stop()
			for {
				corrFB.refresh(ctx)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
		return node.Run(ctx)
	}
	eng.status = func() any {
		return map[string]any{"cluster": node.Status(context.Background())}
	}
	return eng, nil
}
