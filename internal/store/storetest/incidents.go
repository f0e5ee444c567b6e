package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

func fullIncident(id string, version int64) correlate.Incident {
	return correlate.Incident{
		ID:         id,
		Title:      "Encoded PowerShell followed by LSASS access on web-1",
		Status:     correlate.StatusOpen,
		Severity:   detect.SeverityCritical,
		Confidence: 0.6875,
		Risk:       87.25,
		FirstSeen:  base,
		LastSeen:   base.Add(42*time.Minute + 17*time.Nanosecond),
		Tactics:    []string{"execution", "credential-access"},
		Techniques: []string{"T1059.001", "T1003.001"},
		Entities:   []detect.Entity{alice, web1},
		SignalIDs:  []string{"sig-1", "sig-2", "sig-3"},
		Summary:    "alice's session on web-1 ran an encoded command, then read LSASS memory.",
		Version:    version,
	}
}

func (h harness) testIncidentRoundTrip(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	full := fullIncident("inc-full", 1)
	minimal := correlate.Incident{ID: "inc-min", FirstSeen: base, LastSeen: base, SignalIDs: []string{}}
	must(t, s.UpsertIncident(ctx, full))
	must(t, s.UpsertIncident(ctx, minimal))
	for _, in := range []correlate.Incident{full, minimal} {
		got, err := s.GetIncident(ctx, in.ID)
		must(t, err)
		equal(t, "incident "+in.ID, got, store.CanonicalIncident(in))
		inUTC(t, "first seen", got.FirstSeen)
		inUTC(t, "last seen", got.LastSeen)
	}
	_, err := s.GetIncident(ctx, "no-such-incident")
	wantErr(t, err, store.ErrNotFound, "GetIncident")
}

func (h harness) testIncidentVersioning(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	v1 := fullIncident("inc", 1)
	must(t, s.UpsertIncident(ctx, v1))
	must(t, s.UpsertIncident(ctx, v1)) // redelivery of the stored version: no-op

	v2 := v1
	v2.Version, v2.Risk, v2.Status = 2, 95, correlate.StatusAcknowledged
	must(t, s.UpsertIncident(ctx, v2))

	stale := v1
	stale.Title = "an update computed from version 0"
	wantErr(t, s.UpsertIncident(ctx, stale), store.ErrConflict, "older version")
	rival := v2
	rival.Summary = "a concurrent update also computed version 2"
	wantErr(t, s.UpsertIncident(ctx, rival), store.ErrConflict, "same version, different content")

	got, err := s.GetIncident(ctx, "inc")
	must(t, err)
	equal(t, "stored incident", got, store.CanonicalIncident(v2))

	v7 := v2
	v7.Version = 7 // versions need not be contiguous, only increasing
	must(t, s.UpsertIncident(ctx, v7))
	got, err = s.GetIncident(ctx, "inc")
	must(t, err)
	if got.Version != 7 {
		t.Errorf("version %d, want 7", got.Version)
	}
}

// testIncidentConcurrentUpdates runs read-modify-write loops from several
// goroutines; optimistic versioning must let exactly one writer win each version,
// so no update is lost.
func (h harness) testIncidentConcurrentUpdates(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	inc := fullIncident("contended", 1)
	inc.SignalIDs = nil
	must(t, s.UpsertIncident(ctx, inc))
	const workers, perWorker = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < perWorker; {
				cur, err := s.GetIncident(ctx, "contended")
				if err != nil {
					errs <- err
					return
				}
				cur.Version++
				cur.SignalIDs = append(cur.SignalIDs, fmt.Sprintf("w%d-%d", w, i))
				err = s.UpsertIncident(ctx, cur)
				if errors.Is(err, store.ErrConflict) {
					continue // someone else won this version: re-read and retry
				}
				if err != nil {
					errs <- err
					return
				}
				i++
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.GetIncident(ctx, "contended")
	must(t, err)
	if got.Version != 1+workers*perWorker || len(got.SignalIDs) != workers*perWorker {
		t.Errorf("version %d with %d signal ids, want %d and %d", got.Version, len(got.SignalIDs), 1+workers*perWorker, workers*perWorker)
	}
}

// incidentSet has ties on risk and on last_seen, so the tie-breakers matter.
func incidentSet() []correlate.Incident {
	statuses := []correlate.Status{correlate.StatusOpen, correlate.StatusAcknowledged, correlate.StatusClosed, correlate.StatusFalsePositive}
	var out []correlate.Incident
	for i := range 23 {
		last := base.Add(time.Duration(i%6) * time.Hour)
		inc := correlate.Incident{
			ID:        fmt.Sprintf("inc-%02d", i),
			Title:     fmt.Sprintf("incident %d", i),
			Status:    statuses[i%4],
			Severity:  detect.Severity(i % 5),
			Risk:      float64((i*7)%10) + 0.5,
			FirstSeen: last.Add(-time.Duration(i) * 10 * time.Minute),
			LastSeen:  last,
			Version:   1,
		}
		if i%5 == 0 {
			inc.Summary = "Beaconing to evil_corp on 50% of nights"
		}
		if i%2 == 0 {
			inc.Entities = append(inc.Entities, alice)
		}
		if i%3 == 0 {
			inc.Entities = append(inc.Entities, web1)
		}
		out = append(out, inc)
	}
	return out
}

func matchIncident(q store.IncidentQuery, inc correlate.Incident) bool {
	switch {
	case !q.Since.IsZero() && inc.LastSeen.Before(q.Since),
		!q.Until.IsZero() && !inc.FirstSeen.Before(q.Until),
		inc.Severity < q.MinSeverity,
		q.Status != "" && inc.Status != q.Status,
		q.Entity.Kind != "" && !slices.Contains(inc.Entities, q.Entity),
		inc.Risk < q.MinRisk,
		q.Text != "" && !containsText(inc, q.Text):
		return false
	}
	return true
}

// containsText is IncidentQuery.Text's match: title, summary or an entity value
// contains the text, ignoring ASCII case.
func containsText(inc correlate.Incident, text string) bool {
	has := func(s string) bool { return strings.Contains(asciiLower(s), asciiLower(text)) }
	if has(inc.Title) || has(inc.Summary) {
		return true
	}
	return slices.ContainsFunc(inc.Entities, func(e detect.Entity) bool { return has(e.Value) })
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// compareIncidents is the documented list order: descending on (risk, last_seen,
// id) for SortRisk and on (last_seen, id) for SortLastSeen.
func compareIncidents(sort store.IncidentSort) func(a, b correlate.Incident) int {
	return func(a, b correlate.Incident) int {
		c := 0
		if sort == store.SortRisk {
			c = cmp.Compare(b.Risk, a.Risk)
		}
		if c == 0 {
			c = b.LastSeen.Compare(a.LastSeen)
		}
		if c == 0 {
			c = cmp.Compare(b.ID, a.ID)
		}
		return c
	}
}

func (h harness) testIncidentFilters(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	set := incidentSet()
	for _, inc := range set {
		must(t, s.UpsertIncident(ctx, inc))
	}
	queries := map[string]store.IncidentQuery{
		"all by risk":       {},
		"all by last seen":  {Sort: store.SortLastSeen},
		"overlapping time":  {TimeRange: store.TimeRange{Since: base.Add(2 * time.Hour), Until: base.Add(3 * time.Hour)}},
		"severity":          {MinSeverity: detect.SeverityMedium},
		"status":            {Status: correlate.StatusOpen},
		"entity":            {Entity: alice},
		"entity combined":   {Entity: web1, Sort: store.SortLastSeen, MinSeverity: detect.SeverityLow},
		"unknown entity":    {Entity: ip},
		"min risk":          {MinRisk: 6.5},
		"min risk combined": {MinRisk: 3, Status: correlate.StatusOpen, Sort: store.SortLastSeen},
		"text in title":     {Text: "INCIDENT 1"}, // 1, 10..19
		"text in summary":   {Text: "evil_corp"},
		"text percent":      {Text: "50%"},
		"text underscore":   {Text: "_"},       // literal: only the summaries with evil_corp
		"text backslash":    {Text: `corp\al`}, // alice's value
		"text in entity":    {Text: "WEB-1.corp"},
		"text no match":     {Text: "%%"},
		"text and entity":   {Text: "incident 2", Entity: alice},
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			var want []string
			for _, inc := range slices.SortedFunc(slices.Values(set), compareIncidents(q.Sort)) {
				if matchIncident(q, inc) {
					want = append(want, inc.ID)
				}
			}
			for _, limit := range []int{0, 1, 3} {
				got := collect(t, limit, func(cur string) (store.Page[correlate.Incident], error) {
					q := q
					q.Limit, q.Cursor = limit, cur
					return s.ListIncidents(ctx, q)
				})
				equal(t, fmt.Sprintf("ids with limit %d", limit), incidentIDs(got), want)
			}
		})
	}
	_, err := s.ListIncidents(ctx, store.IncidentQuery{Cursor: store.Cursor{Kind: store.CursorSignals}.Encode()})
	wantErr(t, err, store.ErrInvalid, "cursor of another list")
	_, err = s.ListIncidents(ctx, store.IncidentQuery{Text: strings.Repeat("x", store.MaxQueryText+1)})
	wantErr(t, err, store.ErrInvalid, "search text too long")
	_, err = s.ListIncidents(ctx, store.IncidentQuery{MinRisk: math.NaN()})
	wantErr(t, err, store.ErrInvalid, "NaN minimum risk")
}

func ptr[T any](v T) *T { return &v }

// testIncidentTriage checks UpdateIncidentTriage: only the fields given change,
// Version does not, and unknown ids and statuses an analyst cannot set fail.
func (h harness) testIncidentTriage(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	v1 := fullIncident("inc", 3)
	must(t, s.UpsertIncident(ctx, v1))

	got, err := s.UpdateIncidentTriage(ctx, "inc", store.TriageUpdate{Status: ptr(correlate.StatusAcknowledged), Assignee: ptr("bob")})
	must(t, err)
	want := store.CanonicalIncident(v1)
	want.Status, want.Assignee = correlate.StatusAcknowledged, "bob"
	equal(t, "returned incident", got, want)
	stored, err := s.GetIncident(ctx, "inc")
	must(t, err)
	equal(t, "stored incident", stored, want)

	got, err = s.UpdateIncidentTriage(ctx, "inc", store.TriageUpdate{Status: ptr(correlate.StatusClosed)})
	must(t, err)
	if got.Status != correlate.StatusClosed || got.Assignee != "bob" || got.Version != 3 {
		t.Errorf("status only: got status %q, assignee %q, version %d; want closed, bob, 3", got.Status, got.Assignee, got.Version)
	}
	got, err = s.UpdateIncidentTriage(ctx, "inc", store.TriageUpdate{Assignee: ptr("")})
	must(t, err)
	if got.Status != correlate.StatusClosed || got.Assignee != "" {
		t.Errorf("unassign: got status %q, assignee %q; want closed and none", got.Status, got.Assignee)
	}
	p, err := s.ListIncidents(ctx, store.IncidentQuery{Status: correlate.StatusClosed})
	must(t, err)
	equal(t, "closed incidents", incidentIDs(p.Items), []string{"inc"})

	_, err = s.UpdateIncidentTriage(ctx, "no-such-incident", store.TriageUpdate{Status: ptr(correlate.StatusClosed)})
	wantErr(t, err, store.ErrNotFound, "unknown incident")
	for _, st := range []correlate.Status{correlate.StatusMerged, "resolved", ""} {
		_, err = s.UpdateIncidentTriage(ctx, "inc", store.TriageUpdate{Status: ptr(st)})
		wantErr(t, err, store.ErrInvalid, "status "+string(st))
	}
	_, err = s.UpdateIncidentTriage(ctx, "inc", store.TriageUpdate{Assignee: ptr(strings.Repeat("a", store.MaxAssignee+1))})
	wantErr(t, err, store.ErrInvalid, "long assignee")
	_, err = s.UpdateIncidentTriage(ctx, "inc", store.TriageUpdate{Assignee: ptr("bob\n")})
	wantErr(t, err, store.ErrInvalid, "assignee with a newline")
	stored, err = s.GetIncident(ctx, "inc")
	must(t, err)
	if stored.Status != correlate.StatusClosed || stored.Assignee != "" || stored.Version != 3 {
		t.Errorf("after rejected updates: status %q, assignee %q, version %d", stored.Status, stored.Assignee, stored.Version)
	}
}

// testIncidentKeepsTriage checks that the correlator's writes (status open)
// keep an analyst's status and assignee, and that other writes do not.
func (h harness) testIncidentKeepsTriage(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	v1 := fullIncident("inc", 1)
	must(t, s.UpsertIncident(ctx, v1))
	_, err := s.UpdateIncidentTriage(ctx, "inc", store.TriageUpdate{Status: ptr(correlate.StatusFalsePositive), Assignee: ptr("carol")})
	must(t, err)
	// The correlator's redelivery of the version the analyst triaged is no conflict.
	must(t, s.UpsertIncident(ctx, v1))

	v2 := v1
	v2.Version, v2.Risk, v2.SignalIDs = 2, 91, append(slices.Clone(v1.SignalIDs), "sig-4")
	must(t, s.UpsertIncident(ctx, v2))
	got, err := s.GetIncident(ctx, "inc")
	must(t, err)
	want := store.CanonicalIncident(v2)
	want.Status, want.Assignee = correlate.StatusFalsePositive, "carol"
	equal(t, "incident after the correlator's update", got, want)
	p, err := s.ListIncidents(ctx, store.IncidentQuery{Status: correlate.StatusFalsePositive})
	must(t, err)
	equal(t, "false-positive incidents", incidentIDs(p.Items), []string{"inc"})

	// Merged is written as given (the assignee travels with the stored record).
	merged := got
	merged.Version, merged.Status, merged.MergedInto = 3, correlate.StatusMerged, "other"
	must(t, s.UpsertIncident(ctx, merged))
	got, err = s.GetIncident(ctx, "inc")
	must(t, err)
	equal(t, "merged incident", got, store.CanonicalIncident(merged))
	// Over a merged incident, an open write is written as given.
	v4 := v2
	v4.Version = 4
	must(t, s.UpsertIncident(ctx, v4))
	got, err = s.GetIncident(ctx, "inc")
	must(t, err)
	want = store.CanonicalIncident(v4)
	want.Assignee = "carol" // an assignee alone is kept
	equal(t, "reopened incident", got, want)

	// An assignee alone (status open) is kept too; an analyst's reopening with
	// nobody assigned lets the correlator's write through unchanged.
	w1 := fullIncident("assigned", 1)
	must(t, s.UpsertIncident(ctx, w1))
	_, err = s.UpdateIncidentTriage(ctx, "assigned", store.TriageUpdate{Assignee: ptr("dave")})
	must(t, err)
	w2 := w1
	w2.Version = 2
	must(t, s.UpsertIncident(ctx, w2))
	got, err = s.GetIncident(ctx, "assigned")
	must(t, err)
	if got.Status != correlate.StatusOpen || got.Assignee != "dave" || got.Version != 2 {
		t.Errorf("assigned open incident: status %q, assignee %q, version %d; want open, dave, 2", got.Status, got.Assignee, got.Version)
	}
	_, err = s.UpdateIncidentTriage(ctx, "assigned", store.TriageUpdate{Assignee: ptr("")})
	must(t, err)
	w3 := w1
	w3.Version, w3.Title = 3, "grown"
	must(t, s.UpsertIncident(ctx, w3))
	got, err = s.GetIncident(ctx, "assigned")
	must(t, err)
	equal(t, "reopened, unassigned incident", got, store.CanonicalIncident(w3))
}

// testIncidentEntitiesReplaced checks that an update's entity list replaces the
// old one in entity lookups.
func (h harness) testIncidentEntitiesReplaced(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	inc := fullIncident("moving", 1) // alice, web1
	must(t, s.UpsertIncident(ctx, inc))
	inc.Version, inc.Entities = 2, []detect.Entity{ip}
	must(t, s.UpsertIncident(ctx, inc))
	for _, tc := range []struct {
		entity detect.Entity
		want   []string
	}{{alice, nil}, {web1, nil}, {ip, []string{"moving"}}} {
		p, err := s.ListIncidents(ctx, store.IncidentQuery{Entity: tc.entity})
		must(t, err)
		equal(t, "incidents of "+tc.entity.Value, incidentIDs(p.Items), tc.want)
	}
	// A rejected update leaves the entities alone.
	stale := inc
	stale.Version, stale.Entities = 1, []detect.Entity{alice}
	wantErr(t, s.UpsertIncident(ctx, stale), store.ErrConflict, "stale update")
	p, err := s.ListIncidents(ctx, store.IncidentQuery{Entity: alice})
	must(t, err)
	equal(t, "incidents of alice after a conflict", incidentIDs(p.Items), []string(nil))
}

func (h harness) testIncidentInvalid(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	noID := fullIncident("", 1)
	backwards := fullIncident("backwards", 1)
	backwards.LastSeen = backwards.FirstSeen.Add(-time.Second)
	noTime := fullIncident("no-time", 1)
	noTime.FirstSeen = time.Time{}
	for name, inc := range map[string]correlate.Incident{"no id": noID, "last before first": backwards, "zero time": noTime} {
		wantErr(t, s.UpsertIncident(ctx, inc), store.ErrInvalid, name)
	}
}

func incidentIDs(incs []correlate.Incident) []string {
	var ids []string
	for _, inc := range incs {
		ids = append(ids, inc.ID)
	}
	return ids
}
