package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior"
	"github.com/vigilsec/vigil/internal/detect/sigma"
	"github.com/vigilsec/vigil/internal/enrich/assets"
	"github.com/vigilsec/vigil/internal/enrich/identity"
	"github.com/vigilsec/vigil/internal/escalate"
	"github.com/vigilsec/vigil/internal/feedback"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/httpin"
	"github.com/vigilsec/vigil/internal/ingest/syslog"
	"github.com/vigilsec/vigil/internal/ingest/tail"
	"github.com/vigilsec/vigil/internal/ingest/wal"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/stream"
	"github.com/vigilsec/vigil/internal/web"
)

const serveHelp = `
Run Vigil as a service: sources append raw records to a write-ahead log in
--data-dir (a record is acknowledged only once it is durable there), the stream
processor runs the same detection stages as hunt over it (event time, a bounded
out-of-order tolerance), and incidents, signals and verdicts are kept in the
embedded store, served by the REST API and the web console.

Sources (each optional; every one needs a token or runs on its own listener):
  --ingest-listen ADDR  HTTP ingest: /ingest/ndjson, Splunk HEC (/services/collector/...)
                        and Elasticsearch _bulk (point Fluent Bit, Vector, Beats,
                        Splunk forwarders at it); ingest tokens: vigil tokens create --scope ingest
  --syslog-udp/--syslog-tcp/--syslog-tls ADDR   syslog (RFC 3164/5424, octet counting)
  --tail GLOB           files to follow (rotation, checkpoints)

The console and API listen on --listen (TLS with --tls-cert/--tls-key). Create
the first user with: vigil users add --data-dir D --name admin --role admin.
/healthz and /readyz need no authentication; /metrics needs a viewer (an API
token works: vigil tokens create --scope api --role viewer).

  vigil serve --data-dir /var/lib/vigil --ingest-listen :8088 --syslog-udp :5514
`

// serveOptions are serve's flags (demo sets them itself).
type serveOptions struct {
	dataDir         string
	listen          string
	tlsCert         string
	tlsKey          string
	ingestListen    string
	syslogUDP       string
	syslogTCP       string
	syslogTLS       string
	tails           []string
	tailFormat      string
	escalatePath    string
	assetsPath      string
	lateness        time.Duration
	checkpoint      time.Duration
	maxBacklog      int64
	logLevel        string
	pprof           string
	checkpointShare float64
	maxOpenSignals  int
	posturePath     string
	sigma           sigmaOptions
	behavior        behaviorOptions
	// scale-out (servecluster.go)
	mode, bus, busPrefix, storeURL, nodeID string
	partitions                             int
	leaseTTL                               time.Duration

	// set by demo and tests
	ready func(s *service) // called once every listener is up
	quiet bool
}

func runServe(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "serve", "", serveHelp+clusterHelp)
	var o serveOptions
	fs.StringVar(&o.dataDir, "data-dir", "", "directory of the store, the write-ahead log and the users (required)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address of the console, the API, /metrics and the health checks")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate (PEM) for --listen, --ingest-listen and --syslog-tls")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key (PEM)")
	fs.StringVar(&o.ingestListen, "ingest-listen", "", "address of the HTTP ingest endpoints (NDJSON, Splunk HEC, Elasticsearch _bulk); empty: off")
	fs.StringVar(&o.syslogUDP, "syslog-udp", "", "syslog over UDP on this address; empty: off")
	fs.StringVar(&o.syslogTCP, "syslog-tcp", "", "syslog over TCP (octet counting or LF framing) on this address; empty: off")
	fs.StringVar(&o.syslogTLS, "syslog-tls", "", "syslog over TLS (RFC 5425) on this address; needs --tls-cert; empty: off")
	fs.Func("tail", "follow files matching this glob (repeatable)", func(v string) error { o.tails = append(o.tails, v); return nil })
	fs.StringVar(&o.tailFormat, "tail-format", "", "decoder of the tailed files (default: detected from content)")
	fs.StringVar(&o.escalatePath, "escalate", "", "escalation policies (YAML): incidents matching a policy are queued and delivered")
	fs.StringVar(&o.assetsPath, "assets", "", "asset inventory (CSV or YAML)")
	fs.StringVar(&o.posturePath, "posture", "", "vigil scan's posture file (default: the data directory's, which vigil scan --data-dir records): incidents on workloads and images with critical pre-production findings rank higher")
	fs.DurationVar(&o.lateness, "lateness", 5*time.Second, "out-of-order tolerance in event time: behavioral models and the correlator wait this long for late records")
	fs.DurationVar(&o.checkpoint, "checkpoint-every", 30*time.Second, "how often the stream's state is checkpointed (a restart replays the log from the last checkpoint)")
	// 50,000, not the correlator's 200,000 of a batch hunt: every open signal is
	// about 1 KB of each checkpoint (every 30 s), and past ~100,000 a 2-core
	// machine at 100k records/s spends more on checkpoints than it can spare
	// (docs/BENCHMARKS.md, eighth session).
	fs.IntVar(&o.maxOpenSignals, "max-open-signals", 50_000, "signals the open incidents may hold together; past it the least recently active incidents are closed early (bounds the correlator's memory and the checkpoint's size)")
	fs.Float64Var(&o.checkpointShare, "checkpoint-share", 0.25, "share of one core a checkpoint may use beside ingest (it takes longer, ingest keeps its cores); 1: as fast as it can")
	fs.Int64Var(&o.maxBacklog, "max-backlog", 1<<30, "bytes of records waiting to be processed before sources push back (HTTP 429/503, TCP stops reading, UDP drops are counted); with --bus, per events partition (what its worker has not checkpointed)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.pprof, "pprof", "", "serve Go's profiler (net/http/pprof) on this loopback address, without authentication: for diagnosis only")
	o.sigma.register(fs)
	o.behavior.register(fs)
	o.registerCluster(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := o.checkCluster(); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if o.dataDir == "" {
		fs.Usage()
		return &ExitError{Code: ExitUsage, Err: errors.New("--data-dir is required")}
	}
	if o.maxOpenSignals < 1000 {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--max-open-signals %d: want at least 1000", o.maxOpenSignals)}
	}
	if !(o.checkpointShare > 0 && o.checkpointShare <= 1) {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--checkpoint-share %v: want more than 0, at most 1", o.checkpointShare)}
	}
	return serve(ctx, env, o)
}

// service is a running serve: what demo and the tests look at.
type service struct {
	httpAddr, ingestAddr string
	store                store.Store
	auth                 *auth.Service
	proc                 *stream.Processor
	wal                  *wal.WAL
}

func serve(ctx context.Context, env Env, o serveOptions) error {
	log, err := newLogger(env.Stderr, o.logLevel)
	if err != nil {
		return err
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return &ExitError{Code: ExitUsage, Err: errors.New("--tls-cert and --tls-key go together")}
	}
	var tlsConf *tls.Config
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("loading the TLS certificate: %w", err)}
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else if o.syslogTLS != "" {
		return &ExitError{Code: ExitUsage, Err: errors.New("--syslog-tls needs --tls-cert and --tls-key")}
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("creating --data-dir: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	st, err := openServeStore(ctx, o, log)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	audit := func(ctx context.Context, actor, action, target string, details any) {
		var raw json.RawMessage
		if details != nil {
			raw, _ = json.Marshal(details)
		}
		if _, err := st.AppendAudit(context.WithoutCancel(ctx), store.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: action, Target: target, Details: raw}); err != nil {
			log.ErrorContext(ctx, "writing the audit log", "err", err)
		}
	}
	authSvc, err := auth.Open(auth.Options{Dir: filepath.Join(o.dataDir, "auth"), Shared: sharedAuth(o.storeURL, st),
		SecureCookies: tlsConf != nil, Audit: audit, Logger: log, Registerer: reg})
	if err != nil {
		return fmt.Errorf("opening the users: %w", err)
	}
	src, err := newStageSource(o, log, env.Stderr)
	if err != nil {
		return err
	}
	// what the business knows of entities: asset criticality, privileged people
	bizContext := businessContext(src.inventory, src.identities)
	// what vigil scan found about the workloads and images
	postureOf, err := postureContext(o.posturePath, o.dataDir)
	if err != nil {
		return err
	}
	var onIncidents func(context.Context, []correlate.Incident)
	var dispatcher *escalate.Dispatcher
	if o.escalatePath != "" && o.mode != modeIngest {
		policies, err := escalate.Load(o.escalatePath)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--escalate: %w", err)}
		}
		eng, err := escalate.NewEngine(escalate.EngineOptions{Store: st, Policies: policies, Criticality: bizContext, Logger: log})
		if err != nil {
			return err
		}
		onIncidents = func(ctx context.Context, updated []correlate.Incident) {
			for _, inc := range updated {
				if _, err := eng.Evaluate(ctx, inc); err != nil {
					log.ErrorContext(ctx, "escalating an incident", "incident", inc.ID, "err", err)
				}
			}
		}
		if dispatcher, err = escalate.NewDispatcher(escalate.DispatcherOptions{Store: st, Policies: policies, Logger: log, Version: Version}); err != nil {
			return err
		}
	}
	newCorrelator := func(fb *liveFeedback, resolve func(detect.Entity, time.Time) detect.Entity) *correlate.Correlator {
		return correlate.New(correlate.Options{
			Context: bizContext, Resolve: resolve,
			Precision: fb.precision, Posture: postureOf, MaxOpenSignals: o.maxOpenSignals,
		})
	}
	streamOpts := stream.Options{Registry: formats.Default(), Lateness: o.lateness, CheckpointEvery: o.checkpoint,
		CheckpointShare: o.checkpointShare, Logger: log}
	var eng *serveEngine
	if o.bus == "" {
		eng, err = localEngine(ctx, o, src, st, log, reg, streamOpts, newCorrelator, onIncidents)
	} else {
		eng, err = clusterEngine(ctx, o, src, st, log, reg, streamOpts, newCorrelator, onIncidents)
	}
	if err != nil {
		return err
	}
	defer eng.close()

	// HTTP: console, API, health, metrics.
	storeName := "sqlite"
	if o.storeURL != "" {
		storeName = "postgres"
	}
	a, err := api.New(api.Options{Store: st, Auth: authSvc, Rules: src.rules, Context: bizContext,
		Version: Version, Logger: log, Registerer: reg, Status: eng.status, Cluster: eng.cluster, StoreName: storeName})
	if err != nil {
		return err
	}
	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "starting\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", authSvc.Require(auth.RoleViewer)(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	authSvc.Routes(mux)
	a.Routes(mux)
	mux.Handle("/", web.Handler())
	srv := &http.Server{Handler: auth.SecureHeaders(mux, tlsConf != nil), ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConf,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--listen: %w", err)}
	}
	svc := &service{httpAddr: ln.Addr().String(), store: st, auth: authSvc, proc: eng.proc, wal: eng.wal}

	g, gctx := errgroup.WithContext(ctx)
	var servers []*http.Server
	serveHTTP := func(s *http.Server, l net.Listener) {
		servers = append(servers, s)
		g.Go(func() error {
			var err error
			if s.TLSConfig != nil {
				err = s.ServeTLS(l, "", "")
			} else {
				err = s.Serve(l)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		})
	}
	serveHTTP(srv, ln)
	if o.ingestListen != "" && eng.appender == nil {
		return &ExitError{Code: ExitUsage, Err: errors.New("--ingest-listen: a worker takes no records (--mode ingest or all does)")}
	}
	if eng.appender == nil && (o.syslogUDP != "" || o.syslogTCP != "" || o.syslogTLS != "" || len(o.tails) > 0) {
		return &ExitError{Code: ExitUsage, Err: errors.New("syslog and tail sources: a worker takes no records (--mode ingest or all does)")}
	}
	if o.ingestListen != "" {
		h, err := httpin.New(httpin.Options{Appender: eng.appender, Tokens: authSvc, Logger: log, Registerer: reg})
		if err != nil {
			return err
		}
		il, err := net.Listen("tcp", o.ingestListen)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--ingest-listen: %w", err)}
		}
		svc.ingestAddr = il.Addr().String()
		serveHTTP(&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConf,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}, il)
	}
	// Sources stop with srcCtx; the processor goes on until they have.
	srcCtx, stopSources := context.WithCancel(gctx)
	defer stopSources()
	var sources sync.WaitGroup
	if o.syslogUDP != "" || o.syslogTCP != "" || o.syslogTLS != "" {
		sl, err := syslog.New(syslog.Options{UDP: o.syslogUDP, TCP: o.syslogTCP, TLS: o.syslogTLS, TLSConfig: tlsConf, Appender: eng.appender, Logger: log, Registerer: reg})
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		sources.Add(1)
		g.Go(func() error { defer sources.Done(); return sl.Run(srcCtx) })
	}
	if len(o.tails) > 0 {
		tl, err := tail.New(tail.Options{Paths: o.tails, Appender: eng.appender, StateFile: filepath.Join(o.dataDir, "tail-state.json"), Format: o.tailFormat, Logger: log, Registerer: reg})
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		sources.Add(1)
		g.Go(func() error { defer sources.Done(); return tl.Run(srcCtx) })
	}
	if dispatcher != nil {
		g.Go(func() error { return dispatcher.Run(gctx) })
	}
	if o.pprof != "" {
		pl, err := listenLoopback(o.pprof)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--pprof: %w", err)}
		}
		pm := http.NewServeMux()
		pm.HandleFunc("/debug/pprof/", pprof.Index)
		pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		pm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		serveHTTP(&http.Server{Handler: pm, ReadHeaderTimeout: 10 * time.Second}, pl)
	}
	procCtx, stopProc := context.WithCancel(context.WithoutCancel(gctx))
	defer stopProc()
	procDone := make(chan error, 1)
	go func() { procDone <- eng.run(procCtx) }()
	// Shutdown: stop accepting, let the sources finish, then the processor
	// writes its checkpoint.
	g.Go(func() error {
		var perr error
		select {
		case <-gctx.Done():
		case perr = <-procDone:
			procDone <- perr
		}
		for _, s := range servers {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
			_ = s.Shutdown(sctx)
			cancel()
		}
		stopSources()
		sources.Wait()
		stopProc()
		err := <-procDone
		if perr != nil {
			return perr
		}
		return err
	})
	ready.Store(true)
	if !o.quiet {
		scheme := "http"
		if tlsConf != nil {
			scheme = "https"
		}
		fmt.Fprintf(env.Stderr, "vigil: serving the console and API on %s://%s", scheme, svc.httpAddr)
		if svc.ingestAddr != "" {
			fmt.Fprintf(env.Stderr, ", ingest on %s", svc.ingestAddr)
		}
		fmt.Fprintln(env.Stderr)
	}
	if o.ready != nil {
		o.ready(svc)
	}
	return g.Wait()
}

// listenLoopback listens on addr, which must be a loopback address (what has
// no authentication must not be reachable from elsewhere).
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s is not a loopback address", addr)
	}
	return net.Listen("tcp", addr)
}

// walLog adapts the WAL to the stream's Log.
type walLog struct{ w *wal.WAL }

func (l walLog) Read(ctx context.Context, from uint64, maxN int, wait time.Duration) ([]stream.Entry, error) {
	es, err := l.w.Read(ctx, from, maxN, wait)
	if errors.Is(err, wal.ErrTruncated) {
		// retention dropped what a restart asked for: go on from the oldest kept
		first := l.w.Committed() + 1
		if first > from {
			es, err = l.w.Read(ctx, first, maxN, wait)
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]stream.Entry, len(es))
	for i, e := range es {
		out[i] = stream.Entry{Seq: e.Seq, Record: e.Record}
	}
	return out, nil
}

func (l walLog) Commit(seq uint64) error { return l.w.Commit(seq) }

func (l walLog) Consumed(seq uint64) { l.w.Consumed(seq) }

// stages are the detection stages serve runs.
type stages struct {
	detect     *detect.Engine
	beh        *behavior.Engine
	sigma      *sigma.Detector
	rules      api.RuleCatalog
	inventory  *assets.Inventory
	identities *identity.Directory // nil without --identities
	resolver   *assets.Resolver
	close      func()
}

// stageSource is what serve loads once (rules, inventory, identities) and
// builds detection stages from: once for serve, once per partition for a
// cluster's worker (each partition with state of its own).
type stageSource struct {
	o          serveOptions
	log        *slog.Logger
	w          io.Writer
	sigma      *sigmaLoad // nil: no Sigma rules
	rules      api.RuleCatalog
	inventory  *assets.Inventory
	identities *identity.Directory
}

func newStageSource(o serveOptions, log *slog.Logger, w io.Writer) (*stageSource, error) {
	src := &stageSource{o: o, log: log, w: w}
	if len(o.sigma.rules) > 0 || o.sigma.builtin {
		so := o.sigma
		so.corrLateness = max(o.lateness, time.Minute)
		l, err := loadSigma(so.rules, so)
		if err != nil {
			return nil, err
		}
		src.sigma = l
		src.rules = newRuleCatalog(l.collection)
	}
	if o.behavior.identities != "" && o.behavior.dir == nil {
		d, err := loadIdentities(o.behavior.identities, w)
		if err != nil {
			return nil, err
		}
		src.o.behavior.dir = d
	}
	src.identities = src.o.behavior.dir
	if o.assetsPath != "" {
		inv, err := loadAssets(o.assetsPath, w)
		if err != nil {
			return nil, err
		}
		src.inventory = inv
	}
	return src, nil
}

// build returns a set of stages with fresh state: Sigma correlations, IP→host
// bindings, behavioral models.
func (src *stageSource) build() (*stages, error) {
	s := &stages{close: func() {}, rules: src.rules, inventory: src.inventory, identities: src.identities}
	var dets []detect.Detector
	if src.sigma != nil {
		d, err := src.sigma.freshDetector()
		if err != nil {
			return nil, err
		}
		s.sigma = d.Ordered()
		dets = append(dets, s.sigma)
	}
	s.resolver = huntResolver(s.inventory)
	dets = append(dets, bindingLearner{s.resolver})
	if src.o.behavior.enabled {
		eng, closeBeh, err := buildBehavior(src.o.behavior, src.log, src.w)
		if err != nil {
			return nil, err
		}
		s.beh, s.close = eng, closeBeh
		dets = append(dets, eng.Collector())
	}
	eng, err := detect.NewEngine(dets, detect.EngineOptions{Logger: src.log})
	if err != nil {
		s.close()
		return nil, err
	}
	s.detect = eng
	return s, nil
}

// ruleCatalog lists the loaded Sigma rules and correlations for the API.
type ruleCatalog []api.RuleInfo

func (c ruleCatalog) Rules() []api.RuleInfo { return c }

func newRuleCatalog(col *sigma.Collection) ruleCatalog {
	var out ruleCatalog
	tags := func(ts []sigma.Tag) []string {
		var s []string
		for _, t := range ts {
			s = append(s, t.String())
		}
		return s
	}
	for _, r := range col.Rules {
		ls := strings.Trim(strings.Join([]string{r.LogSource.Product, r.LogSource.Service, r.LogSource.Category}, "/"), "/")
		out = append(out, api.RuleInfo{ID: sigma.RuleRef(r), Title: r.Title, Level: r.Level, Status: r.Status, Tags: tags(r.Tags), Detector: sigma.DetectorID, Logsource: ls})
	}
	for _, r := range col.Correlations {
		out = append(out, api.RuleInfo{ID: r.ID, Title: r.Title, Level: r.Level, Status: r.Status, Tags: tags(r.Tags), Detector: sigma.DetectorID, Logsource: "correlation:" + string(r.Type)})
	}
	return out
}

// verdictReader reads analysts' verdicts for every partition a node runs: whoever
// asks, the store is polled at most every 3 s and by one caller at a time, and
// a change builds one Book (suppressions, the rules' precision, "this is
// normal") that every partition shares.
type verdictReader struct {
	st      store.Store
	log     *slog.Logger
	book    atomic.Pointer[feedback.Book]
	gen     atomic.Int64 // one more per new book
	mu      sync.Mutex   // held by the caller polling; guards last and checked
	last    string       // newest verdict id and time seen
	checked time.Time
}

func newVerdictReader(st store.Store, log *slog.Logger) *verdictReader {
	return &verdictReader{st: st, log: log}
}

func (v *verdictReader) refresh(ctx context.Context) {
	if !v.mu.TryLock() {
		return // another partition is polling
	}
	defer v.mu.Unlock()
	if time.Since(v.checked) < 3*time.Second {
		return
	}
	v.checked = time.Now()
	page, err := v.st.ListFeedback(ctx, store.FeedbackQuery{Limit: 1})
	if err != nil || len(page.Items) == 0 {
		return
	}
	newest := page.Items[0].ID + page.Items[0].Created.String()
	if newest == v.last {
		return
	}
	all, err := storedVerdicts(ctx, v.st)
	if err != nil {
		v.log.ErrorContext(ctx, "reading analysts' verdicts", "err", err)
		return
	}
	look := verdictLookup(ctx, v.st, nil)
	book := feedback.New(feedback.Prior{})
	for _, fb := range all {
		_ = book.Add(fb, look) // verdicts on targets not stored yet apply once they are
	}
	v.book.Store(book)
	v.gen.Add(1)
	v.last = newest
}

// liveFeedback keeps analysts' verdicts applied to one partition's stages
// while serve runs (from the processor's goroutine, before a step): the
// shared verdicts' suppressions and precision, and "this is normal" passed to
// the partition's behavioral models.
type liveFeedback struct {
	v      *verdictReader
	beh    *behavior.Engine
	gen    int64 // of the book last applied to beh
	marked map[string]bool
}

func newLiveFeedback(v *verdictReader, beh *behavior.Engine) *liveFeedback {
	return &liveFeedback{v: v, beh: beh, marked: map[string]bool{}}
}

func (f *liveFeedback) refresh(ctx context.Context) {
	f.v.refresh(ctx)
	g := f.v.gen.Load()
	if g == f.gen {
		return
	}
	f.gen = g
	if book := f.v.book.Load(); book != nil && f.beh != nil {
		for _, m := range book.Normal() {
			key := m.Detector + "\x00" + m.Entity + "\x00" + m.Attribute + "\x00" + m.Until.String()
			if !f.marked[key] {
				f.beh.MarkNormalFor(m.Detector, m.Entity, m.Attribute, m.Until)
				f.marked[key] = true
			}
		}
	}
}

func (f *liveFeedback) suppressed(s *detect.Signal) bool {
	b := f.v.book.Load()
	if b == nil {
		return false
	}
	_, ok := b.Suppressed(s)
	return ok
}

func (f *liveFeedback) precision(detectorID, ruleID string) float64 {
	b := f.v.book.Load()
	if b == nil {
		return 0
	}
	return b.Precision(detectorID, ruleID)
}

var _ ingest.Appender = (*wal.WAL)(nil)
