package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

// testClose checks that Close is idempotent and that every method fails with
// ErrClosed afterwards, without panicking.
func (h harness) testClose(t *testing.T) {
	s := h.open(t)
	ctx := t.Context()
	must(t, s.PutSignals(ctx, []detect.Signal{fullSignal("before-close", base)}))
	must(t, s.Close())
	must(t, s.Close())

	calls := map[string]func() error{
		"PutSignals": func() error { return s.PutSignals(ctx, []detect.Signal{fullSignal("after", base)}) },
		"GetSignal":  func() error { _, err := s.GetSignal(ctx, "before-close"); return err },
		"ListSignals": func() error {
			_, err := s.ListSignals(ctx, store.SignalQuery{})
			return err
		},
		"PutEvidence": func() error {
			return s.PutEvidence(ctx, []store.Evidence{{EventID: "e", Time: base, JSON: json.RawMessage(`{}`)}})
		},
		"GetEvidence":    func() error { _, err := s.GetEvidence(ctx, []string{"e"}); return err },
		"UpsertIncident": func() error { return s.UpsertIncident(ctx, fullIncident("i", 1)) },
		"GetIncident":    func() error { _, err := s.GetIncident(ctx, "i"); return err },
		"ListIncidents": func() error {
			_, err := s.ListIncidents(ctx, store.IncidentQuery{})
			return err
		},
		"PutModelState": func() error {
			return s.PutModelState(ctx, store.ModelState{ModelID: "m", Updated: base})
		},
		"GetModelState":   func() error { _, err := s.GetModelState(ctx, "m", ""); return err },
		"ListModelStates": func() error { _, err := s.ListModelStates(ctx, "m"); return err },
		"PutFeedback":     func() error { return s.PutFeedback(ctx, fullFeedback("f")) },
		"ListFeedback": func() error {
			_, err := s.ListFeedback(ctx, store.FeedbackQuery{})
			return err
		},
		"AppendAudit": func() error {
			_, err := s.AppendAudit(ctx, store.AuditEntry{Time: base, Actor: "a", Action: "b"})
			return err
		},
		"ListAudit": func() error { _, err := s.ListAudit(ctx, store.AuditQuery{}); return err },
		"EnqueueOutbox": func() error {
			_, err := s.EnqueueOutbox(ctx, []store.OutboxItem{outboxItem("o", base)})
			return err
		},
		"ClaimOutbox": func() error {
			_, err := s.ClaimOutbox(ctx, store.OutboxClaim{Owner: "d", Now: base, Lease: time.Second})
			return err
		},
		"MarkOutbox": func() error {
			return s.MarkOutbox(ctx, store.OutboxResult{Key: "o", State: store.OutboxFailed, Now: base})
		},
		"ListOutbox": func() error { _, err := s.ListOutbox(ctx, store.OutboxQuery{}); return err },
		"GetSetting": func() error { _, err := s.GetSetting(ctx, "s"); return err },
		"PutSetting": func() error { _, err := s.PutSetting(ctx, "s", []byte("x"), 0); return err },
	}
	for name, call := range calls {
		wantErr(t, call(), store.ErrClosed, name+" after Close")
	}
}

// testConcurrentWriters puts signals, evidence and audit entries from several
// goroutines while others read; nothing may be lost or duplicated.
func (h harness) testConcurrentWriters(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	const writers, batches, perBatch = 8, 10, 50
	var wg sync.WaitGroup
	errs := make(chan error, 3*writers)
	auditIDs := make([][]int64, writers)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				batch := make([]detect.Signal, perBatch)
				evidence := make([]store.Evidence, perBatch)
				for i := range batch {
					n := (w*batches+b)*perBatch + i
					batch[i] = detect.Signal{ID: fmt.Sprintf("w%d-%05d", w, n), Time: base.Add(time.Duration(n%97) * time.Millisecond),
						DetectorID: "sigma", Entities: []detect.Entity{alice}}
					evidence[i] = store.Evidence{EventID: fmt.Sprintf("ev-%05d", n), Time: base, JSON: json.RawMessage(`{}`)}
				}
				if err := s.PutSignals(ctx, batch); err != nil {
					errs <- err
					return
				}
				if err := s.PutEvidence(ctx, evidence); err != nil {
					errs <- err
					return
				}
				id, err := s.AppendAudit(ctx, store.AuditEntry{Time: base, Actor: fmt.Sprintf("writer-%d", w), Action: "batch"})
				if err != nil {
					errs <- err
					return
				}
				auditIDs[w] = append(auditIDs[w], id)
			}
		})
	}
	for range 2 {
		wg.Go(func() { // readers alongside the writers
			for range 20 {
				if _, err := s.ListSignals(ctx, store.SignalQuery{Entity: alice, Limit: 50}); err != nil {
					errs <- err
					return
				}
				if _, err := s.ListIncidents(ctx, store.IncidentQuery{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() { // an incident writer contending for the same writer
		for v := int64(1); v <= 20; v++ {
			inc := correlate.Incident{ID: "busy", FirstSeen: base, LastSeen: base, Version: v}
			if err := s.UpsertIncident(ctx, inc); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	got := collect(t, store.MaxLimit, func(cur string) (store.Page[detect.Signal], error) {
		return s.ListSignals(ctx, store.SignalQuery{Limit: store.MaxLimit, Cursor: cur})
	})
	seen := make(map[string]bool, len(got))
	for _, sig := range got {
		if seen[sig.ID] {
			t.Fatalf("signal %s listed twice", sig.ID)
		}
		seen[sig.ID] = true
	}
	if len(seen) != writers*batches*perBatch {
		t.Errorf("%d signals stored, want %d", len(seen), writers*batches*perBatch)
	}
	byEntity := collect(t, store.MaxLimit, func(cur string) (store.Page[detect.Signal], error) {
		return s.ListSignals(ctx, store.SignalQuery{Entity: alice, Limit: store.MaxLimit, Cursor: cur})
	})
	if len(byEntity) != writers*batches*perBatch {
		t.Errorf("%d signals by entity, want %d", len(byEntity), writers*batches*perBatch)
	}
	ev, err := s.GetEvidence(ctx, []string{"ev-00000", fmt.Sprintf("ev-%05d", writers*batches*perBatch-1)})
	must(t, err)
	if len(ev) != 2 {
		t.Errorf("got %d of 2 evidence records", len(ev))
	}
	audit := collect(t, store.MaxLimit, func(cur string) (store.Page[store.AuditEntry], error) {
		return s.ListAudit(ctx, store.AuditQuery{Limit: store.MaxLimit, Cursor: cur})
	})
	ids := make(map[int64]bool)
	for _, e := range audit {
		ids[e.ID] = true
	}
	for w, mine := range auditIDs {
		for _, id := range mine {
			if !ids[id] {
				t.Errorf("writer %d's audit entry %d is missing", w, id)
			}
		}
	}
	if len(audit) != writers*batches || len(ids) != len(audit) {
		t.Errorf("%d audit entries (%d distinct ids), want %d", len(audit), len(ids), writers*batches)
	}
	inc, err := s.GetIncident(ctx, "busy")
	must(t, err)
	if inc.Version != 20 {
		t.Errorf("incident version %d, want 20", inc.Version)
	}
}
