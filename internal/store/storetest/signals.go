package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

var (
	alice = detect.Entity{Kind: detect.EntityUser, Value: `corp\alice`}
	web1  = detect.Entity{Kind: detect.EntityHost, Value: "web-1.corp.example"}
	ip    = detect.Entity{Kind: detect.EntityIP, Value: "10.0.0.7"}
)

// fullSignal has every field set, times in a non-UTC zone.
func fullSignal(id string, tm time.Time) detect.Signal {
	ev := []detect.EvidenceRef{
		{EventID: "ev-" + id + "-1", Time: tm.Add(-time.Second), Source: "/var/log/Security.evtx", Offset: 4096},
		{EventID: "ev-" + id + "-2", Time: tm, Source: "/var/log/Security.evtx", Offset: 8192},
	}
	return detect.Signal{
		ID:              id,
		Time:            tm,
		DetectorID:      "sigma",
		DetectorVersion: "1.2.3",
		RuleID:          "5af54681-df95-4c26-854f-2565e13cfab0",
		Title:           "Suspicious \"encoded\" PowerShell — ünïcode",
		Severity:        detect.SeverityHigh,
		Confidence:      0.8125,
		Tactics:         []string{"execution", "defense-evasion"},
		Techniques:      []string{"T1059.001", "T1027"},
		Entities:        []detect.Entity{alice, web1},
		Explanation: detect.Explanation{
			Summary:  "powershell.exe ran with -EncodedCommand",
			Expected: "no encoded commands on web servers",
			Observed: "3 in 5 minutes",
			Score:    0.9731,
			Matches:  []detect.FieldMatch{{Field: "CommandLine", Value: "powershell -enc SQBFAFgA"}, {Field: "Image", Value: `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`}},
		},
		Evidence: ev,
	}
}

func (h harness) testSignalRoundTrip(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	full := fullSignal("sig-full", base)
	minimal := detect.Signal{ID: "sig-min", Time: base.Add(time.Nanosecond), DetectorID: "ioc", Title: "t",
		Tactics: []string{}, Entities: []detect.Entity{}} // empty slices come back nil
	must(t, s.PutSignals(ctx, []detect.Signal{full, minimal}))

	for _, in := range []detect.Signal{full, minimal} {
		got, err := s.GetSignal(ctx, in.ID)
		must(t, err)
		equal(t, "signal "+in.ID, got, store.CanonicalSignal(in))
		inUTC(t, "signal time", got.Time)
		if !got.Time.Equal(in.Time) || got.Time.Nanosecond() != in.Time.Nanosecond() {
			t.Errorf("signal %s time %v, want %v to the nanosecond", in.ID, got.Time, in.Time)
		}
		for i, ev := range got.Evidence {
			inUTC(t, fmt.Sprintf("evidence %d time", i), ev.Time)
		}
	}
	// The caller's slices are not modified by canonicalization.
	if full.Time.Location() == time.UTC || full.Evidence[0].Time.Location() == time.UTC {
		t.Error("PutSignals changed the caller's signal")
	}
}

func (h harness) testSignalIdempotent(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	a, b := fullSignal("a", base), fullSignal("b", base.Add(time.Minute))
	must(t, s.PutSignals(ctx, []detect.Signal{a, b}))
	must(t, s.PutSignals(ctx, []detect.Signal{a, b})) // redelivery
	changed := a
	changed.Title = "a second version"
	c := fullSignal("c", base.Add(2*time.Minute))
	must(t, s.PutSignals(ctx, []detect.Signal{changed, c, c})) // duplicate inside a batch too

	got, err := s.GetSignal(ctx, "a")
	must(t, err)
	if got.Title != a.Title {
		t.Errorf("re-put replaced the stored signal: title %q, want the first write %q", got.Title, a.Title)
	}
	all := collect(t, 0, func(cur string) (store.Page[detect.Signal], error) {
		return s.ListSignals(ctx, store.SignalQuery{Cursor: cur})
	})
	equal(t, "ids", signalIDs(all), []string{"c", "b", "a"})
	byEntity := collect(t, 0, func(cur string) (store.Page[detect.Signal], error) {
		return s.ListSignals(ctx, store.SignalQuery{Entity: alice, Cursor: cur})
	})
	equal(t, "ids by entity", signalIDs(byEntity), []string{"c", "b", "a"})
}

func (h harness) testSignalNotFound(t *testing.T) {
	s := h.store(t)
	_, err := s.GetSignal(t.Context(), "no-such-signal")
	wantErr(t, err, store.ErrNotFound, "GetSignal")
}

func (h harness) testSignalInvalid(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	good := fullSignal("good", base)
	noID := fullSignal("", base)
	noTime := fullSignal("no-time", time.Time{})
	badEntity := fullSignal("bad-entity", base)
	badEntity.Entities = []detect.Entity{{Kind: detect.EntityUser}}
	for name, sig := range map[string]detect.Signal{"no id": noID, "zero time": noTime, "empty entity": badEntity} {
		err := s.PutSignals(ctx, []detect.Signal{good, sig})
		wantErr(t, err, store.ErrInvalid, name)
	}
	_, err := s.GetSignal(ctx, "good")
	wantErr(t, err, store.ErrNotFound, "a batch with an invalid signal must store nothing")
	must(t, s.PutSignals(ctx, nil))

	_, err = s.ListSignals(ctx, store.SignalQuery{Entity: detect.Entity{Kind: detect.EntityUser}})
	wantErr(t, err, store.ErrInvalid, "entity filter without value")
}

// signalSet is 40 signals a minute apart, spread over detectors, rules,
// severities and entities, for the filter tests.
func signalSet() []detect.Signal {
	detectors := []string{"sigma", "behavior", "ioc"}
	var out []detect.Signal
	for i := range 40 {
		sig := detect.Signal{
			ID:         fmt.Sprintf("s%02d", i),
			Time:       base.Add(time.Duration(i) * time.Minute),
			DetectorID: detectors[i%3],
			Severity:   detect.Severity(i % 5),
			Title:      fmt.Sprintf("signal %d", i),
			Confidence: float64(i) / 40,
		}
		if sig.DetectorID != "behavior" {
			sig.RuleID = fmt.Sprintf("rule-%d", i%4)
		}
		if i%2 == 0 {
			sig.Entities = append(sig.Entities, alice)
		}
		if i%3 == 0 {
			sig.Entities = append(sig.Entities, web1)
		}
		if i%5 == 0 {
			sig.Entities = append(sig.Entities, ip)
		}
		out = append(out, sig)
	}
	return out
}

// matchSignal is the reference semantics of SignalQuery filters.
func matchSignal(q store.SignalQuery, s detect.Signal) bool {
	switch {
	case !q.Since.IsZero() && s.Time.Before(q.Since),
		!q.Until.IsZero() && !s.Time.Before(q.Until),
		s.Severity < q.MinSeverity,
		q.DetectorID != "" && s.DetectorID != q.DetectorID,
		q.RuleID != "" && s.RuleID != q.RuleID,
		q.Entity.Kind != "" && !slices.Contains(s.Entities, q.Entity):
		return false
	}
	return true
}

func (h harness) testSignalFilters(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	set := signalSet()
	// Insert out of time order, in several batches.
	shuffled := slices.Clone(set)
	slices.Reverse(shuffled)
	must(t, s.PutSignals(ctx, shuffled[:15]))
	must(t, s.PutSignals(ctx, shuffled[15:]))

	queries := map[string]store.SignalQuery{
		"all":             {},
		"all ascending":   {Order: store.OrderAsc},
		"time range":      {TimeRange: store.TimeRange{Since: base.Add(10 * time.Minute), Until: base.Add(20 * time.Minute)}},
		"since only":      {TimeRange: store.TimeRange{Since: base.Add(35 * time.Minute)}, Order: store.OrderAsc},
		"until only":      {TimeRange: store.TimeRange{Until: base.Add(3*time.Minute + time.Nanosecond)}},
		"severity":        {MinSeverity: detect.SeverityHigh},
		"detector":        {DetectorID: "sigma"},
		"rule":            {RuleID: "rule-1"},
		"entity":          {Entity: alice},
		"entity asc":      {Entity: alice, Order: store.OrderAsc},
		"entity combined": {Entity: web1, MinSeverity: detect.SeverityMedium, TimeRange: store.TimeRange{Since: base.Add(5 * time.Minute)}},
		"detector entity": {DetectorID: "behavior", Entity: ip},
		"unknown entity":  {Entity: detect.Entity{Kind: detect.EntityUser, Value: "nobody"}},
		"nothing matches": {DetectorID: "sigma", RuleID: "rule-9"},
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			var want []string
			for _, sig := range set {
				if matchSignal(q, sig) {
					want = append(want, sig.ID)
				}
			}
			if q.Order == store.OrderDesc {
				slices.Reverse(want)
			}
			for _, limit := range []int{0, 1, 4} {
				got := collect(t, limit, func(cur string) (store.Page[detect.Signal], error) {
					q := q
					q.Limit, q.Cursor = limit, cur
					return s.ListSignals(ctx, q)
				})
				equal(t, fmt.Sprintf("ids with limit %d", limit), signalIDs(got), want)
			}
		})
	}
	// Listed signals are complete records, not just ids.
	p, err := s.ListSignals(ctx, store.SignalQuery{Limit: 1})
	must(t, err)
	if len(p.Items) != 1 {
		t.Fatalf("got %d signals, want 1", len(p.Items))
	}
	equal(t, "listed signal", p.Items[0], store.CanonicalSignal(set[len(set)-1]))
}

// testSignalPaginationTies pages through signals sharing timestamps: no signal
// may be skipped or repeated, and times must be ordered.
func (h harness) testSignalPaginationTies(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	var set []detect.Signal
	for i := range 53 {
		set = append(set, detect.Signal{
			ID: fmt.Sprintf("tie-%02d", i), Time: base.Add(time.Duration(i%5) * time.Second),
			DetectorID: "sigma", Entities: []detect.Entity{alice},
		})
	}
	must(t, s.PutSignals(ctx, set))
	for _, order := range []store.Order{store.OrderDesc, store.OrderAsc} {
		for _, entity := range []detect.Entity{{}, alice} {
			got := collect(t, 3, func(cur string) (store.Page[detect.Signal], error) {
				return s.ListSignals(ctx, store.SignalQuery{Order: order, Entity: entity, Limit: 3, Cursor: cur})
			})
			ids := signalIDs(got)
			sorted := slices.Sorted(slices.Values(ids))
			equal(t, fmt.Sprintf("order %d entity %v: ids", order, entity), sorted, signalIDs(set))
			for i := 1; i < len(got); i++ {
				a, b := got[i-1].Time, got[i].Time
				if (order == store.OrderDesc && a.Before(b)) || (order == store.OrderAsc && a.After(b)) {
					t.Fatalf("order %d: %s (%v) listed before %s (%v)", order, got[i-1].ID, a, got[i].ID, b)
				}
			}
		}
	}
}

func (h harness) testSignalLimits(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	set := make([]detect.Signal, store.DefaultLimit+20)
	for i := range set {
		set[i] = detect.Signal{ID: fmt.Sprintf("l%03d", i), Time: base.Add(time.Duration(i) * time.Millisecond), DetectorID: "ioc"}
	}
	must(t, s.PutSignals(ctx, set))
	p, err := s.ListSignals(ctx, store.SignalQuery{})
	must(t, err)
	if len(p.Items) != store.DefaultLimit || p.Next == "" {
		t.Errorf("default limit: got %d items, next %q; want %d and a cursor", len(p.Items), p.Next, store.DefaultLimit)
	}
	p, err = s.ListSignals(ctx, store.SignalQuery{Limit: len(set)})
	must(t, err)
	if len(p.Items) != len(set) || p.Next != "" {
		t.Errorf("exact limit: got %d items, next %q; want %d and no cursor", len(p.Items), p.Next, len(set))
	}
	p, err = s.ListSignals(ctx, store.SignalQuery{Limit: store.MaxLimit * 10})
	must(t, err)
	if len(p.Items) != len(set) {
		t.Errorf("huge limit: got %d items, want %d", len(p.Items), len(set))
	}
}

func (h harness) testSignalBadCursor(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	_, err := s.ListSignals(ctx, store.SignalQuery{Cursor: "!!not a cursor"})
	wantErr(t, err, store.ErrInvalid, "garbage cursor")
	other := store.Cursor{Kind: store.CursorAudit, Seq: 3}.Encode()
	_, err = s.ListSignals(ctx, store.SignalQuery{Cursor: other})
	wantErr(t, err, store.ErrInvalid, "cursor of another list")
}

func signalIDs(sigs []detect.Signal) []string {
	var ids []string
	for _, s := range sigs {
		ids = append(ids, s.ID)
	}
	return ids
}
