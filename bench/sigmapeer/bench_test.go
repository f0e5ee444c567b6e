package sigmapeer

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"

	sigmago "github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"

	"github.com/vigilsec/vigil/internal/detect/sigma"
)

// sampleStride picks the events sigma-go is timed on: every 32nd event of the EVTX
// attack samples (258 of 8,255), since it needs seconds per pass over them where
// Vigil needs milliseconds. Vigil is timed on the same sample and on everything.
const sampleStride = 32

type benchData struct {
	r      *rules
	vigil  *sigma.Ruleset // compiled from the rules both engines load
	all    []*sample      // every attack-sample event
	sysSec []*sample      // the Sysmon and Security ones
	sysmon []*sample      // the Sysmon ones
	secur  []*sample      // the Security ones
	sample []*sample      // every sampleStride-th event
	peers  []*peerRule    // the rules both engines load, as sigma-go has them
}

var (
	benchOnce sync.Once
	benchVal  *benchData
)

// benchSetup loads and compiles everything before any timing.
func benchSetup(b *testing.B) *benchData {
	b.Helper()
	r := loadRules(b)
	c := loadCorpus(b)
	benchOnce.Do(func() {
		d := &benchData{r: r, all: c.attack, peers: peersOf(r, r.both)}
		for i, s := range c.attack {
			switch ch, _ := chanAcc.String(s.e); ch {
			case "Microsoft-Windows-Sysmon/Operational":
				d.sysSec, d.sysmon = append(d.sysSec, s), append(d.sysmon, s)
			case "Security":
				d.sysSec, d.secur = append(d.sysSec, s), append(d.secur, s)
			}
			if i%sampleStride == 0 {
				d.sample = append(d.sample, s)
			}
		}
		both := map[string]bool{}
		for _, id := range r.both {
			both[id] = true
		}
		coll := &sigma.Collection{}
		for id, rule := range r.vigilIDs {
			if both[id] {
				coll.Rules = append(coll.Rules, rule)
			}
		}
		vs, err := sigma.Compile(coll, sigma.Options{Mapping: r.mapping})
		if err != nil {
			b.Fatal(err)
		}
		d.vigil = vs
		benchVal = d
	})
	if benchVal == nil {
		b.Fatal("benchmark setup failed")
	}
	return benchVal
}

// BenchmarkMatch times both engines on the same events with the same rules (the
// SigmaHQ Windows rules both load), one core:
//
//	cd bench && go test -run '^$' -bench Match -benchmem -cpu 1 ./sigmapeer/
//
// vigil: Vigil's matcher (its own logsource dispatch). sigma-go: every rule on
// every event, sigma-go's default without a configuration. sigma-go-bundle:
// evaluator.ForRules, sigma-go's multi-rule API (Aho-Corasick over contains
// values). sigma-go-prefilter: each rule only on the events of its logsource,
// routed by Channel and EventID through Vigil's mapping (the same routing Vigil
// does), with the variant's field mapping.
func BenchmarkMatch(b *testing.B) {
	d := benchSetup(b)
	b.Run("vigil/all", func(b *testing.B) { benchVigil(b, d, d.all) })
	b.Run("vigil/sysmon+security", func(b *testing.B) { benchVigil(b, d, d.sysSec) })
	b.Run("vigil/sysmon", func(b *testing.B) { benchVigil(b, d, d.sysmon) })
	b.Run("vigil/security", func(b *testing.B) { benchVigil(b, d, d.secur) })
	b.Run("vigil/sample", func(b *testing.B) { benchVigil(b, d, d.sample) })
	b.Run("sigma-go/sample", func(b *testing.B) { benchPeerPlain(b, d, d.sample) })
	b.Run("sigma-go-bundle/sample", func(b *testing.B) { benchPeerBundle(b, d, d.sample) })
	b.Run("sigma-go-prefilter/sample", func(b *testing.B) { benchPeerRouted(b, d, d.sample) })
}

func reportBench(b *testing.B, events, rules, fires int) {
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(rules), "rules")
	b.ReportMetric(float64(fires)/float64(b.N), "fires/op")
}

func benchVigil(b *testing.B, d *benchData, events []*sample) {
	m := d.vigil.NewMatcher()
	fires := 0
	fn := func(*sigma.Hit) { fires++ }
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range events {
			m.Match(s.e, fn)
		}
	}
	reportBench(b, len(events)*b.N, d.vigil.Loaded, fires)
}

func benchPeerPlain(b *testing.B, d *benchData, events []*sample) {
	ctx := context.Background()
	fires := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range events {
			for _, pr := range d.peers {
				if res, err := pr.plain.Matches(ctx, s.peer); err == nil && res.Match {
					fires++
				}
			}
		}
	}
	reportBench(b, len(events)*b.N, len(d.peers), fires)
}

// benchPeerBundle gives the bundle fresh copies of the events' strings on every
// pass, untimed: it caches results by the address of a value's bytes, so the same
// strings again would be answered from its cache, which a stream of new events
// never is.
func benchPeerBundle(b *testing.B, d *benchData, events []*sample) {
	var rules []sigmago.Rule
	for _, pr := range d.peers {
		rules = append(rules, pr.rule)
	}
	bundle := evaluator.ForRules(rules)
	ctx := context.Background()
	fires := 0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fresh := make([]map[string]any, len(events))
		for k, s := range events {
			fresh[k] = cloneEvent(s.peer)
		}
		b.StartTimer()
		for _, ev := range fresh {
			results, _ := bundle.Matches(ctx, ev)
			for _, res := range results {
				if res.Match {
					fires++
				}
			}
		}
	}
	reportBench(b, len(events)*b.N, len(rules), fires)
}

func cloneEvent(ev map[string]any) map[string]any {
	out := maps.Clone(ev)
	for k, v := range out {
		switch x := v.(type) {
		case string:
			out[k] = strings.Clone(x)
		case []any:
			y := make([]any, len(x))
			for i, z := range x {
				y[i] = strings.Clone(z.(string))
			}
			out[k] = y
		}
	}
	return out
}

func benchPeerRouted(b *testing.B, d *benchData, events []*sample) {
	rt := newRouter(d.peers)
	ctx := context.Background()
	fires := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range events {
			rt.routes(s.e, func(x route) {
				if fired, _ := peerMatch(ctx, x, s); fired {
					fires++
				}
			})
		}
	}
	reportBench(b, len(events)*b.N, len(d.peers), fires)
}
