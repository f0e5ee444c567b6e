// Package storetest is the conformance suite every store.Store implementation
// runs: store/sqlite on a temporary directory, store/postgres against a test
// database. It is the executable form of the contract documented in package store.
//
// Usage, in an implementation's tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openEmpty(t) })
//	}
package storetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/store"
)

// Run runs the conformance suite. open must return a new, empty store for each
// call; the suite closes it (and closing it again must be harmless).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	h := harness{open: open}
	t.Run("Signals", func(t *testing.T) {
		t.Run("RoundTrip", h.testSignalRoundTrip)
		t.Run("Idempotent", h.testSignalIdempotent)
		t.Run("NotFound", h.testSignalNotFound)
		t.Run("Invalid", h.testSignalInvalid)
		t.Run("Filters", h.testSignalFilters)
		t.Run("PaginationTies", h.testSignalPaginationTies)
		t.Run("Limits", h.testSignalLimits)
		t.Run("BadCursor", h.testSignalBadCursor)
	})
	t.Run("Evidence", func(t *testing.T) {
		t.Run("RoundTrip", h.testEvidenceRoundTrip)
		t.Run("FromEvent", h.testEvidenceFromEvent)
		t.Run("Invalid", h.testEvidenceInvalid)
	})
	t.Run("Incidents", func(t *testing.T) {
		t.Run("RoundTrip", h.testIncidentRoundTrip)
		t.Run("Versioning", h.testIncidentVersioning)
		t.Run("ConcurrentUpdates", h.testIncidentConcurrentUpdates)
		t.Run("Filters", h.testIncidentFilters)
		t.Run("EntitiesReplaced", h.testIncidentEntitiesReplaced)
		t.Run("Invalid", h.testIncidentInvalid)
		t.Run("Triage", h.testIncidentTriage)
		t.Run("KeepsTriage", h.testIncidentKeepsTriage)
	})
	t.Run("ModelState", h.testModelState)
	t.Run("Feedback", func(t *testing.T) {
		t.Run("RoundTrip", h.testFeedbackRoundTrip)
		t.Run("ActiveAt", h.testFeedbackActiveAt)
		t.Run("Filters", h.testFeedbackFilters)
		t.Run("Invalid", h.testFeedbackInvalid)
	})
	t.Run("Audit", func(t *testing.T) {
		t.Run("AppendAndList", h.testAuditAppendAndList)
		t.Run("Filters", h.testAuditFilters)
		t.Run("Invalid", h.testAuditInvalid)
	})
	t.Run("Outbox", func(t *testing.T) {
		t.Run("Enqueue", h.testOutboxEnqueue)
		t.Run("Claim", h.testOutboxClaim)
		t.Run("List", h.testOutboxList)
		t.Run("ConcurrentClaims", h.testOutboxConcurrentClaims)
		t.Run("Invalid", h.testOutboxInvalid)
	})
	t.Run("Settings", func(t *testing.T) {
		t.Run("Revisions", h.testSettingRevisions)
		t.Run("Invalid", h.testSettingInvalid)
		t.Run("MaxSize", h.testSettingMaxSize)
		t.Run("Concurrent", h.testSettingConcurrent)
	})
	t.Run("Close", h.testClose)
	t.Run("ConcurrentWriters", h.testConcurrentWriters)
}

type harness struct {
	open func(t *testing.T) store.Store
}

// store opens a fresh store that is closed when the test ends.
func (h harness) store(t *testing.T) store.Store {
	t.Helper()
	s := h.open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// base is a time with nanoseconds in a non-UTC zone: the store must keep every
// nanosecond and hand it back in UTC.
var base = time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// equal compares with reflect.DeepEqual and prints both values as JSON when they
// differ.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s differs\n got: %s\nwant: %s", what, g, w)
	}
}

// inUTC checks that tm is in UTC (the location, not just the instant).
func inUTC(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.Location() != time.UTC {
		t.Errorf("%s: location %v, want UTC", what, tm.Location())
	}
}

// utc is the stored form of a time: UTC, no monotonic reading; zero stays zero.
func utc(tm time.Time) time.Time {
	if tm.IsZero() {
		return time.Time{}
	}
	return tm.UTC().Round(0)
}

// collect follows cursors from the first page to the last, failing on a page
// larger than limit or on a loop.
func collect[T any](t *testing.T, limit int, list func(cursor string) (store.Page[T], error)) []T {
	t.Helper()
	var all []T
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatal("pagination does not end")
		}
		p, err := list(cursor)
		if err != nil {
			t.Fatalf("listing page %d: %v", pages, err)
		}
		if limit > 0 && len(p.Items) > limit {
			t.Fatalf("page %d has %d items, limit %d", pages, len(p.Items), limit)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		if len(p.Items) == 0 {
			t.Fatalf("page %d is empty but has a next cursor", pages)
		}
		cursor = p.Next
	}
}
