package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// storeBatch is how many signals are written per transaction.
const storeBatch = 1000

// storeSink persists a run's signals and evidence in batches. Writes are idempotent
// (by signal id and event id), so hunting the same data twice stores it once.
type storeSink struct {
	st       store.Store
	signals  []detect.Signal
	evidence []store.Evidence
	stored   int
	// known holds the signals already stored before this run (by id): the
	// correlator has seen them, so they are not correlated again
	known map[string]bool
	// incidents is what the run's correlation did, for the audit entry
	incidents *correlation
}

func openStoreSink(ctx context.Context, dir string) (*storeSink, error) {
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	return &storeSink{st: st, known: map[string]bool{}}, nil
}

func (s *storeSink) add(ctx context.Context, d pipeline.Detection) error {
	s.signals = append(s.signals, d.Signal)
	for _, ev := range d.Evidence {
		s.evidence = append(s.evidence, store.Evidence{EventID: ev.ID, Time: ev.Time, Source: ev.Source, Format: ev.Format, JSON: ev.JSON})
	}
	if len(s.signals) >= storeBatch {
		return s.flush(ctx)
	}
	return nil
}

func (s *storeSink) flush(ctx context.Context) error {
	// Evidence first: a stored signal never points at evidence that is not there.
	if len(s.evidence) > 0 {
		if err := s.st.PutEvidence(ctx, s.evidence); err != nil {
			return fmt.Errorf("storing evidence: %w", err)
		}
	}
	if len(s.signals) > 0 {
		for _, sig := range s.signals {
			_, err := s.st.GetSignal(ctx, sig.ID)
			switch {
			case err == nil:
				s.known[sig.ID] = true
			case !errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("storing signals: looking up signal %s: %w", sig.ID, err)
			}
		}
		if err := s.st.PutSignals(ctx, s.signals); err != nil {
			return fmt.Errorf("storing signals: %w", err)
		}
	}
	s.stored += len(s.signals)
	s.signals, s.evidence = s.signals[:0], s.evidence[:0]
	return nil
}

// finish writes what is pending and records the run in the audit log.
func (s *storeSink) finish(ctx context.Context, paths []string, st *pipeline.Stats, runErr error) error {
	if err := s.flush(ctx); err != nil {
		return err
	}
	details := map[string]any{
		"paths": paths, "events": st.Events, "rejected": st.Rejected, "signals": st.Signals,
		"events_by_format": st.EventsByFormat, "rejected_by_reason": st.RejectedByReason,
	}
	if c := s.incidents; c != nil {
		details["incidents_changed"] = c.changed
		details["incidents_merged"] = c.merged
		details["signals_already_stored"] = c.skipped
	}
	if runErr != nil {
		details["error"] = runErr.Error()
	}
	b, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("encoding audit details: %w", err)
	}
	actor := "cli"
	if u := os.Getenv("USER"); u != "" {
		actor = "cli:" + u
	}
	if _, err := s.st.AppendAudit(ctx, store.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: "hunt", Target: "signals", Details: b}); err != nil {
		return fmt.Errorf("recording the run in the audit log: %w", err)
	}
	return nil
}

func (s *storeSink) close() { _ = s.st.Close() }
