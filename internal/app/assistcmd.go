package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/assist"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

const assistHelp = `
The optional LLM assistant (off unless the config enables it): a narrative of an
incident, or an answer to a question about it, from any OpenAI-compatible
endpoint (hosted, or local Ollama, vLLM, llama.cpp). Every entity is replaced by
a per-incident token before anything leaves and restored in the answer; requests
go only to the configured endpoint and only when the data's region is allowed.
The model may look things up through read-only tools (get_signal, list_signals).

  vigil assist narrative --config assist.yaml --data-dir D --incident ID
  vigil assist ask --config assist.yaml --data-dir D --incident ID --question "Did alice log on anywhere else?"

The config (YAML): enabled, base_url, model, api_key_env (the name of the
variable holding the key), allowed_regions, data_region, and limits.
`

func runAssist(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stdout, strings.TrimLeft(assistHelp, "\n"))
		if len(args) == 0 {
			return &ExitError{Code: ExitUsage, Err: errors.New("no subcommand: want narrative or ask")}
		}
		return nil
	}
	sub := args[0]
	if sub != "narrative" && sub != "ask" {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("unknown subcommand %q: want narrative or ask", sub)}
	}
	fs := newFlagSet(env, "assist "+sub, "", assistHelp)
	cfgPath := fs.String("config", "", "assistant config (YAML; required)")
	dataDir := fs.String("data-dir", "", "the store hunt writes (required)")
	incidentID := fs.String("incident", "", "the incident (required)")
	question := fs.String("question", "", "the question (ask)")
	if _, err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case *cfgPath == "" || *dataDir == "" || *incidentID == "":
		return &ExitError{Code: ExitUsage, Err: errors.New("--config, --data-dir and --incident are required")}
	case sub == "ask" && strings.TrimSpace(*question) == "":
		return &ExitError{Code: ExitUsage, Err: errors.New("ask needs --question")}
	}
	b, err := os.ReadFile(*cfgPath) // #nosec G703 -- the operator names the file
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--config: %w", err)}
	}
	cfg, err := assist.ParseConfig(b)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--config %s: %w", *cfgPath, err)}
	}
	log, err := newLogger(env.Stderr, "info")
	if err != nil {
		return err
	}
	a, err := assist.New(cfg, assist.Options{Logger: log})
	if errors.Is(err, assist.ErrDisabled) {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("the assistant is off: set enabled: true in %s", *cfgPath)}
	}
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: *dataDir})
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	defer func() { _ = st.Close() }()
	inc, err := st.GetIncident(ctx, *incidentID)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("incident %s: %w", *incidentID, err)}
	}
	signals := incidentSignals(inc, verdictLookup(ctx, st, nil).Signal)
	var out string
	if sub == "narrative" {
		out, err = a.Narrative(ctx, &inc, signals)
	} else {
		var ans assist.Answer
		ans, err = a.Ask(ctx, &inc, signals, *question, storeTools(st))
		out = ans.Text
	}
	if err != nil {
		return fmt.Errorf("assistant: %w", err)
	}
	details, merr := json.Marshal(map[string]any{"incident": inc.ID, "endpoint_model": cfg.Model, "question": *question})
	if merr != nil {
		return merr
	}
	if _, aerr := st.AppendAudit(ctx, store.AuditEntry{Time: time.Now().UTC(), Actor: "vigil:assistant", Action: "assist." + sub,
		Target: "incident:" + inc.ID, Details: details}); aerr != nil {
		return fmt.Errorf("recording the assistant's use in the audit log: %w", aerr)
	}
	fmt.Fprintln(env.Stdout, strings.TrimSpace(out))
	return nil
}

// storeTools are the read-only lookups the model may call.
func storeTools(st store.Store) []assist.Tool {
	return []assist.Tool{
		{
			Name:        "get_signal",
			Description: "Get one signal by id: its detector, rule, title, time, entities and explanation.",
			Parameters: map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "string"}},
				"required": []string{"id"}},
			Call: func(ctx context.Context, raw json.RawMessage) (any, error) {
				var p struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(raw, &p); err != nil || p.ID == "" {
					return nil, errors.New("want {\"id\": \"...\"}")
				}
				return st.GetSignal(ctx, p.ID)
			},
		},
		{
			Name:        "list_signals",
			Description: "List up to 50 signals naming an entity (kind: user, host, ip, domain, ...), newest first, optionally between two RFC 3339 times.",
			Parameters: map[string]any{"type": "object", "properties": map[string]any{
				"kind": map[string]any{"type": "string"}, "value": map[string]any{"type": "string"},
				"since": map[string]any{"type": "string"}, "until": map[string]any{"type": "string"}},
				"required": []string{"kind", "value"}},
			Call: func(ctx context.Context, raw json.RawMessage) (any, error) {
				var p struct{ Kind, Value, Since, Until string }
				if err := json.Unmarshal(raw, &p); err != nil || p.Kind == "" || p.Value == "" {
					return nil, errors.New("want {\"kind\": \"...\", \"value\": \"...\"}")
				}
				q := store.SignalQuery{Entity: detect.Entity{Kind: detect.EntityKind(p.Kind), Value: p.Value}, Limit: 50}
				for _, b := range []struct {
					s string
					t *time.Time
				}{{p.Since, &q.Since}, {p.Until, &q.Until}} {
					if b.s == "" {
						continue
					}
					t, err := time.Parse(time.RFC3339, b.s)
					if err != nil {
						return nil, fmt.Errorf("time %q: want RFC 3339", b.s)
					}
					*b.t = t
				}
				page, err := st.ListSignals(ctx, q)
				if err != nil {
					return nil, err
				}
				return page.Items, nil
			},
		},
	}
}
