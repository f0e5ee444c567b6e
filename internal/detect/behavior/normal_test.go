package behavior

import (
	"bytes"
	"testing"
	"time"
)

// TestMarkNormalEveryModel: every model takes "this is normal" for an (entity,
// attribute) pair, stops reporting it, and keeps the verdict across a snapshot.
func TestMarkNormalEveryModel(t *testing.T) {
	tests := []struct {
		name           string
		model          func() Model
		obs            func() []Obs
		entity, attr   string
		wantBefore     int
		restoreAndMark bool
	}{
		{"c2 beacon destination", func() Model { return DefaultC2() }, func() []Obs { return c2Office(3, "") },
			c2Beaconer.String(), c2Server.String(), 1, true},
		{"c2 every destination of a source", func() Model { return DefaultC2() }, func() []Obs { return c2Office(3, "") },
			c2Beaconer.String(), "", 1, true},
		{"edge stream source", func() Model { m, _ := NewEdgeStream(EdgeStreamConfig{}); return m }, func() []Obs { return signIns(true) },
			"203.0.113.7", "", 1, true},
		{"multivariate feature", func() Model { return mvSmall(t) }, func() []Obs { return mvOffice(40, 5, true) },
			"u07@corp", "directories", 1, true},
		{"multivariate user", func() Model { return mvSmall(t) }, func() []Obs { return mvOffice(40, 5, true) },
			"u07@corp", "", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// count counts the signals about the pair: naming the entity and,
			// when the verdict names an attribute, naming it too (as an entity
			// or as the leading feature).
			count := func(m Model) int {
				n := 0
				for _, s := range runFlush(t, m, tt.obs()) {
					ent, attr := false, tt.attr == ""
					for _, e := range s.Entities {
						ent = ent || e.Value == tt.entity
						attr = attr || e.Value == tt.attr
					}
					if f := s.Explanation.Features; len(f) > 0 && f[0].Name == tt.attr {
						attr = true
					}
					if ent && attr {
						n++
					}
				}
				return n
			}
			if got := count(tt.model()); got < tt.wantBefore {
				t.Fatalf("%d signals about %s before the verdict, want >= %d", got, tt.entity, tt.wantBefore)
			}
			m := tt.model()
			nm, ok := m.(Normalizer)
			if !ok || !nm.MarkNormal(tt.entity, tt.attr, time.Time{}) {
				t.Fatal("MarkNormal refused")
			}
			if tt.restoreAndMark {
				var snap bytes.Buffer
				if err := m.Snapshot(&snap); err != nil {
					t.Fatal(err)
				}
				m = tt.model()
				if err := m.Restore(bytes.NewReader(snap.Bytes())); err != nil {
					t.Fatal(err)
				}
			}
			if got := count(m); got != 0 {
				t.Errorf("%d signals about %s after the verdict", got, tt.entity)
			}
		})
	}
	if DefaultC2().MarkNormal("", "", time.Time{}) {
		t.Error("c2 accepted a verdict about nothing")
	}
	if mvSmall(t).MarkNormal("u07@corp", "shoe_size", time.Time{}) {
		t.Error("multivariate accepted an unknown feature")
	}
}

// TestNormalSetUntil: a verdict with an end stops applying at that event time.
func TestNormalSetUntil(t *testing.T) {
	var n normalSet
	until := time.Unix(0, t0+hour)
	n.mark("a", "b", until)
	if !n.is("a", "b", t0) || n.is("a", "b", t0+hour) || n.is("a", "c", t0) {
		t.Fatal("until not applied")
	}
	n.mark("a", "", time.Time{})
	if !n.is("a", "c", t0+100*hour) {
		t.Fatal("entity-wide verdict not applied")
	}
	var m normalSet
	if !m.load(n.entries()) || len(m.entries()) != 2 {
		t.Fatal("entries do not round-trip")
	}
}
