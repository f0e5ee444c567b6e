package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store"
)

func (h harness) testEvidenceRoundTrip(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	// Unusual but valid JSON formatting must survive byte for byte.
	a := store.Evidence{EventID: "ev-a", Time: base, Source: "/logs/a.evtx", Format: "evtx",
		JSON: json.RawMessage(`{"@timestamp":"2024-03-01T11:00:00.123456789Z", "raw":{"EventID":"4688"},"x":[1,2.50,"é"]}`)}
	b := store.Evidence{EventID: "ev-b", Time: base.Add(time.Nanosecond), Source: "syslog://10.0.0.1", Format: "syslog",
		JSON: json.RawMessage(`{"message":"sshd[42]: Failed password"}`)}
	must(t, s.PutEvidence(ctx, []store.Evidence{a, b}))
	changed := a
	changed.JSON = json.RawMessage(`{"changed":true}`)
	must(t, s.PutEvidence(ctx, []store.Evidence{changed, b})) // redelivery: first write wins
	must(t, s.PutEvidence(ctx, nil))

	got, err := s.GetEvidence(ctx, []string{"ev-b", "missing", "ev-a", "ev-b"})
	must(t, err)
	want := []store.Evidence{b, a}
	for i := range want {
		want[i].Time = utc(want[i].Time)
	}
	equal(t, "evidence", got, want)
	for _, ev := range got {
		inUTC(t, "evidence time", ev.Time)
	}
	none, err := s.GetEvidence(ctx, []string{"missing"})
	must(t, err)
	if len(none) != 0 {
		t.Errorf("got %d evidence records for a missing id, want none", len(none))
	}
	none, err = s.GetEvidence(ctx, nil)
	must(t, err)
	if len(none) != 0 {
		t.Errorf("got %d evidence records for no ids", len(none))
	}

	// Many ids at once (beyond any bound-parameter limit an implementation has).
	var many []store.Evidence
	var ids []string
	for i := range 1500 {
		id := fmt.Sprintf("bulk-%04d", i)
		many = append(many, store.Evidence{EventID: id, Time: base, Source: "s", Format: "f", JSON: json.RawMessage(`{}`)})
		ids = append(ids, id)
	}
	must(t, s.PutEvidence(ctx, many))
	slices.Reverse(ids)
	got, err = s.GetEvidence(ctx, ids)
	must(t, err)
	if len(got) != len(ids) || got[0].EventID != ids[0] || got[len(got)-1].EventID != ids[len(ids)-1] {
		t.Errorf("bulk get: %d records, want %d in the order asked", len(got), len(ids))
	}
}

func (h harness) testEvidenceFromEvent(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	var e event.Event
	e.Timestamp = base
	e.Origin = event.Origin{Source: "/logs/Security.evtx", Format: "evtx", Offset: 69632, Record: 1234}
	e.SetHost("WEB-1.corp.example")
	e.AddRaw(event.MakeKey("EventID"), "4624")
	ev := store.EvidenceFromEvent(&e)
	if ev.EventID != e.ID() || ev.Format != "evtx" || !json.Valid(ev.JSON) {
		t.Fatalf("EvidenceFromEvent = %+v", ev)
	}
	must(t, s.PutEvidence(ctx, []store.Evidence{ev}))
	got, err := s.GetEvidence(ctx, []string{e.ID()})
	must(t, err)
	if len(got) != 1 || !bytes.Equal(got[0].JSON, e.AppendJSON(nil)) || !got[0].Time.Equal(base) {
		t.Errorf("stored evidence %+v does not match the event", got)
	}
}

func (h harness) testEvidenceInvalid(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	ok := store.Evidence{EventID: "ok", Time: base, JSON: json.RawMessage(`{}`)}
	for name, ev := range map[string]store.Evidence{
		"no id":     {Time: base, JSON: json.RawMessage(`{}`)},
		"zero time": {EventID: "x", JSON: json.RawMessage(`{}`)},
		"bad json":  {EventID: "x", Time: base, JSON: json.RawMessage(`{"truncated":`)},
		"no json":   {EventID: "x", Time: base},
	} {
		wantErr(t, s.PutEvidence(ctx, []store.Evidence{ok, ev}), store.ErrInvalid, name)
	}
	got, err := s.GetEvidence(ctx, []string{"ok"})
	must(t, err)
	if len(got) != 0 {
		t.Error("a batch with invalid evidence stored some of it")
	}
}

func (h harness) testModelState(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	m := "behavior/logon-hours"
	states := []store.ModelState{
		{ModelID: m, Key: "user:bob", Version: 3, Updated: base, Blob: []byte{0, 1, 2, 0xff}},
		{ModelID: m, Key: "user:alice", Version: 3, Since: base.Add(-72 * time.Hour), Updated: base.Add(time.Nanosecond), Blob: []byte("baseline")},
		{ModelID: m, Key: "", Version: 1, Updated: base}, // global partition, empty blob
		{ModelID: "behavior/other", Key: "user:alice", Version: 1, Updated: base, Blob: []byte("x")},
	}
	for _, st := range states {
		must(t, s.PutModelState(ctx, st))
	}
	update := states[0]
	update.Version, update.Updated, update.Blob, update.Since = 4, base.Add(time.Hour), []byte("newer"), base.Add(-time.Hour)
	must(t, s.PutModelState(ctx, update))

	got, err := s.GetModelState(ctx, m, "user:bob")
	must(t, err)
	want := update
	want.Updated, want.Since = utc(want.Updated), utc(want.Since)
	equal(t, "updated state", got, want)
	inUTC(t, "updated", got.Updated)

	list, err := s.ListModelStates(ctx, m)
	must(t, err)
	var wantList []store.ModelState
	for _, st := range []store.ModelState{states[2], states[1], update} { // ordered by key
		st.Updated, st.Since = utc(st.Updated), utc(st.Since)
		wantList = append(wantList, st)
	}
	equal(t, "states of "+m, list, wantList)

	_, err = s.GetModelState(ctx, m, "user:nobody")
	wantErr(t, err, store.ErrNotFound, "GetModelState")
	empty, err := s.ListModelStates(ctx, "no-such-model")
	must(t, err)
	if len(empty) != 0 {
		t.Errorf("unknown model has %d states", len(empty))
	}
	wantErr(t, s.PutModelState(ctx, store.ModelState{Key: "k", Updated: base}), store.ErrInvalid, "no model id")
	wantErr(t, s.PutModelState(ctx, store.ModelState{ModelID: m, Key: "k"}), store.ErrInvalid, "zero time")
	wantErr(t, s.PutModelState(ctx, store.ModelState{ModelID: m, Key: "k", Since: base.Add(time.Second), Updated: base}), store.ErrInvalid, "training start after its end")
}

func fullFeedback(id string) store.Feedback {
	return store.Feedback{
		ID:         id,
		TargetKind: store.TargetRule,
		TargetID:   "5af54681-df95-4c26-854f-2565e13cfab0",
		Verdict:    store.VerdictBenignTruePositive,
		Reason:     "backup agent runs encoded PowerShell nightly",
		Scope:      "host:backup-1.corp.example",
		Expires:    base.Add(30 * 24 * time.Hour),
		Author:     "analyst@corp.example",
		Created:    base,
	}
}

func (h harness) testFeedbackRoundTrip(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	full := fullFeedback("fb-1")
	forever := store.Feedback{ID: "fb-2", TargetKind: store.TargetSignal, TargetID: "sig-1",
		Verdict: store.VerdictFalsePositive, Author: "a", Created: base.Add(time.Nanosecond)}
	must(t, s.PutFeedback(ctx, full))
	must(t, s.PutFeedback(ctx, forever))
	edited := full
	edited.Verdict, edited.Expires = store.VerdictTruePositive, time.Time{}
	must(t, s.PutFeedback(ctx, edited)) // same id: replaces

	p, err := s.ListFeedback(ctx, store.FeedbackQuery{Order: store.OrderAsc})
	must(t, err)
	var want []store.Feedback
	for _, fb := range []store.Feedback{edited, forever} {
		fb.Created, fb.Expires = utc(fb.Created), utc(fb.Expires)
		want = append(want, fb)
	}
	equal(t, "feedback", p.Items, want)
	for _, fb := range p.Items {
		inUTC(t, "created", fb.Created)
	}
	p, err = s.ListFeedback(ctx, store.FeedbackQuery{TargetKind: store.TargetRule})
	must(t, err)
	if len(p.Items) != 1 || !p.Items[0].Expires.IsZero() {
		t.Errorf("edited feedback: %+v, want one with no expiry", p.Items)
	}
}

func (h harness) testFeedbackActiveAt(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	expiring := fullFeedback("expiring") // base .. base+30d
	forever := fullFeedback("forever")
	forever.Expires = time.Time{}
	forever.Created = base.Add(time.Hour)
	must(t, s.PutFeedback(ctx, expiring))
	must(t, s.PutFeedback(ctx, forever))
	for _, tc := range []struct {
		name string
		at   time.Time
		want []string
	}{
		{"before any", base.Add(-time.Nanosecond), nil},
		{"at creation", base, []string{"expiring"}},
		{"both", base.Add(2 * time.Hour), []string{"forever", "expiring"}},
		{"just before expiry", expiring.Expires.Add(-time.Nanosecond), []string{"forever", "expiring"}},
		{"at expiry", expiring.Expires, []string{"forever"}},
		{"years later", base.AddDate(10, 0, 0), []string{"forever"}},
	} {
		p, err := s.ListFeedback(ctx, store.FeedbackQuery{ActiveAt: tc.at})
		must(t, err)
		equal(t, tc.name, feedbackIDs(p.Items), tc.want)
		for _, fb := range []store.Feedback{expiring, forever} {
			if fb.ActiveAt(tc.at) != slices.Contains(tc.want, fb.ID) {
				t.Errorf("%s: Feedback.ActiveAt disagrees with the store for %s", tc.name, fb.ID)
			}
		}
	}
}

func (h harness) testFeedbackFilters(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	kinds := []store.TargetKind{store.TargetSignal, store.TargetIncident, store.TargetRule, store.TargetEntity}
	verdicts := []store.Verdict{store.VerdictTruePositive, store.VerdictBenignTruePositive, store.VerdictFalsePositive, store.VerdictDuplicate}
	var set []store.Feedback
	for i := range 30 {
		set = append(set, store.Feedback{
			ID: fmt.Sprintf("fb-%02d", i), TargetKind: kinds[i%4], TargetID: fmt.Sprintf("target-%d", i%3),
			Verdict: verdicts[(i/3)%4], Author: "a",
			Created: base.Add(time.Duration(i/2) * time.Minute), // pairs share a creation time
		})
	}
	for _, fb := range set {
		must(t, s.PutFeedback(ctx, fb))
	}
	for name, q := range map[string]store.FeedbackQuery{
		"all":         {},
		"ascending":   {Order: store.OrderAsc},
		"kind":        {TargetKind: store.TargetIncident},
		"target":      {TargetKind: store.TargetSignal, TargetID: "target-0"},
		"verdict":     {Verdict: store.VerdictFalsePositive},
		"active from": {ActiveAt: base.Add(5 * time.Minute), Order: store.OrderAsc},
	} {
		var want []string
		for _, fb := range set {
			if (q.TargetKind == "" || fb.TargetKind == q.TargetKind) && (q.TargetID == "" || fb.TargetID == q.TargetID) &&
				(q.Verdict == "" || fb.Verdict == q.Verdict) && (q.ActiveAt.IsZero() || fb.ActiveAt(q.ActiveAt)) {
				want = append(want, fb.ID)
			}
		}
		if q.Order == store.OrderDesc {
			slices.Reverse(want) // newest first, ties by id descending
		}
		for _, limit := range []int{0, 4} {
			got := collect(t, limit, func(cur string) (store.Page[store.Feedback], error) {
				q := q
				q.Limit, q.Cursor = limit, cur
				return s.ListFeedback(ctx, q)
			})
			equal(t, fmt.Sprintf("%s, limit %d", name, limit), feedbackIDs(got), want)
		}
	}
	_, err := s.ListFeedback(ctx, store.FeedbackQuery{Verdict: "maybe"})
	wantErr(t, err, store.ErrInvalid, "unknown verdict in query")
}

func (h harness) testFeedbackInvalid(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	mutate := func(f func(*store.Feedback)) store.Feedback {
		fb := fullFeedback("x")
		f(&fb)
		return fb
	}
	for name, fb := range map[string]store.Feedback{
		"no id":           mutate(func(f *store.Feedback) { f.ID = "" }),
		"unknown kind":    mutate(func(f *store.Feedback) { f.TargetKind = "host" }),
		"no target":       mutate(func(f *store.Feedback) { f.TargetID = "" }),
		"unknown verdict": mutate(func(f *store.Feedback) { f.Verdict = "maybe" }),
		"zero created":    mutate(func(f *store.Feedback) { f.Created = time.Time{} }),
	} {
		wantErr(t, s.PutFeedback(ctx, fb), store.ErrInvalid, name)
	}
}

func feedbackIDs(fbs []store.Feedback) []string {
	var ids []string
	for _, fb := range fbs {
		ids = append(ids, fb.ID)
	}
	return ids
}

func (h harness) testAuditAppendAndList(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	entries := []store.AuditEntry{
		{Time: base, Actor: "analyst@corp.example", Action: "incident.acknowledge", Target: "incident:inc-1",
			Details: json.RawMessage(`{"from":"open","to":"acknowledged"}`)},
		// Audit times are when someone acted; they need not be monotonic.
		{Time: base.Add(-time.Hour), Actor: "system", Action: "store.migrate"},
		{Time: base.Add(time.Nanosecond), Actor: "analyst@corp.example", Action: "feedback.put", Target: "feedback:fb-1",
			Details: json.RawMessage(`[1, "two" ,null]`)},
	}
	var ids []int64
	for _, e := range entries {
		id, err := s.AppendAudit(ctx, e)
		must(t, err)
		if len(ids) > 0 && id <= ids[len(ids)-1] {
			t.Errorf("audit id %d after %d: ids must increase", id, ids[len(ids)-1])
		}
		ids = append(ids, id)
	}
	var want []store.AuditEntry
	for i, e := range entries {
		e.ID, e.Time = ids[i], utc(e.Time)
		want = append(want, e)
	}
	p, err := s.ListAudit(ctx, store.AuditQuery{Order: store.OrderAsc})
	must(t, err)
	equal(t, "audit log, oldest first", p.Items, want)
	for _, e := range p.Items {
		inUTC(t, "audit time", e.Time)
	}
	slices.Reverse(want)
	got := collect(t, 1, func(cur string) (store.Page[store.AuditEntry], error) {
		return s.ListAudit(ctx, store.AuditQuery{Limit: 1, Cursor: cur})
	})
	equal(t, "audit log, newest first, one per page", got, want)

	// Appending more leaves earlier entries exactly as they were.
	for range 5 {
		_, err := s.AppendAudit(ctx, store.AuditEntry{Time: base, Actor: "system", Action: "noop"})
		must(t, err)
	}
	p, err = s.ListAudit(ctx, store.AuditQuery{Order: store.OrderAsc, Limit: 3})
	must(t, err)
	slices.Reverse(want)
	equal(t, "first entries after more appends", p.Items, want)
}

func (h harness) testAuditFilters(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	actors := []string{"alice", "bob", "system"}
	actions := []string{"incident.close", "feedback.put"}
	var all []store.AuditEntry
	for i := range 24 {
		e := store.AuditEntry{Time: base.Add(time.Duration(i) * time.Second), Actor: actors[i%3], Action: actions[i%2],
			Target: fmt.Sprintf("incident:%d", i%4)}
		id, err := s.AppendAudit(ctx, e)
		must(t, err)
		e.ID, e.Time = id, utc(e.Time)
		all = append(all, e)
	}
	for name, q := range map[string]store.AuditQuery{
		"actor":      {Actor: "bob"},
		"action":     {Action: "feedback.put", Order: store.OrderAsc},
		"target":     {Target: "incident:2"},
		"time range": {TimeRange: store.TimeRange{Since: base.Add(5 * time.Second), Until: base.Add(9 * time.Second)}},
		"combined":   {Actor: "alice", Action: "incident.close", TimeRange: store.TimeRange{Since: base.Add(3 * time.Second)}},
	} {
		var want []int64
		for _, e := range all {
			if (q.Actor == "" || e.Actor == q.Actor) && (q.Action == "" || e.Action == q.Action) &&
				(q.Target == "" || e.Target == q.Target) && (q.Since.IsZero() || !e.Time.Before(q.Since)) &&
				(q.Until.IsZero() || e.Time.Before(q.Until)) {
				want = append(want, e.ID)
			}
		}
		if q.Order == store.OrderDesc {
			slices.Reverse(want)
		}
		got := collect(t, 2, func(cur string) (store.Page[store.AuditEntry], error) {
			q := q
			q.Limit, q.Cursor = 2, cur
			return s.ListAudit(ctx, q)
		})
		var gotIDs []int64
		for _, e := range got {
			gotIDs = append(gotIDs, e.ID)
		}
		equal(t, name, gotIDs, want)
	}
}

func (h harness) testAuditInvalid(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	for name, e := range map[string]store.AuditEntry{
		"no actor":    {Time: base, Action: "x"},
		"no action":   {Time: base, Actor: "x"},
		"zero time":   {Actor: "x", Action: "x"},
		"bad details": {Time: base, Actor: "x", Action: "x", Details: json.RawMessage(`{`)},
	} {
		_, err := s.AppendAudit(ctx, e)
		wantErr(t, err, store.ErrInvalid, name)
	}
	p, err := s.ListAudit(ctx, store.AuditQuery{})
	must(t, err)
	if len(p.Items) != 0 {
		t.Errorf("invalid entries were appended: %+v", p.Items)
	}
}
