package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior"
	"github.com/vigilsec/vigil/internal/escalate"
	"github.com/vigilsec/vigil/internal/feedback"
	"github.com/vigilsec/vigil/internal/report"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/stream"
	"github.com/vigilsec/vigil/internal/triage"
)

// correlatorModelID names the correlator's state in the store.
const correlatorModelID = "correlate"

// correlation is one run's correlation: the incidents it created or changed and
// what it did.
type correlation struct {
	incidents []correlate.Incident // created or changed by this run, ranked by risk, of at least minRisk
	updated   []correlate.Incident // created or changed by this run, any risk
	changed   int                  // created or changed by this run, any risk
	merged    int                  // incidents that ended by joining another
	skipped   int                  // signals already correlated by an earlier run
	stats     correlate.Stats
	// entities are the riskiest users, hosts, workloads and principals at the
	// run's last signal, with the breakdown of each score
	entities []risk.Breakdown
}

// correlateRun groups signals (sorted by time) into incidents. With a store it
// first restores the correlator's open incidents from the previous run, so an
// attack spanning two batches stays one incident under one id; it leaves out
// signals an earlier run already stored (hunting the same file twice changes
// nothing), stores the incidents this run created or changed (keeping an
// analyst's status), marks merged ones, and saves the open incidents for the
// next run. Incidents idle for longer than the window are closed and no longer
// held in memory.
func correlateRun(ctx context.Context, st store.Store, known map[string]bool, signals []detect.Signal, minRisk float64, topEntities int, opts correlate.Options) (correlation, error) {
	c := correlate.New(opts)
	var res correlation
	if st != nil {
		ms, err := st.GetModelState(ctx, correlatorModelID, "")
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return res, fmt.Errorf("loading the correlator's state: %w", err)
		default:
			if err := c.Restore(bytes.NewReader(ms.Blob)); err != nil {
				return res, fmt.Errorf("restoring the correlator's state (remove it with a fresh --data-dir if it cannot be used): %w", err)
			}
		}
	}
	var last time.Time
	for _, s := range signals {
		if known[s.ID] {
			res.skipped++
			continue
		}
		c.Add(s)
		if s.Time.After(last) {
			last = s.Time
		}
	}
	updated, merges := c.Updated()
	if !last.IsZero() && topEntities > 0 {
		res.entities = c.PeakEntityRisk(topEntities)
	}
	if !last.IsZero() {
		c.Expire(last) // what the window no longer holds need not be carried to the next run
	}
	res.changed, res.merged, res.stats, res.updated = len(updated), len(merges), c.Stats(), updated
	if st != nil && !last.IsZero() {
		if err := stream.StoreIncidents(ctx, st, updated, merges); err != nil {
			return res, err
		}
		var buf bytes.Buffer
		if err := c.Snapshot(&buf); err != nil {
			return res, err
		}
		if err := st.PutModelState(ctx, store.ModelState{ModelID: correlatorModelID, Version: 1, Updated: last, Blob: buf.Bytes()}); err != nil {
			return res, fmt.Errorf("saving the correlator's state: %w", err)
		}
	}
	for _, inc := range updated {
		if inc.Risk >= minRisk {
			res.incidents = append(res.incidents, inc)
		}
	}
	report.SortIncidents(res.incidents)
	return res, nil
}

// verdicts is what analysts said, applied to a run.
type verdicts struct {
	book       *feedback.Book
	loaded     int // verdicts taken
	unusable   int // verdicts refused (unknown target, bad scope)
	suppressed int // signals suppressed
}

// readVerdicts reads the verdict files and, with a store, the verdicts stored
// there (vigil feedback, the API). Rejected lines are reported on w.
func readVerdicts(ctx context.Context, files []string, st store.Store, w io.Writer) ([]store.Feedback, error) {
	var all []store.Feedback
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--feedback: %w", err)}
		}
		got, rejected, err := feedback.Read(fh, f)
		_ = fh.Close()
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--feedback: %w", err)}
		}
		for i, r := range rejected {
			if i == 5 {
				fmt.Fprintf(w, "vigil: %s: %d more lines rejected\n", f, len(rejected)-5)
				break
			}
			fmt.Fprintf(w, "vigil: rejected %v\n", r)
		}
		all = append(all, got...)
	}
	if st != nil {
		stored, err := storedVerdicts(ctx, st)
		if err != nil {
			return nil, err
		}
		all = append(all, stored...)
	}
	return all, nil
}

// buildVerdicts builds the feedback book from the verdicts read. Targets are
// looked up among this run's signals, then in the store. Verdicts that cannot
// be used are reported on w and counted; the others apply.
func buildVerdicts(ctx context.Context, all []store.Feedback, st store.Store, signals []detect.Signal, w io.Writer, quiet bool) *verdicts {
	if len(all) == 0 {
		return nil
	}
	look := verdictLookup(ctx, st, signals)
	v := &verdicts{book: feedback.New(feedback.Prior{})}
	for _, fb := range all {
		if err := v.book.Add(fb, look); err != nil {
			v.unusable++
			if !quiet && v.unusable <= 5 {
				fmt.Fprintf(w, "vigil: verdict not applied: %v\n", err)
			}
			continue
		}
		v.loaded++
	}
	return v
}

// markNormal passes the "this is normal" of false and benign verdicts on
// stored behavioral signals to the models that emitted them, before the run's
// events reach the models: what an analyst called normal is not reported again.
// Verdicts on signals not yet stored (this run's) apply from the next run. It
// returns how many marks a model took.
func markNormal(ctx context.Context, all []store.Feedback, st store.Store, eng *behavior.Engine) int {
	if len(all) == 0 || st == nil || eng == nil {
		return 0
	}
	book := feedback.New(feedback.Prior{})
	look := verdictLookup(ctx, st, nil)
	for _, fb := range all {
		_ = book.Add(fb, look) // what cannot be used is reported once, after the run
	}
	n := 0
	for _, m := range book.Normal() {
		if _, taken := eng.MarkNormalFor(m.Detector, m.Entity, m.Attribute, m.Until); taken {
			n++
		}
	}
	return n
}

// storedVerdicts reads every verdict in the store, oldest first.
func storedVerdicts(ctx context.Context, st store.Store) ([]store.Feedback, error) {
	var all []store.Feedback
	q := store.FeedbackQuery{Order: store.OrderAsc, Limit: store.MaxLimit}
	for {
		page, err := st.ListFeedback(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("reading stored verdicts: %w", err)
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all, nil
		}
		q.Cursor = page.Next
	}
}

// verdictLookup finds verdicts' targets: signals among signals (this run's),
// then in the store; incidents in the store (st may be nil: no incidents).
func verdictLookup(ctx context.Context, st store.Store, signals []detect.Signal) feedback.Lookup {
	return feedback.StoreLookup(ctx, st, signals)
}

// incidentSignals are the incident's signals that signal finds, in its order.
func incidentSignals(inc correlate.Incident, signal func(id string) (detect.Signal, bool)) []detect.Signal {
	return feedback.IncidentSignals(inc, signal)
}

// apply drops the signals a verdict suppresses and returns the rest.
func (v *verdicts) apply(signals []detect.Signal) []detect.Signal {
	if v == nil {
		return signals
	}
	out := signals[:0:0]
	for i := range signals {
		if _, ok := v.book.Suppressed(&signals[i]); ok {
			v.suppressed++
			continue
		}
		out = append(out, signals[i])
	}
	return out
}

// precision is the correlator's view of the rules' precision (nil without verdicts).
func (v *verdicts) precision() func(string, string) float64 {
	if v == nil {
		return nil
	}
	return v.book.Precision
}

// escalateRun matches the incidents a run created or changed against the
// escalation policies, queues the notifications in the store's outbox
// (idempotently: the same incident version is never queued twice), and
// delivers what is due now. What fails and will be retried stays in the outbox
// for the next run (or the service). It returns the counts for the summary.
func escalateRun(ctx context.Context, st store.Store, policies *escalate.Policies, updated []correlate.Incident,
	crit escalate.CriticalityFunc, log *slog.Logger) (queued, claimed int, err error) {
	eng, err := escalate.NewEngine(escalate.EngineOptions{Store: st, Policies: policies, Criticality: crit, Logger: log})
	if err != nil {
		return 0, 0, err
	}
	for _, inc := range updated {
		n, err := eng.Evaluate(ctx, inc)
		if err != nil {
			return queued, 0, fmt.Errorf("escalating incident %s: %w", inc.ID, err)
		}
		queued += n
	}
	d, err := escalate.NewDispatcher(escalate.DispatcherOptions{Store: st, Policies: policies, Logger: log, Version: Version})
	if err != nil {
		return queued, 0, err
	}
	// Deliver what is due; items whose retry is later are left for later.
	for range 1000 {
		n, err := d.RunOnce(ctx)
		claimed += n
		if err != nil {
			return queued, claimed, err
		}
		if n == 0 {
			break
		}
	}
	// The agent's actions are audited like an analyst's.
	details, err := json.Marshal(map[string]any{"incidents": len(updated), "queued": queued, "handled": claimed})
	if err != nil {
		return queued, claimed, fmt.Errorf("encoding audit details: %w", err)
	}
	if _, err := st.AppendAudit(ctx, store.AuditEntry{Time: time.Now().UTC(), Actor: "vigil:escalation", Action: "escalation.dispatch", Target: "outbox", Details: details}); err != nil {
		return queued, claimed, fmt.Errorf("recording escalation in the audit log: %w", err)
	}
	return queued, claimed, nil
}

// writeActivity writes per-user event counts as one JSON object, users sorted.
func writeActivity(path string, counts map[string]int64) error {
	b, err := json.MarshalIndent(counts, "", " ") // encoding/json sorts map keys
	if err != nil {
		return fmt.Errorf("encoding activity: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("--activity: %w", err)
	}
	return nil
}

// nextSteps gives each incident the steps of its techniques' playbooks (the
// built-in ones, under dir's when given). With a store, the triage dossier
// (signals around the incident, related incidents) informs them; without, the
// incident's own signals do.
func nextSteps(ctx context.Context, dir string, st store.Store, incs []correlate.Incident, signals []detect.Signal) (map[string][]triage.Step, error) {
	if len(incs) == 0 {
		return nil, nil
	}
	var ps *triage.Playbooks
	var err error
	if dir != "" {
		ps, err = triage.LoadPlaybooks(dir)
	} else {
		ps, err = triage.BuiltinPlaybooks()
	}
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--playbooks: %w", err)}
	}
	byID := make(map[string]*detect.Signal, len(signals))
	for i := range signals {
		byID[signals[i].ID] = &signals[i]
	}
	out := make(map[string][]triage.Step, len(incs))
	for _, inc := range incs {
		var d triage.Dossier
		if st != nil {
			if d, err = triage.Gather(ctx, st, inc, triage.GatherOptions{}); err != nil {
				return nil, fmt.Errorf("triage of incident %s: %w", inc.ID, err)
			}
		} else {
			d.Incident = inc.ID
			for _, id := range inc.SignalIDs {
				if s := byID[id]; s != nil {
					d.IncidentSignals = append(d.IncidentSignals, *s)
				}
			}
		}
		out[inc.ID] = triage.Steps(inc, d, ps)
	}
	return out, nil
}
