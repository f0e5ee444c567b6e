package app

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// failedLogins flags every failed authentication: a stand-in detector so the store
// path can be tested end to end before real detectors exist.
type failedLogins struct{}

func (failedLogins) ID() string      { return "test.failed_logins" }
func (failedLogins) Version() string { return "0.0.1" }
func (failedLogins) Detect(_ context.Context, batch []*event.Event, emit func(detect.Signal)) error {
	for _, e := range batch {
		if e.Category.Has(event.CatAuthentication) && e.Str(event.EventOutcome) == "failure" {
			emit(detect.Signal{Time: e.Timestamp, RuleID: "failed", Title: "failed login for " + e.Str(event.UserName),
				Severity: detect.SeverityLow, Entities: []detect.Entity{{Kind: detect.EntityUser, Value: e.Str(event.UserName)}},
				Evidence: []detect.EvidenceRef{detect.Evidence(e)}})
		}
	}
	return nil
}

func TestHuntStoresSignalsIdempotently(t *testing.T) {
	dir := t.TempDir()
	var first int
	for run := range 2 {
		var out, errb bytes.Buffer
		env := Env{Stdout: &out, Stderr: &errb, detectors: func() []detect.Detector { return []detect.Detector{failedLogins{}} }}
		if code := Main(context.Background(), env, []string{"hunt", "--output", "jsonl", "--data-dir", dir, "../../examples/logs/linux/auth.log"}); code != ExitOK {
			t.Fatalf("run %d: exit %d: %s", run, code, errb.String())
		}
		n := bytes.Count(out.Bytes(), []byte("\n"))
		if run == 0 {
			first = n
		} else if n != first {
			t.Fatalf("second run printed %d signals, first %d", n, first)
		}
	}
	if first < 5 {
		t.Fatalf("only %d failed-login signals from auth.log", first)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.ListSignals(ctx, store.SignalQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != first {
		t.Fatalf("store holds %d signals after two identical runs, want %d", len(page.Items), first)
	}
	s := page.Items[0]
	if s.DetectorID != "test.failed_logins" || s.DetectorVersion != "0.0.1" || len(s.Evidence) != 1 {
		t.Fatalf("stored signal: %+v", s)
	}
	ev, err := st.GetEvidence(ctx, []string{s.Evidence[0].EventID})
	if err != nil || len(ev) != 1 {
		t.Fatalf("evidence: %v %v", ev, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(ev[0].JSON, &doc); err != nil || doc["@timestamp"] == nil {
		t.Fatalf("evidence JSON: %s %v", ev[0].JSON, err)
	}
	audit, err := st.ListAudit(ctx, store.AuditQuery{Limit: 10})
	if err != nil || len(audit.Items) != 2 || audit.Items[0].Action != "hunt" {
		t.Fatalf("audit: %+v %v", audit.Items, err)
	}
}

// nanDetector emits a signal with a non-finite confidence and score.
type nanDetector struct{ failedLogins }

func (nanDetector) Detect(_ context.Context, batch []*event.Event, emit func(detect.Signal)) error {
	emit(detect.Signal{Time: batch[0].Timestamp, RuleID: "nan", Title: "bad", Confidence: math.NaN(),
		Explanation: detect.Explanation{Score: math.Inf(1)}, Evidence: []detect.EvidenceRef{detect.Evidence(batch[0])}})
	return nil
}

func TestHuntSanitizesSignals(t *testing.T) {
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, detectors: func() []detect.Detector { return []detect.Detector{nanDetector{}} }}
	code := Main(context.Background(), env, []string{"hunt", "--output", "jsonl", "--data-dir", t.TempDir(), "../../examples/logs/linux/auth.log"})
	if code != ExitOK || !strings.Contains(out.String(), `"confidence":0`) {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out.String(), errb.String())
	}
}

func TestStoreFailureIsReported(t *testing.T) {
	ctx := context.Background()
	sink, err := openStoreSink(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sink.close()
	done := make(chan error, 1)
	go func() {
		_ = sink.add(ctx, pipeline.Detection{Signal: detect.Signal{ID: "x", DetectorID: "d", Time: time.Unix(1700000000, 0)}})
		done <- sink.finish(ctx, []string{"p"}, &pipeline.Stats{}, nil)
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "storing signals") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("finish hung on a closed store")
	}
}
