package dnsanomaly

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var syllables = []string{"ka", "ro", "net", "data", "cloud", "shop", "news", "mail", "tech", "soft", "line", "port",
	"star", "blue", "green", "sun", "moon", "work", "home", "team", "box", "hub", "link", "web", "go", "app",
	"press", "bank", "trade", "city", "park", "land", "wave", "map", "book", "play", "store", "care", "health", "zone"}

var tlds = []string{"com", "net", "org", "io", "de"}

var subs = []string{"www", "mail", "api", "cdn", "login", "static", "img", "app", "auth", "portal"}

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// benignOrg is a deterministic synthetic organisation: clients with Zipf-chosen
// favourite domains of word-like names, and a CDN whose host names look random
// but that most clients use every hour.
type benignOrg struct {
	clients []string
	doms    []string
	favs    [][]int
}

func newBenignOrg(rng *rand.Rand, nClients, nDoms int) *benignOrg {
	o := &benignOrg{}
	seen := map[string]bool{}
	for len(o.doms) < nDoms {
		l := syllables[rng.IntN(len(syllables))] + syllables[rng.IntN(len(syllables))]
		if rng.IntN(3) == 0 {
			l += syllables[rng.IntN(len(syllables))]
		}
		d := l + "." + tlds[rng.IntN(len(tlds))]
		if !seen[d] {
			seen[d] = true
			o.doms = append(o.doms, d)
		}
	}
	z := rand.NewZipf(rng, 1.2, 1, uint64(nDoms-1))
	for i := range nClients {
		o.clients = append(o.clients, fmt.Sprintf("10.0.0.%d", i+1))
		var f []int
		for range 25 {
			f = append(f, int(z.Uint64()))
		}
		o.favs = append(o.favs, f)
	}
	return o
}

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

func randStr(rng *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// hour appends one working hour of benign queries.
func (o *benignOrg) hour(rng *rand.Rand, at time.Time, qs []Query) []Query {
	for ci, c := range o.clients {
		for range 40 {
			d := o.doms[o.favs[ci][rng.IntN(len(o.favs[ci]))]]
			name := d
			if rng.IntN(2) == 0 {
				name = subs[rng.IntN(len(subs))] + "." + d
			}
			qt := "A"
			if rng.IntN(4) == 0 {
				qt = "AAAA"
			}
			qs = append(qs, Query{Time: at.Add(time.Duration(rng.Int64N(int64(time.Hour)))), Client: c, Name: name, QType: qt, RCode: "NOERROR", EventID: fmt.Sprintf("e%d", len(qs))})
		}
		if ci%4 != 3 { // three clients in four stream video
			for range 15 {
				name := fmt.Sprintf("r%d---sn-%s.googlevideo.com", 1+rng.IntN(9), randStr(rng, alnum, 8))
				qs = append(qs, Query{Time: at.Add(time.Duration(rng.Int64N(int64(time.Hour)))), Client: c, Name: name, QType: "A", RCode: "NOERROR", EventID: fmt.Sprintf("e%d", len(qs))})
			}
		}
	}
	return qs
}

// days returns n days of working hours (08-18) from start, sorted by time.
func (o *benignOrg) days(rng *rand.Rand, start time.Time, n int) []Query {
	var qs []Query
	for d := range n {
		for h := 8; h < 18; h++ {
			qs = o.hour(rng, start.Add(time.Duration(d*24+h)*time.Hour), qs)
		}
	}
	sortQueries(qs)
	return qs
}

func sortQueries(qs []Query) {
	slices.SortStableFunc(qs, func(a, b Query) int { return a.Time.Compare(b.Time) })
}

// tunnel returns n queries from client to unique encoded subdomains of domain
// over one hour from at.
func tunnel(rng *rand.Rand, at time.Time, client, domain, enc string, n int) []Query {
	var qs []Query
	for i := range n {
		raw := make([]byte, 30+rng.IntN(10))
		for j := range raw {
			raw[j] = byte(rng.IntN(256))
		}
		var label string
		switch enc {
		case "hex":
			label = hex.EncodeToString(raw)[:60]
		case "base64":
			label = strings.ToLower(strings.NewReplacer("+", "-", "/", "_", "=", "").Replace(base64.StdEncoding.EncodeToString(raw)))
		}
		name := label[:len(label)/2] + "." + label[len(label)/2:] + "." + domain
		qt := "TXT"
		if i%3 == 0 {
			qt = "CNAME"
		}
		qs = append(qs, Query{Time: at.Add(time.Duration(i) * time.Hour / time.Duration(n)), Client: client, Name: name, QType: qt, RCode: "NOERROR", EventID: fmt.Sprintf("%s-%d", enc, i)})
	}
	return qs
}

const consonants = "bcdfghjklmnpqrstvwxz"

// dga returns a bot's burst of n random-letter names, most of them NXDOMAIN.
func dga(rng *rand.Rand, at time.Time, client string, n int) []Query {
	var qs []Query
	for i := range n {
		name := randStr(rng, consonants+"aeiou"+consonants, 8+rng.IntN(6)) + "." + tlds[rng.IntN(3)]
		rc := "NXDOMAIN"
		if i%10 == 9 {
			rc = "NOERROR"
		}
		qs = append(qs, Query{Time: at.Add(time.Duration(i) * 20 * time.Second), Client: client, Name: name, QType: "A", RCode: rc, EventID: fmt.Sprintf("dga-%d", i)})
	}
	return qs
}

func run(t testing.TB, m *Model, qs []Query) []Finding {
	t.Helper()
	var fs []Finding
	for _, q := range qs {
		fs = m.Observe(q, fs)
	}
	return fs
}

func newModel(t testing.TB, cfg Config) *Model {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// synthetic returns four benign warm-up days, and a fifth day with the attack
// merged in.
// The benign streams are generated once per seed (tests only read them).
var (
	benignMu    sync.Mutex
	benignCache = map[uint64][2][]Query{}
)

func synthetic(seed uint64, attack func(rng *rand.Rand, day time.Time) []Query) (warm, day5 []Query) {
	day := t0.Add(4 * 24 * time.Hour)
	benignMu.Lock()
	c, ok := benignCache[seed]
	if !ok {
		rng := rand.New(rand.NewPCG(seed, 1))
		o := newBenignOrg(rng, 40, 300)
		c = [2][]Query{slices.Clip(o.days(rng, t0, 4)), o.days(rng, day, 1)}
		benignCache[seed] = c
	}
	benignMu.Unlock()
	warm, day5 = c[0], slices.Clone(c[1])
	if attack != nil {
		day5 = append(day5, attack(rand.New(rand.NewPCG(seed, 2)), day.Add(10*time.Hour))...)
		sortQueries(day5)
	}
	return warm, day5
}

func TestSynthetic(t *testing.T) {
	cases := []struct {
		name   string
		attack func(rng *rand.Rand, at time.Time) []Query
		kind   FindingKind
		client string
		domain string
	}{
		{"benign only", nil, "", "", ""},
		{"hex tunnel", func(rng *rand.Rand, at time.Time) []Query {
			return tunnel(rng, at, "10.0.0.7", "t1.exfil-example.com", "hex", 800)
		}, FindingTunnel, "10.0.0.7", "exfil-example.com"},
		{"base64 tunnel", func(rng *rand.Rand, at time.Time) []Query {
			return tunnel(rng, at, "10.0.0.8", "d.tunnel-cdn.net", "base64", 400)
		}, FindingTunnel, "10.0.0.8", "tunnel-cdn.net"},
		{"dga bot", func(rng *rand.Rand, at time.Time) []Query {
			return append(dga(rng, at, "10.0.0.9", 40), Query{Time: at, Client: "10.0.0.9", Name: "xjwqkzpt.com", QType: "A", RCode: "NXDOMAIN", EventID: "x"})
		}, FindingDGA, "10.0.0.9", ""},
		{"tunnel spread over ten hosts", func(rng *rand.Rand, at time.Time) []Query {
			// each host stays under MinDistinct; together they are a tunnel
			var qs []Query
			for i := range 10 {
				for _, q := range tunnel(rng, at.Add(time.Duration(i)*time.Minute), fmt.Sprintf("10.0.0.%d", 20+i), "x.spread-exfil.net", "hex", 20) {
					q.Time = q.Time.Add(-time.Duration(i) * time.Minute / 2)
					qs = append(qs, q)
				}
			}
			return qs
		}, FindingTunnel, "", "spread-exfil.net"},
		{"cloud front-ends", func(rng *rand.Rand, at time.Time) []Query {
			// platform-assigned random names under private-registry suffixes
			var qs []Query
			for i := range 12 {
				for _, sfx := range []string{".cloudfront.net", ".azurewebsites.net", ".herokuapp.com"} {
					qs = append(qs, Query{Time: at.Add(time.Duration(i) * time.Minute), Client: "10.0.0.12", Name: randStr(rng, alnum, 14) + sfx, QType: "A", RCode: "NXDOMAIN", EventID: "cf"})
				}
			}
			return qs
		}, "", "", ""},
		{"heavy video client", func(rng *rand.Rand, at time.Time) []Query {
			var qs []Query
			for i := range 60 {
				qs = append(qs, Query{Time: at.Add(time.Duration(i) * time.Minute), Client: "10.0.0.10", Name: fmt.Sprintf("r%d---sn-%s.googlevideo.com", 1+i%9, randStr(rng, alnum, 8)), QType: "A", EventID: "v"})
			}
			return qs
		}, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			warm, day5 := synthetic(11, c.attack)
			m := newModel(t, Config{})
			if fs := run(t, m, warm); len(fs) != 0 {
				t.Fatalf("%d findings during warm-up, first %+v", len(fs), fs[0])
			}
			fs := run(t, m, day5)
			var hit, other int
			for _, f := range fs {
				if f.Kind == c.kind && f.Client == c.client && (c.domain == "" || f.Domain == c.domain) {
					hit++
					checkFinding(t, f)
					continue
				}
				other++
				t.Errorf("unexpected %s: %s", f.Kind, f.Summary)
			}
			if c.kind != "" && hit == 0 {
				t.Errorf("no %s finding for %s; stats %+v", c.kind, c.client, m.Stats())
			}
			if hit > 2 {
				t.Errorf("%d findings for one attack in one window: want at most 2", hit)
			}
			for _, f := range fs {
				if strings.Contains(f.Domain, "googlevideo") {
					t.Errorf("CDN flagged: %s", f.Summary)
				}
			}
		})
	}
}

func checkFinding(t *testing.T, f Finding) {
	t.Helper()
	t.Logf("%s %.1f conf %.2f: %s", f.Kind, f.Score, f.Confidence, f.Summary)
	if f.Score <= 0 || f.Confidence <= 0 || f.Confidence >= 1 || f.Version != Version || f.Summary == "" {
		t.Errorf("finding fields: %+v", f)
	}
	if len(f.EventIDs) == 0 || len(f.EventIDs) > 5 || len(f.Names) == 0 || len(f.Features) < 3 {
		t.Errorf("evidence: %d events, %d names, %d features", len(f.EventIDs), len(f.Names), len(f.Features))
	}
	for i := 1; i < len(f.Features); i++ {
		if abs(f.Features[i].Z) > abs(f.Features[i-1].Z) {
			t.Errorf("features not by contribution: %+v", f.Features)
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestMarkNormal(t *testing.T) {
	attack := func(rng *rand.Rand, at time.Time) []Query {
		return tunnel(rng, at, "10.0.0.7", "t1.exfil-example.com", "hex", 800)
	}
	warm, day5 := synthetic(11, attack)
	m := newModel(t, Config{})
	run(t, m, warm)
	if err := m.MarkNormal("Sub.EXFIL-example.com."); err != nil {
		t.Fatal(err)
	}
	if err := m.MarkNormal("bad..name"); err == nil {
		t.Error("a bad name was accepted")
	}
	if fs := run(t, m, day5); len(fs) != 0 {
		t.Errorf("%d findings after MarkNormal, first %s", len(fs), fs[0].Summary)
	}
	// and the allow-list does the same from configuration
	m = newModel(t, Config{AllowSuffixes: []string{"exfil-example.com"}})
	run(t, m, warm)
	if fs := run(t, m, day5); len(fs) != 0 {
		t.Errorf("%d findings under an allow-listed suffix", len(fs))
	}
	if m.Stats().Allowed != 800 {
		t.Errorf("allowed %d, want 800", m.Stats().Allowed)
	}
}

func TestWarmUpSilences(t *testing.T) {
	// The attack lands on the first day: nothing is known, nothing is reported.
	rng := rand.New(rand.NewPCG(3, 1))
	o := newBenignOrg(rng, 40, 300)
	qs := append(o.days(rng, t0, 1), tunnel(rng, t0.Add(9*time.Hour), "10.0.0.7", "t1.exfil-example.com", "hex", 800)...)
	qs = append(qs, dga(rng, t0.Add(9*time.Hour), "10.0.0.9", 40)...)
	sortQueries(qs)
	if fs := run(t, newModel(t, Config{}), qs); len(fs) != 0 {
		t.Errorf("%d findings during warm-up", len(fs))
	}
	// With no warm-up time but the baselines still empty, nothing either.
	if fs := run(t, newModel(t, Config{WarmUp: time.Nanosecond}), qs[:200]); len(fs) != 0 {
		t.Errorf("%d findings before any baseline", len(fs))
	}
}

func TestRareDomain(t *testing.T) {
	warm, day5 := synthetic(5, func(rng *rand.Rand, at time.Time) []Query {
		var qs []Query
		for h := range 4 { // a new domain one host resolves every hour: beacon-like
			qs = append(qs, Query{Time: at.Add(time.Duration(h)*time.Hour - 8*time.Hour/10), Client: "10.0.0.3", Name: "upd.zenithquill.org", QType: "A", EventID: fmt.Sprint("r", h)})
		}
		// a new domain many hosts resolve: not rare
		for i := range 10 {
			qs = append(qs, Query{Time: at.Add(time.Duration(i) * 20 * time.Minute), Client: fmt.Sprintf("10.0.0.%d", 11+i), Name: "www.newportal.com", QType: "A"})
		}
		return qs
	})
	m := newModel(t, Config{})
	run(t, m, warm)
	fs := run(t, m, day5)
	if len(fs) != 1 || fs[0].Kind != FindingRare || fs[0].Domain != "zenithquill.org" || fs[0].Client != "10.0.0.3" {
		for _, f := range fs {
			t.Log(f.Summary)
		}
		t.Fatalf("%d findings, want the one rare domain", len(fs))
	}
	checkFinding(t, fs[0])
}

// TestRegrowth: a tunnel is reported when it crosses the threshold, once more
// when it has grown Regrowth-fold, and not again in the same window.
func TestRegrowth(t *testing.T) {
	warm, day5 := synthetic(11, func(rng *rand.Rand, at time.Time) []Query {
		return tunnel(rng, at, "10.0.0.7", "t1.exfil-example.com", "hex", 3000)
	})
	m := newModel(t, Config{})
	run(t, m, warm)
	fs := run(t, m, day5)
	if len(fs) != 2 {
		t.Fatalf("%d findings, want 2", len(fs))
	}
	if r := feature(fs[1], "distinct_subdomains_per_window") / feature(fs[0], "distinct_subdomains_per_window"); r < 8 {
		t.Errorf("second report at %.1fx the first", r)
	}
}

func TestSnapshotRestoreIdentical(t *testing.T) {
	warm, day5 := synthetic(11, func(rng *rand.Rand, at time.Time) []Query {
		return append(tunnel(rng, at, "10.0.0.7", "t1.exfil-example.com", "hex", 800), dga(rng, at, "10.0.0.9", 40)...)
	})
	day5 = append(day5, Query{Time: day5[len(day5)-1].Time, Client: "c", Name: "bad..name"}, Query{Client: "c", Name: "zero.time.com"})
	a := newModel(t, Config{})
	run(t, a, warm)
	if err := a.MarkNormal("wave.com"); err != nil {
		t.Fatal(err)
	}
	// Cut mid-attack (it starts at 10:00): findings must come after the restore.
	cut := t0.Add(4*24*time.Hour + 10*time.Hour + 4*time.Minute)
	half := slices.IndexFunc(day5, func(q Query) bool { return !q.Time.Before(cut) })
	fa := run(t, a, day5[:half])
	before := len(fa)
	var snap bytes.Buffer
	if err := a.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	b := newModel(t, Config{})
	if err := b.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	var snap2 bytes.Buffer
	if err := b.Snapshot(&snap2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap.Bytes(), snap2.Bytes()) {
		t.Error("snapshot of the restored model differs")
	}
	fa2 := run(t, a, day5[half:])
	fb := run(t, b, day5[half:])
	kinds := map[FindingKind]bool{}
	for _, f := range fa2 {
		kinds[f.Kind] = true
	}
	if !kinds[FindingTunnel] || !kinds[FindingDGA] {
		t.Fatalf("findings after the restore: %v (%d before): the test would prove little", kinds, before)
	}
	if fmt.Sprintf("%+v", fa2) != fmt.Sprintf("%+v", fb) {
		t.Errorf("restored model diverged:\n%+v\n%+v", fa2, fb)
	}
	if fmt.Sprintf("%+v", a.Stats()) != fmt.Sprintf("%+v", b.Stats()) {
		t.Errorf("stats differ: %+v vs %+v", a.Stats(), b.Stats())
	}
	// Another configuration refuses it.
	c := newModel(t, Config{MinDistinct: 50})
	if err := c.Restore(bytes.NewReader(snap.Bytes())); err == nil {
		t.Error("restored a snapshot of another configuration")
	}
	// Every truncation fails cleanly and leaves the model untouched.
	for _, n := range []int{0, 3, 7, 20, len(snap.Bytes()) / 2, len(snap.Bytes()) - 1} {
		if err := c.Restore(bytes.NewReader(snap.Bytes()[:n])); err == nil {
			t.Errorf("truncation to %d bytes restored", n)
		}
	}
	if err := b.Restore(bytes.NewReader(append(snap.Bytes(), 0))); err == nil {
		t.Error("trailing byte accepted")
	}
}

func TestDeterministic(t *testing.T) {
	warm, day5 := synthetic(2, func(rng *rand.Rand, at time.Time) []Query {
		return append(tunnel(rng, at, "10.0.0.7", "t1.exfil-example.com", "base64", 800), dga(rng, at, "10.0.0.9", 40)...)
	})
	all := append(warm, day5...)
	var out []string
	for range 2 {
		fs := run(t, newModel(t, Config{}), all)
		out = append(out, fmt.Sprintf("%+v", fs))
	}
	if out[0] != out[1] {
		t.Error("two runs over the same stream differ")
	}
}

func TestEviction(t *testing.T) {
	m := newModel(t, Config{MaxDoms: 64, MaxPair: 64, MaxCli: 16})
	for i := range 5000 {
		m.Observe(Query{Time: t0.Add(time.Duration(i) * time.Second), Client: fmt.Sprint("c", i%50), Name: fmt.Sprintf("h%d.dom%d.com", i, i%700), QType: "A"}, nil)
		if len(m.doms) > 64 || len(m.pairs) > 64 || len(m.clients) > 16 {
			t.Fatalf("caps exceeded at %d: %d domains, %d pairs, %d clients", i, len(m.doms), len(m.pairs), len(m.clients))
		}
	}
	if m.Stats().Evicted == 0 {
		t.Error("nothing evicted")
	}
	m.Observe(Query{Client: "c", Name: "www.example.com"}, nil)
	if st := m.Stats(); st.Rejected[ReasonNoTime] != 1 || m.first != t0.Unix() {
		t.Errorf("a query without time: rejected %v, first %d", st.Rejected, m.first)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{Window: time.Second},
		{MaxDoms: 1},
		{MaxPair: maxTracked + 1},
		{DGAZ: 1},
		{Regrowth: 0.5},
		{MinTrainClients: 5, MaxTrainClients: 2},
		{AllowSuffixes: []string{"a..b"}},
		{TunnelZ: -1},
		{MinWindows: -5},
		{UsualFactor: math.NaN()},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := New(Config{}); err != nil {
		t.Error(err)
	}
}

func feature(f Finding, name string) float64 {
	for _, x := range f.Features {
		if x.Name == name {
			return x.Observed
		}
	}
	return 0
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		x    float64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {4210.4, "4,210"}, {1234567, "1,234,567"}, {-1500, "-1,500"}} {
		if got := thousands(c.x); got != c.want {
			t.Errorf("thousands(%v) = %s", c.x, got)
		}
	}
	for d, want := range map[time.Duration]string{time.Hour: "1 h", 2 * time.Hour: "2 h", 15 * time.Minute: "15 min", 90 * time.Second: "1m30s"} {
		if got := dur(d); got != want {
			t.Errorf("dur(%v) = %s", d, got)
		}
	}
}
