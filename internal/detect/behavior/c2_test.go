package behavior

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior/c2"
)

var (
	c2Beaconer = netip.MustParseAddr("10.0.0.66")
	c2Server   = netip.MustParseAddr("203.0.113.9")
)

const c2Domain = "updates.c2.example"

// c2Office is days of flows from 60 internal hosts browsing at random times and
// sizes, plus one host beaconing to c2Server every 300 s ± 10% with near-constant
// sizes over HTTP with the Host header c2Domain. With process set, the beacon's
// connections come as endpoint events (a process on them), not flows.
func c2Office(days int, process string) []Obs {
	rng := rand.New(rand.NewPCG(7, 11))
	var obs []Obs
	src := intern("conn.log")
	add := func(o Obs) {
		o.Source = src
		o.Offset = int64(len(obs))
		obs = append(obs, o)
	}
	end := t0 + int64(days)*24*hour
	for h := range 60 {
		ip := netip.AddrFrom4([4]byte{10, 0, 0, byte(h + 1)})
		for t := t0 + rng.Int64N(hour); t < end; t += rng.Int64N(2 * hour) {
			dst := netip.AddrFrom4([4]byte{198, 51, 100, byte(rng.IntN(200))})
			add(Obs{Time: t, Kind: KindConn, SrcIP: ip, DstIP: dst, DstPort: 443, BytesOut: 200 + rng.Int64N(50000), BytesIn: rng.Int64N(1e6), Duration: rng.Int64N(int64(time.Minute))})
		}
	}
	first := true
	for t := t0 + 9*hour; t < end; t += int64(270*time.Second) + rng.Int64N(int64(60*time.Second)) {
		o := Obs{Time: t, Kind: KindConn, SrcIP: c2Beaconer, DstIP: c2Server, DstPort: 80, BytesOut: 310 + rng.Int64N(5), BytesIn: 220, Duration: int64(300 * time.Millisecond)}
		if process != "" {
			o.Process = intern(process)
		}
		add(o)
		add(Obs{Time: t + 1, Kind: KindHTTP, SrcIP: c2Beaconer, DstIP: c2Server, Target: intern(c2Domain), Agent: intern("Mozilla/4.0 (compatible; MSIE 6.0)"), Action: intern("GET"), Extra: intern("/news.php")})
		if first {
			add(Obs{Time: t + 2, Kind: KindTLS, SrcIP: c2Beaconer, DstIP: c2Server, Target: intern(c2Domain)})
			first = false
		}
	}
	slices.SortFunc(obs, func(a, b Obs) int {
		if a.less(&b) {
			return -1
		}
		return 1
	})
	return obs
}

// runC2 runs obs through an engine holding only m and returns the signals.
func runC2(t *testing.T, m *C2, obs []Obs, flush bool) []detect.Signal {
	t.Helper()
	eng, err := NewEngine([]Model{m}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sigs []detect.Signal
	emit := func(s detect.Signal) { sigs = append(sigs, s) }
	if err := eng.Process(context.Background(), obs, emit); err != nil {
		t.Fatal(err)
	}
	if flush {
		eng.Flush(emit)
	}
	return sigs
}

func hasEntity(s detect.Signal, kind detect.EntityKind, v string) bool {
	return slices.Contains(s.Entities, detect.Entity{Kind: kind, Value: v})
}

func TestC2Engine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		days    int
		process string
		// wantBeacon: the beacon is reported for both its IP pair and its FQDN pair.
		wantBeacon bool
	}{
		{"flows, one day", 1, "", true},
		{"flows, three days", 3, "", true},
		{"endpoint events are not read", 3, `c:\users\a\appdata\certsvc.exe`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := c2Office(tc.days, tc.process)
			beaconIDs := map[string]bool{}
			for i := range obs {
				if obs[i].SrcIP == c2Beaconer {
					beaconIDs[obs[i].EventID()] = true
				}
			}
			sigs := runC2(t, DefaultC2(), obs, true)
			var ipPair, fqdnPair int
			last := map[string]float64{}
			for _, s := range sigs {
				t.Logf("%s %s %s score %.3f: %s", s.Time.Format(time.RFC3339), s.RuleID, s.Title, s.Explanation.Score, s.Explanation.Summary)
				if !hasEntity(s, detect.EntityIP, c2Beaconer.String()) {
					t.Errorf("benign signal %s %s", s.RuleID, s.Title)
					continue
				}
				if s.DetectorID != "behavior.c2" || !slices.Contains(s.Tactics, "command-and-control") || len(s.Techniques) == 0 {
					t.Errorf("signal %s: detector %q tactics %v techniques %v", s.Title, s.DetectorID, s.Tactics, s.Techniques)
				}
				if len(s.Evidence) == 0 {
					t.Errorf("signal %s without evidence", s.Title)
				}
				for _, ev := range s.Evidence {
					if !beaconIDs[ev.EventID] || ev.Time.IsZero() || ev.Source != "conn.log" {
						t.Errorf("signal %s: evidence %+v is not one of the beacon's events", s.Title, ev)
					}
				}
				// Reported again only when the score grew clearly.
				k := s.RuleID + "\x00" + entityKey(s.Entities)
				if prev, ok := last[k]; ok && s.Explanation.Score < prev+0.1 {
					t.Errorf("%s reported again at score %.3f after %.3f", s.Title, s.Explanation.Score, prev)
				}
				last[k] = s.Explanation.Score
				if s.RuleID == "c2.beacon" {
					if !slices.Contains(s.Techniques, "T1071.001") || len(s.Explanation.Features) < 4 ||
						s.Explanation.Expected == "" || !strings.Contains(s.Explanation.Observed, "every") {
						t.Errorf("beacon explanation incomplete: %+v", s.Explanation)
					}
					if hasEntity(s, detect.EntityDomain, c2Domain) {
						fqdnPair++
					} else if hasEntity(s, detect.EntityIP, c2Server.String()) {
						ipPair++
					}
				}
			}
			if got := ipPair > 0 && fqdnPair > 0; got != tc.wantBeacon {
				t.Errorf("beacon reported for IP pair %d, FQDN pair %d times; want reported %v", ipPair, fqdnPair, tc.wantBeacon)
			}
			if ipPair > tc.days || fqdnPair > tc.days {
				t.Errorf("beacon reported %d and %d times over %d days: not deduplicated", ipPair, fqdnPair, tc.days)
			}
		})
	}
}

// TestC2Schedule: evaluations happen at the midnights the stream passes and once
// at the last event time at the end, not at the far-future time of the flush.
func TestC2Schedule(t *testing.T) {
	obs := c2Office(2, "")
	sigs := runC2(t, DefaultC2(), obs, true)
	lastObs := unixTime(obs[len(obs)-1].Time)
	for _, s := range sigs {
		midnight := s.Time.Equal(s.Time.Truncate(24 * time.Hour))
		if !midnight && !s.Time.Equal(lastObs) {
			t.Errorf("signal at %v: neither a midnight nor the last event time %v", s.Time, lastObs)
		}
		if s.Time.After(lastObs) {
			t.Errorf("signal at %v after the last event %v", s.Time, lastObs)
		}
	}
	if len(sigs) == 0 {
		t.Fatal("no signals")
	}
}

// TestC2RestoreSameSignals: a model snapshotted halfway and restored into a new
// one emits exactly the signals the uninterrupted model emits after that point.
func TestC2RestoreSameSignals(t *testing.T) {
	obs := c2Office(3, "")
	want := runC2(t, DefaultC2(), slices.Clone(obs), true)

	cut := len(obs) * 3 / 5
	first := DefaultC2()
	eng, err := NewEngine([]Model{first}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []detect.Signal
	emit := func(s detect.Signal) { got = append(got, s) }
	part := slices.Clone(obs)
	if err := eng.Process(context.Background(), part[:cut], emit); err != nil {
		t.Fatal(err)
	}
	states, err := eng.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(first.hosts) == 0 || len(first.reported) == 0 || first.next == 0 {
		t.Fatalf("snapshot taken before the adapter has state: %d hosts, %d reports, next %d", len(first.hosts), len(first.reported), first.next)
	}
	second := DefaultC2()
	eng2, err := NewEngine([]Model{second}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng2.Restore(states); err != nil {
		t.Fatal(err)
	}
	if err := eng2.Process(context.Background(), part[cut:], emit); err != nil {
		t.Fatal(err)
	}
	eng2.Flush(emit)

	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Errorf("restored model emitted\n%s\nwant\n%s", b, a)
	}
	if len(want) == 0 {
		t.Error("no signals to compare")
	}
	// The snapshot is deterministic.
	var s1, s2 bytes.Buffer
	if err := second.Snapshot(&s1); err != nil {
		t.Fatal(err)
	}
	if err := second.Snapshot(&s2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s1.Bytes(), s2.Bytes()) {
		t.Error("two snapshots of one state differ")
	}
}

func TestC2RestoreRejects(t *testing.T) {
	var good bytes.Buffer
	m := DefaultC2()
	runC2(t, m, c2Office(1, ""), false)
	if err := m.Snapshot(&good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "restoring c2 model"},
		{"truncated", good.Bytes()[:good.Len()/2], "restoring c2 model"},
		{"garbage", []byte("\x7fnot a gob at all"), "restoring c2 model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh := DefaultC2()
			err := fresh.Restore(bytes.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Restore: %v, want an error containing %q", err, tc.want)
			}
			if fresh.next != 0 || len(fresh.hosts) != 0 {
				t.Error("a failed restore changed the model")
			}
		})
	}
}

func TestC2Config(t *testing.T) {
	if _, err := NewC2(C2Config{Tracker: c2.Config{MinConns: 2}}); err == nil {
		t.Error("NewC2 accepted min_conns 2")
	}
	m := DefaultC2()
	if m.Config().MinScore != 0.8 || m.Config().Tracker.MinBeaconScore != 0.65 {
		t.Errorf("defaults %+v", m.Config())
	}
}

// TestC2HostMapCap: the server-name map stays within its cap.
func TestC2HostMapCap(t *testing.T) {
	m, err := NewC2(C2Config{MaxHosts: 64})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		o := Obs{Time: t0 + int64(i), Kind: KindTLS, SrcIP: c2Beaconer, DstIP: netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), Target: intern("x.example")}
		m.Observe(&o, nil)
		if len(m.hosts) > 64 {
			t.Fatalf("%d server names tracked, cap 64", len(m.hosts))
		}
	}
}

func FuzzC2Restore(f *testing.F) {
	m := DefaultC2()
	eng, err := NewEngine([]Model{m}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	// A small seed (the beacon's first connections): the fuzzer mutates it fast.
	var obs []Obs
	for _, o := range c2Office(1, "") {
		if o.SrcIP == c2Beaconer && len(obs) < 40 {
			obs = append(obs, o)
		}
	}
	if err := eng.Process(context.Background(), obs, func(detect.Signal) {}); err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Snapshot(&buf); err != nil {
		f.Fatal(err)
	}
	if len(m.hosts) == 0 || m.tr.Pairs() == 0 {
		f.Fatal("the seed state is empty")
	}
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := DefaultC2()
		if r.Restore(bytes.NewReader(data)) != nil {
			return
		}
		// A state that loads must run.
		o := Obs{Time: t0 + 3*24*hour, Kind: KindConn, SrcIP: c2Beaconer, DstIP: c2Server, DstPort: 80}
		r.Observe(&o, nil)
		r.Advance(o.Time+int64(time.Minute), nil)
		r.Advance(o.Time+8*24*hour, nil)
	})
}

// BenchmarkC2Engine: observations a second through the adapter and the tracker,
// evaluations included (three days of 61 hosts).
func BenchmarkC2Engine(b *testing.B) {
	obs := c2Office(3, "")
	b.ReportAllocs()
	for b.Loop() {
		m := DefaultC2()
		for i := range obs {
			m.Advance(obs[i].Time, nil)
			m.Observe(&obs[i], nil)
		}
		m.Advance(obs[len(obs)-1].Time+8*24*hour, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(obs)), "ns/obs")
}

// BenchmarkC2EvidenceID compares the id the adapter gives the tracker with the
// real event id it replaces.
func BenchmarkC2EvidenceID(b *testing.B) {
	o := Obs{Time: t0, Source: intern("/var/log/zeek/current/conn.log"), Offset: 123456789, Record: 3}
	m := DefaultC2()
	b.Run("cheap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = m.cheapID(&o)
		}
	})
	b.Run("event_id", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = o.EventID()
		}
	})
}

func BenchmarkC2New(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = DefaultC2()
	}
}

// TestC2MemoryPerKey measures the adapter's own state: a remembered server name
// and a remembered report (the tracker's cost per pair is measured in package c2).
func TestC2MemoryPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates megabytes")
	}
	const n = 20000
	m, err := NewC2(C2Config{MaxHosts: n, MaxReported: n})
	if err != nil {
		t.Fatal(err)
	}
	names := make([]Sym, n)
	keys := make([]string, n)
	for i := range n {
		names[i] = intern("h" + strconv.Itoa(i) + ".example.com")
		keys[i] = "beacon\x0010.1." + strconv.Itoa(i>>8) + "." + strconv.Itoa(i&255) + "\x00cdn" + strconv.Itoa(i) + ".example.com"
	}
	var before, mid, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		m.rememberHost([2]netip.Addr{c2Beaconer, netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})}, names[i], int64(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&mid)
	for i := range n {
		m.remember(keys[i], c2Report{Score: 1, Time: int64(i)})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	host := float64(mid.HeapAlloc-before.HeapAlloc) / n
	report := float64(after.HeapAlloc-mid.HeapAlloc) / n
	t.Logf("%.0f bytes per server name, %.0f bytes per report (key text held by the caller here)", host, report)
	if len(m.hosts) != n || len(m.reported) != n {
		t.Fatalf("%d hosts, %d reports, want %d", len(m.hosts), len(m.reported), n)
	}
	if host > 250 || report > 250 {
		t.Errorf("%.0f bytes per server name and %.0f per report, documented about 100 and 120", host, report)
	}
	runtime.KeepAlive(names)
}
