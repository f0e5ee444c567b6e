package behavior

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

// signIns is two days of a few sign-ins a minute from office addresses, then,
// when spray is set, one address trying 40 accounts in four minutes (MIDAS-F
// merges a node's counts into its totals when a tick ends, so a new source is
// scored from its second minute).
func signIns(spray bool) []Obs {
	var obs []Obs
	for m := range 2 * 24 * 60 {
		for i := range 1 + m%3 {
			tm := t0 + int64(m)*int64(time.Minute) + int64(i)*int64(time.Second)
			ip := netip.AddrFrom4([4]byte{81, 2, 69, byte(10 + (m+i)%20)})
			obs = append(obs, Obs{Time: tm, Kind: KindAuth, User: intern(fmt.Sprintf("u%d@corp", (m*7+i)%50)), SrcIP: ip, Source: intern("okta"), Offset: tm})
		}
	}
	if spray {
		for i := range 40 {
			tm := t0 + 2*24*hour + 5*int64(time.Minute) + int64(i)*6*int64(time.Second)
			obs = append(obs, Obs{Time: tm, Kind: KindAuth, Fail: true, User: intern(fmt.Sprintf("u%d@corp", i)), SrcIP: netip.MustParseAddr("203.0.113.7"), Source: intern("okta"), Offset: tm})
		}
	}
	return obs
}

func TestEdgeStreamSpray(t *testing.T) {
	m, err := NewEdgeStream(EdgeStreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got := run(t, m, signIns(true))
	if len(got) != 1 {
		t.Fatalf("%d signals, want 1: %+v", len(got), got)
	}
	s := got[0]
	if s.RuleID != "edge_stream.auth.source" || s.Entities[0] != (detect.Entity{Kind: detect.EntityIP, Value: "203.0.113.7"}) ||
		!strings.HasPrefix(s.Explanation.Summary, "203.0.113.7 (to all destinations): 5 sign-in attempts in the minute 2026-03-04 00:06") || s.Techniques[0] != "T1110.003" {
		t.Errorf("signal: %s %v %q %v", s.RuleID, s.Entities, s.Explanation.Summary, s.Techniques)
	}
	quiet, _ := NewEdgeStream(EdgeStreamConfig{})
	if got := run(t, quiet, signIns(false)); len(got) != 0 {
		t.Errorf("%d signals without a spray: %s", len(got), got[0].Explanation.Summary)
	}
}

func TestEdgeStreamSnapshotRestore(t *testing.T) {
	all := signIns(true)
	a, _ := NewEdgeStream(EdgeStreamConfig{})
	run(t, a, all[:3000])
	var snap bytes.Buffer
	if err := a.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	b, _ := NewEdgeStream(EdgeStreamConfig{})
	if err := b.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	x, y := run(t, a, all[3000:]), run(t, b, all[3000:])
	if len(x) != 1 || fmt.Sprint(x) != fmt.Sprint(y) {
		t.Fatalf("original %v, restored %v", x, y)
	}
	for _, bad := range [][]byte{nil, []byte("VES2"), append([]byte("VES2"), make([]byte, 20)...), snap.Bytes()[:snap.Len()-1]} {
		c, _ := NewEdgeStream(EdgeStreamConfig{})
		if err := c.Restore(bytes.NewReader(bad)); err == nil {
			t.Errorf("Restore accepted %d bad bytes", len(bad))
		}
	}
}

func FuzzEdgeStreamRestore(f *testing.F) {
	small := EdgeStreamConfig{Buckets: 8} // a small state, so mutations reach every part of it
	a, _ := NewEdgeStream(small)
	e, _ := NewEngine([]Model{a}, Options{})
	_ = e.Process(t0ctx(), signIns(false)[:500], func(detect.Signal) {})
	var snap bytes.Buffer
	_ = a.Snapshot(&snap)
	f.Add(snap.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _ := NewEdgeStream(small)
		if err := m.Restore(bytes.NewReader(b)); err != nil {
			return
		}
		m.Observe(&Obs{Time: t0 + 3*24*hour, Kind: KindAuth, User: intern("x"), SrcIP: netip.MustParseAddr("192.0.2.1")}, &Emitter{})
	})
}
