package behavior

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

// mvOffice is users working 8:00-18:00 for days days: a few logons from their
// own address, process starts, file accesses in a few directories. With attack,
// user u07 reads 400 files in 30 share directories at 02:00 on the last day.
func mvOffice(users, days int, attack bool) []Obs {
	rng := rand.New(rand.NewPCG(7, 11))
	var obs []Obs
	add := func(o Obs) {
		o.Source, o.Offset = intern("test"), int64(len(obs))
		obs = append(obs, o)
	}
	for d := range days {
		for h := 8; h < 18; h++ {
			for u := range users {
				base := t0 + int64(d)*24*hour + int64(h)*hour + int64(u)*int64(time.Second)
				user := intern(fmt.Sprintf("u%02d@corp", u))
				ip := netip.AddrFrom4([4]byte{10, 0, byte(u), 1})
				for i := range 1 + rng.IntN(3) {
					add(Obs{Time: base + int64(i), Kind: KindAuth, User: user, Host: intern(fmt.Sprintf("ws-%02d", u)), SrcIP: ip})
				}
				for i := range 2 + rng.IntN(15) {
					add(Obs{Time: base + int64(10+i), Kind: KindProcess, User: user, Host: intern(fmt.Sprintf("ws-%02d", u)),
						Process: intern(fmt.Sprintf("prog%d.exe", rng.IntN(4)))})
				}
				for i := range rng.IntN(10) {
					add(Obs{Time: base + int64(40+i), Kind: KindFile, User: user, Host: intern("fs01"), Target: intern(fmt.Sprintf(`\\fs01\team%d`, u%3+rng.IntN(2)))})
				}
			}
		}
	}
	if attack {
		base := t0 + int64(days-1)*24*hour + 2*hour
		for i := range 400 {
			add(Obs{Time: base + int64(i)*int64(time.Second), Kind: KindFile, User: intern("u07@corp"), Host: intern("fs01"),
				Target: intern(fmt.Sprintf(`\\fs01\finance\q%d`, i%30))})
		}
	}
	// Keep time order (the engine demands it): one stable sort by time.
	sortObs(obs)
	return obs
}

func sortObs(obs []Obs) {
	for i := 1; i < len(obs); i++ { // insertion sort: the input is nearly sorted
		for j := i; j > 0 && obs[j].less(&obs[j-1]); j-- {
			obs[j], obs[j-1] = obs[j-1], obs[j]
		}
	}
}

func mvSmall(t testing.TB) *Multivariate {
	t.Helper()
	m, err := NewMultivariate(MultivariateConfig{Window: 256})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runFlush(t testing.TB, m Model, obs []Obs) []detect.Signal {
	t.Helper()
	e, err := NewEngine([]Model{m}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []detect.Signal
	emit := func(s detect.Signal) { got = append(got, s) }
	if err := e.Process(context.Background(), obs, emit); err != nil {
		t.Fatal(err)
	}
	e.Flush(emit)
	return got
}

func TestMultivariateCollection(t *testing.T) {
	tests := []struct {
		name   string
		attack bool
		want   int // signals naming u07 with file accesses among the features
	}{
		{"office only", false, 0},
		{"night-time share sweep", true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mvSmall(t)
			got := runFlush(t, m, mvOffice(40, 5, tc.attack))
			if !m.model.Trained() {
				t.Fatalf("model not trained after %d vectors", m.model.Seen())
			}
			hits := 0
			for _, s := range got {
				if s.RuleID != "multivariate.user_hour" || s.DetectorID != "behavior.multivariate" {
					t.Errorf("signal %s/%s", s.DetectorID, s.RuleID)
				}
				if s.Entities[0].Value != "u07@corp" {
					continue
				}
				hits++
				if !strings.Contains(s.Explanation.Summary, "u07@corp's activity between 02:00 and 03:00 is unusual") ||
					!(strings.Contains(s.Explanation.Summary, "400 file accesses") || strings.Contains(s.Explanation.Summary, "30 directories")) {
					t.Errorf("summary %q", s.Explanation.Summary)
				}
				if s.Tactics[0] != "collection" || s.Techniques[0] != "T1039" {
					t.Errorf("tactic %v %v", s.Tactics, s.Techniques)
				}
				if n := len(s.Evidence); n == 0 || n > mvEvidence {
					t.Errorf("%d evidence refs", n)
				}
				if len(s.Explanation.Features) == 0 || len(s.Explanation.Features) > 3 {
					t.Errorf("features %+v", s.Explanation.Features)
				}
				if p := s.Explanation.Probability; !(p > 0 && p < 0.001) {
					t.Errorf("p = %v", p)
				}
			}
			if hits != tc.want {
				t.Errorf("%d signals for u07, want %d", hits, tc.want)
			}
			// Benign noise: p < 0.001 over 2,000 user-hours is a few at most.
			if benign := len(got) - hits; benign > 3 {
				t.Errorf("%d benign signals: %v", benign, summaries(got))
			}
		})
	}
}

func summaries(sigs []detect.Signal) []string {
	out := make([]string, len(sigs))
	for i, s := range sigs {
		out[i] = s.Explanation.Summary
	}
	return out
}

// An alerted vector is learnt neither by the population model nor by the user.
func TestMultivariateAlertNotLearnt(t *testing.T) {
	obs := mvOffice(40, 5, true)
	clean := mvSmall(t)
	runFlush(t, clean, mvOffice(40, 5, false))
	m := mvSmall(t)
	got := runFlush(t, m, obs)
	if len(got) == 0 {
		t.Fatal("no signal")
	}
	if m.model.Seen() != clean.model.Seen() {
		t.Errorf("learnt %d vectors with the attack, %d without: the alerted hour was learnt", m.model.Seen(), clean.model.Seen())
	}
	if u := m.users[intern("u07@corp")]; u.n != clean.users[intern("u07@corp")].n {
		t.Errorf("u07 learnt %d hours, want %d", u.n, clean.users[intern("u07@corp")].n)
	}
}

// The same hour for everyone (a population shift) reports nothing and is learnt.
func TestMultivariateShiftGuard(t *testing.T) {
	obs := mvOffice(40, 5, false)
	base := t0 + 5*24*hour + 2*hour
	for u := range 40 {
		for i := range 300 {
			obs = append(obs, Obs{Time: base + int64(u*300+i), Kind: KindFile, User: intern(fmt.Sprintf("u%02d@corp", u)), Target: intern(fmt.Sprintf("d%d", i%20)), Source: intern("x")})
		}
	}
	m := mvSmall(t)
	got := runFlush(t, m, obs)
	for _, s := range got {
		if s.Time.After(unixTime(base)) {
			t.Errorf("signal during the shift: %s", s.Explanation.Summary)
		}
	}
	if m.shifts == 0 {
		t.Error("shift not recognised")
	}
}

func TestMultivariateSnapshotRestore(t *testing.T) {
	obs := mvOffice(40, 5, true)
	// Cut inside an hour so that open vectors travel in the snapshot.
	cut := len(obs) * 4 / 5
	for obs[cut].Time%hour < 20*int64(time.Second) {
		cut++
	}
	a := mvSmall(t)
	ea, _ := NewEngine([]Model{a}, Options{})
	var first []detect.Signal
	if err := ea.Process(context.Background(), obs[:cut], func(s detect.Signal) { first = append(first, s) }); err != nil {
		t.Fatal(err)
	}
	if len(a.open) == 0 {
		t.Fatal("no open vectors at the cut")
	}
	var snap bytes.Buffer
	if err := a.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	b := mvSmall(t)
	if err := b.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := b.Snapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap.Bytes(), again.Bytes()) {
		t.Fatal("snapshot of the restored model differs")
	}
	rest := func(m *Multivariate, ev int64) []string {
		e, _ := NewEngine([]Model{m}, Options{})
		e.now = ev
		var got []detect.Signal
		emit := func(s detect.Signal) { got = append(got, s) }
		if err := e.Process(context.Background(), obs[cut:], emit); err != nil {
			t.Fatal(err)
		}
		e.Flush(emit)
		out := summaries(got)
		for i, s := range got {
			out[i] += " " + s.ID
		}
		return out
	}
	ra, rb := rest(a, obs[cut-1].Time), rest(b, obs[cut-1].Time)
	if fmt.Sprint(ra) != fmt.Sprint(rb) {
		t.Fatalf("original %v\nrestored %v", ra, rb)
	}
	if len(ra)+len(first) == 0 {
		t.Fatal("no signal at all: the test shows nothing")
	}
	if a.Stats() != b.Stats() {
		t.Errorf("stats %+v vs %+v", a.Stats(), b.Stats())
	}
}

func TestMultivariateRestoreRejects(t *testing.T) {
	m := mvSmall(t)
	runFlush(t, m, mvOffice(10, 1, false))
	var snap bytes.Buffer
	if err := m.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	tiny, err := NewMultivariate(MultivariateConfig{Window: 256, MaxUsers: 3})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    *Multivariate
		b    []byte
		want string
	}{
		{"empty", mvSmall(t), nil, "restoring multivariate state"},
		{"truncated", mvSmall(t), snap.Bytes()[:snap.Len()/2], "truncated"},
		{"over the user cap", tiny, snap.Bytes(), "beyond the caps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.m.Stats()
			err := tc.m.Restore(bytes.NewReader(tc.b))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if tc.m.Stats() != before {
				t.Error("a failed restore changed the model")
			}
		})
	}
}

func TestMultivariateBounded(t *testing.T) {
	m, err := NewMultivariate(MultivariateConfig{Window: 256, MaxUsers: 50, MaxOpen: 20})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := NewEngine([]Model{m}, Options{})
	var obs []Obs
	for h := range 10 {
		for u := range 100 {
			for i := range mvDistinctCap + 10 {
				tm := t0 + int64(h)*hour + int64(u*100+i)
				obs = append(obs, Obs{Time: tm, Kind: KindProcess, User: intern(fmt.Sprintf("x%d-%d", h, u)), Process: intern(fmt.Sprint(i))})
			}
		}
	}
	if err := e.Process(context.Background(), obs, func(detect.Signal) {}); err != nil {
		t.Fatal(err)
	}
	if len(m.open) > 20 || len(m.users) > 50 || m.lru.len() != len(m.users) {
		t.Fatalf("%d open, %d users, lru %d", len(m.open), len(m.users), m.lru.len())
	}
	for _, uh := range m.open {
		if len(uh.progs) > mvDistinctCap || len(uh.ev) > mvEvidence {
			t.Fatalf("%d programs, %d evidence refs", len(uh.progs), len(uh.ev))
		}
	}
	if m.dropped == 0 {
		t.Error("nothing dropped at the open-hour cap")
	}
}

func TestMultivariateConfig(t *testing.T) {
	tests := []struct {
		cfg MultivariateConfig
		ok  bool
	}{
		{MultivariateConfig{}, true},
		{MultivariateConfig{PValue: 1}, false},
		{MultivariateConfig{PValue: -0.1}, false},
		{MultivariateConfig{MaxUsers: -1}, false},
		{MultivariateConfig{Window: -5}, false},
	}
	for _, tc := range tests {
		if _, err := NewMultivariate(tc.cfg); (err == nil) != tc.ok {
			t.Errorf("%+v: error %v", tc.cfg, err)
		}
	}
	if DefaultMultivariate().ID() != "behavior.multivariate" {
		t.Error("id")
	}
}

func FuzzMultivariateRestore(f *testing.F) {
	m, err := NewMultivariate(MultivariateConfig{Window: 64})
	if err != nil {
		f.Fatal(err)
	}
	obs := mvOffice(6, 1, false)
	e, _ := NewEngine([]Model{m}, Options{})
	_ = e.Process(context.Background(), obs[:len(obs)-5], func(detect.Signal) {})
	var snap bytes.Buffer
	if err := m.Snapshot(&snap); err != nil {
		f.Fatal(err)
	}
	f.Add(snap.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _ := NewMultivariate(MultivariateConfig{Window: 64})
		if err := r.Restore(bytes.NewReader(b)); err != nil {
			return
		}
		// A restored model must run.
		r.Observe(&Obs{Time: t0 + 30*24*hour, Kind: KindFile, User: intern("u01@corp"), Target: intern("d")}, &Emitter{})
		r.Flush(&Emitter{})
	})
}

// BenchmarkMultivariateMemory measures the heap cost of a user's baseline and of
// an open user-hour (2 hosts, 4 programs, 3 directories, 1 address, 3 evidence
// refs), names interned beforehand (they are shared with the other models).
func BenchmarkMultivariateMemory(b *testing.B) {
	const users = 100_000
	names := make([]Sym, users)
	for i := range names {
		names[i] = intern(fmt.Sprintf("user%06d@corp.example", i))
	}
	vals := make([]Sym, 16)
	for i := range vals {
		vals[i] = intern(fmt.Sprintf(`c:\dir%02d\prog.exe`, i))
	}
	src := intern("bench")
	feed := func(m *Multivariate, h int64) {
		for u, name := range names {
			for i := range 10 {
				o := Obs{Time: t0 + h*hour + int64(u*10+i), User: name, Source: src, Host: vals[i%2], Process: vals[i%4], Target: vals[i%3],
					SrcIP: netip.AddrFrom4([4]byte{10, 0, 0, 1})}
				o.Kind = []Kind{KindAuth, KindProcess, KindFile}[i%3]
				m.Observe(&o, &Emitter{})
			}
		}
	}
	for b.Loop() {
		var ms [3]runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms[0])
		m, err := NewMultivariate(MultivariateConfig{Window: 256})
		if err != nil {
			b.Fatal(err)
		}
		feed(m, 0)
		runtime.GC()
		runtime.ReadMemStats(&ms[1])
		m.Flush(&Emitter{}) // baselines only, no open hours
		runtime.GC()
		runtime.ReadMemStats(&ms[2])
		b.ReportMetric(float64(int64(ms[2].HeapAlloc)-int64(ms[0].HeapAlloc))/users, "bytes/user")
		b.ReportMetric(float64(int64(ms[1].HeapAlloc)-int64(ms[2].HeapAlloc))/users, "bytes/open-hour")
		b.ReportMetric(float64(int64(ms[1].HeapAlloc)-int64(ms[0].HeapAlloc))/users, "bytes/user+open-hour")
		runtime.KeepAlive(m)
	}
}

// BenchmarkMultivariateObserve measures observations per second through the
// adapter on the office stream (hours closing, vectors scored and learnt).
func BenchmarkMultivariateObserve(b *testing.B) {
	obs := mvOffice(40, 5, true)
	n := 0
	for b.Loop() {
		m, err := NewMultivariate(MultivariateConfig{Window: 256})
		if err != nil {
			b.Fatal(err)
		}
		e, _ := NewEngine([]Model{m}, Options{})
		if err := e.Process(context.Background(), obs, func(detect.Signal) {}); err != nil {
			b.Fatal(err)
		}
		n += len(obs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "obs/s")
}
