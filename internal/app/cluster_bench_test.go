package app

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/bus/jetstream"
	"github.com/vigilsec/vigil/internal/bus/jetstream/natstest"
	"github.com/vigilsec/vigil/internal/cluster"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/store/postgres"
	"github.com/vigilsec/vigil/internal/store/postgres/pgtest"
	"github.com/vigilsec/vigil/internal/stream"
)

// BenchmarkClusterWorkers is the throughput of 1, 2 and 3 workers (in this
// process, each with its own NATS connection and store pool) over one stream
// already on JetStream, from the workers' start: records/s until every
// partition is read and processed, and s-drained until the idle release has
// emptied what the watermark held and the correlator has read every signal.
// records/cpu-s divides by the CPU time this process (the workers, not the
// NATS server or PostgreSQL) used until every record was processed.
// serve's defaults (Sigma off, the behavioral models on), 8 partitions.
//
//	VIGIL_REQUIRE_SERVICES=1 go test ./internal/app -run '^$' -bench ClusterWorkers -benchtime 1x
func BenchmarkClusterWorkers(b *testing.B) {
	natsURL := natstest.URL(b)
	users, days := 120, 5
	if testing.Short() {
		users, days = 30, 4
	}
	recs, _ := simRecords(b, users, days)
	const partitions = 8
	for _, workers := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				pgURL, schema := pgtest.Schema(b)
				prefix := natstest.Prefix(b, natsURL)
				ctx := b.Context()
				pub, err := jetstream.Open(ctx, jetstream.Options{URL: natsURL, Prefix: prefix})
				if err != nil {
					b.Fatal(err)
				}
				if err := cluster.Ensure(ctx, pub, partitions); err != nil {
					b.Fatal(err)
				}
				app := &cluster.Appender{Bus: pub, Keyer: cluster.NewKeyer(formats.Default(), decode.Limits{}), Partitions: partitions}
				batch := make([]ingest.Record, 0, 1000)
				for i, r := range recs {
					batch = append(batch, r.Record)
					if len(batch) == cap(batch) || i == len(recs)-1 {
						if err := app.Append(ctx, batch); err != nil {
							b.Fatal(err)
						}
						batch = batch[:0]
					}
				}
				_ = pub.Close()
				nodes := make([]*cluster.Node, workers)
				var wg sync.WaitGroup
				runCtx, stop := context.WithCancel(ctx)
				for i := range nodes {
					nodes[i] = benchNode(b, runCtx, fmt.Sprintf("w%d", i), natsURL, prefix, pgURL, schema, partitions)
				}
				b.StartTimer()
				start, cpu0 := time.Now(), cputime.Process()
				var cpu time.Duration // the workers' process's CPU time until then
				for _, n := range nodes {
					wg.Go(func() { _ = n.Run(runCtx) })
				}
				var took time.Duration // until every record is processed
				for {
					read, done := clusterDone(runCtx, nodes, partitions, int64(len(recs)))
					if read && took == 0 {
						took, cpu = time.Since(start), cputime.Process()-cpu0
					}
					if done {
						break
					}
					if time.Since(start) > benchCap {
						for _, n := range nodes {
							s := n.Status(ctx)
							b.Logf("%+v", s)
							if s.Correlator != nil {
								b.Logf("correlator %+v", *s.Correlator)
							}
						}
						b.Fatalf("the workers did not finish in %s", benchCap)
					}
					time.Sleep(20 * time.Millisecond)
				}
				drained := time.Since(start)
				b.StopTimer()
				stop()
				wg.Wait()
				b.ReportMetric(float64(len(recs))/took.Seconds(), "records/s")
				b.ReportMetric(drained.Seconds(), "s-drained")
				if cpu > 0 {
					b.ReportMetric(float64(len(recs))/cpu.Seconds(), "records/cpu-s")
				}
				b.StartTimer()
			}
		})
	}
}

// clusterDone reports read: every partition read to its end with its events
// through the detectors and the models (records/s is taken there), and done:
// besides, every partition idle (serve's IdleRelease, 2 s without records,
// releases what the watermark held) and the correlator at the end of the
// signals with none pending.
var benchCap = 60 * time.Second

func clusterDone(ctx context.Context, nodes []*cluster.Node, partitions int, records int64) (read, done bool) {
	ended, idle, pos, corr := 0, 0, int64(0), false
	for _, n := range nodes {
		s := n.Status(ctx)
		for _, p := range s.Partitions {
			pos += int64(p.Stream.Position)
			if p.Stream.Position == p.Last && !p.Stream.ModelsRunning {
				ended++
				if p.Stream.Idle {
					idle++
				}
			}
		}
		if c := s.Correlator; c != nil {
			corr = c.Position == c.Last && c.Pending == 0 && c.Idle == partitions
		}
	}
	read = ended == partitions && pos >= records
	return read, read && idle == partitions && corr
}

func benchNode(b *testing.B, ctx context.Context, id, natsURL, prefix, pgURL, schema string, partitions int) *cluster.Node {
	b.Helper()
	var o serveOptions
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o.sigma.register(fs)
	o.behavior.register(fs)
	if err := fs.Parse(nil); err != nil {
		b.Fatal(err)
	}
	o.lateness = 5 * time.Second
	bu, err := jetstream.Open(ctx, jetstream.Options{URL: natsURL, Prefix: prefix, LeaseTTL: 3 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bu.Close() })
	st, err := postgres.Open(ctx, postgres.Options{URL: pgURL, Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	src, err := newStageSource(o, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	no := workerOptions(id, bu, st, partitions, src, newLiveFeedback(newVerdictReader(st, log), nil),
		func(_ *liveFeedback, resolve func(detect.Entity, time.Time) detect.Entity) *correlate.Correlator {
			return correlate.New(correlate.Options{MaxOpenSignals: 50_000, Resolve: resolve})
		}, log)
	no.Stream = stream.Options{Registry: formats.Default(), Lateness: o.lateness, CheckpointEvery: 10 * time.Second, CheckpointShare: 0.25}
	no.LeaseTTL = 3 * time.Second
	n, err := cluster.New(no)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
