package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilsec/vigil/internal/detect/behavior/travel"
	"github.com/vigilsec/vigil/internal/detect/ioc"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/triage"
)

const modelsHelp = `
The model registry: every detector and model in this binary with its version
(the version every signal it emits carries), and, with --data-dir, what each
learned model holds in the store: its training window (the event times it has
learned from and up to) and its size. Behavioral signals carry the start of
their model's window too (baseline.learned_from). The suggested-verdict model says what it was trained on.

  vigil models [--data-dir D] [--output json]
`

// ModelEntry is one detector or model in the registry.
type ModelEntry struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"` // detector, behavioral model, correlator, verdict model
	Version string    `json:"version"`
	Trained string    `json:"trained,omitempty"`     // for shipped models: on what
	Since   time.Time `json:"learned_from,omitzero"` // event time the stored state started learning
	Learned time.Time `json:"learned_to,omitzero"`   // event time the stored state covers
	Bytes   int       `json:"state_bytes,omitempty"`
	Stored  bool      `json:"stored"`
}

func runModels(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "models", "", modelsHelp)
	dataDir := fs.String("data-dir", "", "the store hunt writes: show what each model learned")
	output := fs.String("output", "table", "table or json")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *output != "table" && *output != "json" {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want table or json", *output)}
	}
	entries, err := modelRegistry()
	if err != nil {
		return err
	}
	if *dataDir != "" {
		st, err := sqlite.Open(ctx, sqlite.Options{Dir: *dataDir})
		if err != nil {
			return fmt.Errorf("opening store: %w", err)
		}
		defer func() { _ = st.Close() }()
		for i := range entries {
			ms, err := st.GetModelState(ctx, entries[i].ID, "")
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return fmt.Errorf("reading %s's state: %w", entries[i].ID, err)
			default:
				entries[i].Stored, entries[i].Since, entries[i].Learned, entries[i].Bytes = true, ms.Since, ms.Updated, len(ms.Blob)
			}
		}
	}
	if *output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	return writeModels(env.Stdout, entries)
}

// modelRegistry lists the detectors and models built into this binary.
func modelRegistry() ([]ModelEntry, error) {
	var out []ModelEntry
	l, err := loadSigma(nil, sigmaOptions{builtin: true})
	if err != nil {
		return nil, err
	}
	out = append(out, ModelEntry{ID: "sigma", Kind: "detector", Version: l.detector().Version()})
	out = append(out, ModelEntry{ID: "ioc", Kind: "detector", Version: ioc.Version})
	eng, closeBeh, err := buildBehavior(behaviorOptions{enabled: true}, nil, io.Discard)
	if err != nil {
		return nil, err
	}
	defer closeBeh()
	for _, m := range eng.Models() {
		out = append(out, ModelEntry{ID: m.ID(), Kind: "behavioral model", Version: m.Version()})
	}
	// impossible travel runs only with --geoip, so the default engine lacks it
	out = append(out, ModelEntry{ID: travel.EngineID, Kind: "behavioral model (with --geoip)", Version: travel.Version})
	out = append(out, ModelEntry{ID: correlatorModelID, Kind: "correlator", Version: "1"})
	vm, err := triage.BuiltinVerdictModel()
	if err != nil {
		return nil, err
	}
	out = append(out, ModelEntry{ID: "triage.verdict", Kind: "verdict model", Version: vm.Name, Trained: vm.Trained})
	return out, nil
}

func writeModels(w io.Writer, entries []ModelEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tVERSION\tLEARNED FROM\tLEARNED TO\tSTATE\tTRAINED ON")
	for _, e := range entries {
		from, learned, size := "-", "-", "-"
		if e.Stored {
			learned, size = e.Learned.UTC().Format(time.RFC3339), fmt.Sprintf("%d B", e.Bytes)
			if !e.Since.IsZero() {
				from = e.Since.UTC().Format(time.RFC3339)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Kind, e.Version, from, learned, size, strings.TrimSpace(e.Trained))
	}
	return tw.Flush()
}
