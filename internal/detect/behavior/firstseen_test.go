package behavior

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).UnixNano()

const hour = int64(time.Hour)

// logon is a successful logon of user on host at t.
func logon(t int64, user, host string) Obs {
	return Obs{Time: t, Kind: KindAuth, User: intern(user), Host: intern(host), Source: intern("test"), Offset: t}
}

// office builds n users in two departments, each logging on to its own
// workstation and the shared file server every working hour for days days.
func office(n, days int) []Obs {
	var obs []Obs
	for d := range days {
		for h := 8; h < 18; h++ {
			for u := range n {
				t := t0 + int64(d)*24*hour + int64(h)*hour + int64(u)*int64(time.Second)
				obs = append(obs, logon(t, fmt.Sprintf("u%02d@corp", u), fmt.Sprintf("ws-%02d", u)))
				obs = append(obs, logon(t+1, fmt.Sprintf("u%02d@corp", u), "fs01"))
			}
		}
	}
	return obs
}

func peers(user string) string {
	var i int
	fmt.Sscanf(user, "u%d@", &i)
	if i%2 == 0 {
		return "finance/staff"
	}
	return "it/admin"
}

func run(t *testing.T, m Model, obs []Obs) []detect.Signal {
	t.Helper()
	e, err := NewEngine([]Model{m}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []detect.Signal
	if err := e.Process(context.Background(), obs, func(s detect.Signal) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestFirstSeen(t *testing.T) {
	base := office(20, 6)
	after := t0 + 6*24*hour + 10*hour
	tests := []struct {
		name    string
		extra   []Obs
		want    int
		summary string
	}{
		{"nothing new", []Obs{logon(after, "u03@corp", "ws-03")}, 0, ""},
		{"new host for user, first in org", []Obs{logon(after, "u03@corp", "db-prod-3")}, 1,
			"u03@corp logged on to db-prod-3 for the first time; 0 of 9 peers (it/admin) ever did; no user in the organisation ever did"},
		{"another user's workstation: uncommon in org", []Obs{logon(after, "u04@corp", "ws-05")}, 1,
			"u04@corp logged on to ws-05 for the first time; 0 of 9 peers (finance/staff) ever did; 1 of 20 users ever did"},
		{"failed logons teach nothing and alert nothing", []Obs{{Time: after, Kind: KindAuth, Fail: true, User: intern("u03@corp"), Host: intern("db-prod-3")}}, 0, ""},
		{"untrained user", []Obs{logon(after, "newbie@corp", "ws-01"), logon(after+1, "newbie@corp", "db-prod-3")}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewFirstSeen(FirstSeenConfig{}, nil, peers)
			if got := run(t, m, base); len(got) != 0 {
				t.Fatalf("%d signals while learning: %s", len(got), got[0].Explanation.Summary)
			}
			got := runMore(t, m, tt.extra)
			if len(got) != tt.want {
				t.Fatalf("%d signals, want %d: %+v", len(got), tt.want, got)
			}
			if tt.want == 0 {
				return
			}
			s := got[0]
			if s.Explanation.Summary != tt.summary {
				t.Errorf("summary\n got %q\nwant %q", s.Explanation.Summary, tt.summary)
			}
			if s.DetectorID != "behavior.first_seen" || s.RuleID != "first_seen.user_host" || s.DetectorVersion == "" {
				t.Errorf("stamps: %s %s %s", s.DetectorID, s.RuleID, s.DetectorVersion)
			}
			if len(s.Evidence) != 1 || s.Evidence[0].EventID == "" || s.Confidence <= 0.5 || s.Explanation.Probability <= 0 || len(s.Explanation.Features) == 0 {
				t.Errorf("explanation incomplete: %+v", s)
			}
			if !strings.Contains(s.Explanation.Expected, "fs01 (60)") {
				t.Errorf("expected = %q, want the user's known hosts with counts", s.Explanation.Expected)
			}
		})
	}
}

// runMore feeds obs to a model that already learned, through a fresh engine.
func runMore(t *testing.T, m Model, obs []Obs) []detect.Signal {
	t.Helper()
	return run(t, m, obs)
}

func TestFirstSeenRoutineNovelty(t *testing.T) {
	// A browser meets new sites every day: one more is not news.
	m := NewFirstSeen(FirstSeenConfig{}, nil, nil)
	var obs []Obs
	for d := range 8 {
		for i := range 50 {
			tm := t0 + int64(d)*24*hour + int64(i)*int64(time.Minute)
			dest := fmt.Sprintf("popular%d.example", i%5)
			if i%10 == 0 {
				dest = fmt.Sprintf("longtail-%d-%d.example", d, i)
			}
			obs = append(obs, Obs{Time: tm, Kind: KindConn, Process: intern("chrome.exe"), Target: intern(dest), Source: intern("t"), Offset: tm})
		}
	}
	if got := run(t, m, obs); len(got) != 0 {
		t.Fatalf("%d signals for routine new destinations, first: %s", len(got), got[0].Explanation.Summary)
	}
}

func TestFirstSeenMarkNormal(t *testing.T) {
	m := NewFirstSeen(FirstSeenConfig{}, nil, peers)
	run(t, m, office(20, 6))
	if !m.MarkNormal("u03@corp", "db-prod-3", time.Time{}) {
		t.Fatal("MarkNormal did not know u03@corp")
	}
	if got := run(t, m, []Obs{logon(t0+6*24*hour+10*hour, "u03@corp", "db-prod-3")}); len(got) != 0 {
		t.Fatalf("signal after MarkNormal: %s", got[0].Explanation.Summary)
	}
	if m.MarkNormal("nobody@corp", "x", time.Time{}) {
		t.Error("MarkNormal claimed an unknown entity")
	}
}

func TestFirstSeenSnapshotRestore(t *testing.T) {
	base := office(20, 6)
	probe := []Obs{
		logon(t0+6*24*hour+10*hour, "u03@corp", "db-prod-3"),
		logon(t0+6*24*hour+11*hour, "u04@corp", "ws-05"),
		logon(t0+6*24*hour+12*hour, "u05@corp", "db-prod-3"),
	}
	// Ten one-off users early on are evicted later: eviction state is covered.
	var once []Obs
	for i := range 10 {
		once = append(once, logon(t0+int64(i), fmt.Sprintf("visitor%d@corp", i), "kiosk"))
	}
	orig := NewFirstSeen(FirstSeenConfig{MaxEntities: 25}, nil, peers)
	run(t, orig, append(once, base...))
	if n := len(orig.state[0].entities); n != 25 {
		t.Fatalf("%d entities tracked, want 25 (after evictions)", n)
	}
	var snap bytes.Buffer
	if err := orig.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	restored := NewFirstSeen(FirstSeenConfig{MaxEntities: 25}, nil, peers)
	if err := restored.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := restored.Snapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap.Bytes(), again.Bytes()) {
		t.Error("snapshot of the restored model differs from the original's")
	}
	a, b := run(t, orig, probe), run(t, restored, probe)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("original %d signals, restored %d", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Explanation.Summary != b[i].Explanation.Summary {
			t.Errorf("signal %d: %q vs %q", i, a[i].Explanation.Summary, b[i].Explanation.Summary)
		}
	}
	if err := restored.Restore(strings.NewReader("not gob")); err == nil {
		t.Error("Restore accepted garbage")
	}
}

func TestFirstSeenBounded(t *testing.T) {
	m := NewFirstSeen(FirstSeenConfig{MaxEntities: 100, MaxValues: 8, MaxOrgValues: 50}, nil, nil)
	var obs []Obs
	for i := range 5000 {
		obs = append(obs, logon(t0+int64(i)*int64(time.Second), fmt.Sprintf("u%d", i%300), fmt.Sprintf("h%d", i%97)))
	}
	run(t, m, obs)
	st := m.state[0]
	if len(st.entities) > 100 || st.lru.len() != len(st.entities) || len(st.org) > 50 || st.orgLRU.len() != len(st.org) {
		t.Fatalf("entities %d (lru %d), org %d (lru %d)", len(st.entities), st.lru.len(), len(st.org), st.orgLRU.len())
	}
	for _, e := range st.entities {
		if len(e.vals) > 8 {
			t.Fatalf("entity %s keeps %d values", str(e.key), len(e.vals))
		}
	}
}

func TestEngineOrderIndependent(t *testing.T) {
	// Finish sorts by event time: shuffled collection gives the same signals.
	base := office(20, 7)
	base = append(base, logon(t0+6*24*hour+10*hour, "u03@corp", "db-prod-3"))
	rev := make([]Obs, len(base))
	for i := range base {
		rev[len(base)-1-i] = base[i]
	}
	ids := func(obs []Obs) []string {
		e, err := NewEngine([]Model{NewFirstSeen(FirstSeenConfig{}, nil, peers)}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		e.obs = append(e.obs, obs...)
		var out []string
		if err := e.Finish(context.Background(), func(s detect.Signal) { out = append(out, s.ID) }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := ids(base), ids(rev)
	if len(a) != 1 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("in order %v, reversed %v", a, b)
	}
}

func FuzzFirstSeenRestore(f *testing.F) {
	m := NewFirstSeen(FirstSeenConfig{}, nil, peers)
	e, _ := NewEngine([]Model{m}, Options{})
	_ = e.Process(context.Background(), office(6, 4), func(detect.Signal) {})
	var snap bytes.Buffer
	if err := m.Snapshot(&snap); err != nil {
		f.Fatal(err)
	}
	f.Add(snap.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewFirstSeen(FirstSeenConfig{}, nil, peers)
		if err := r.Restore(bytes.NewReader(b)); err != nil {
			return
		}
		// A restored model must run.
		r.Observe(&Obs{Time: t0 + 30*24*hour, Kind: KindAuth, User: intern("u01@corp"), Host: intern("x")}, &Emitter{})
	})
}

func t0ctx() context.Context { return context.Background() }

// TestLearnedPeers: without a directory, users who use the same hosts form a
// behavioral peer group, and a value new to one of them is judged against it.
func TestLearnedPeers(t *testing.T) {
	// Six teams of six (a to f): each user on their own workstation and their
	// team's five servers (fs-a, app-a, ...), each used by a sixth of the users.
	var obs []Obs
	for d := range 6 {
		for h := 8; h < 18; h++ {
			for u := range 36 {
				team := string(rune('a' + u/6))
				tm := t0 + int64(d)*24*hour + int64(h)*hour + int64(u)*int64(time.Second)
				user := fmt.Sprintf("%s%02d@corp", team, u)
				obs = append(obs, logon(tm, user, fmt.Sprintf("ws-%s%02d", team, u)))
				for i, srv := range []string{"fs", "app", "db", "print", "git"} {
					obs = append(obs, logon(tm+int64(i+1), user, srv+"-"+team))
				}
			}
		}
	}
	m := NewFirstSeen(FirstSeenConfig{}, nil, nil)
	run(t, m, obs)
	ga, gb := m.learned.groupOf(intern("a03@corp")), m.learned.groupOf(intern("b08@corp"))
	if len(ga) != 6 || len(gb) != 6 || slices.Contains(ga, intern("b08@corp")) {
		t.Fatalf("learned groups: a03 with %d users, b12 with %d", len(ga), len(gb))
	}
	// a03 logs on to team C's server: 0 of 5 behavioral peers did, 6 of 36 users did
	// (too many for "uncommon in the organisation" alone).
	got := run(t, m, []Obs{logon(t0+6*24*hour+10*hour, "a03@corp", "fs-c")})
	if len(got) != 1 || !strings.Contains(got[0].Explanation.Summary, "0 of 5 peers (similar access) ever did; 6 of 36 users ever did") {
		t.Fatalf("signals: %+v", got)
	}
	// The groups survive a snapshot.
	var snap bytes.Buffer
	if err := m.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	r := NewFirstSeen(FirstSeenConfig{}, nil, nil)
	if err := r.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	if len(r.learned.groupOf(intern("a03@corp"))) != 6 {
		t.Fatal("learned groups lost in the snapshot")
	}
}
