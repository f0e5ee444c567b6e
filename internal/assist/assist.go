// Package assist is Vigil's optional LLM assistant, off by default: it writes an
// analyst-facing narrative of an incident and answers questions about it, with
// read-only tools the caller provides, over any OpenAI-compatible endpoint
// (OpenAI, Ollama, vLLM, llama.cpp server).
//
// Nothing identifying leaves the process: users, hosts, addresses, domains,
// e-mail addresses, URLs, hashes and user names inside paths are replaced by
// per-incident tokens (see Pseudonymizer) before a request is built, tool
// arguments are restored before a tool runs, tool results are pseudonymized
// before the model sees them, and answers are restored before they are
// returned. The HTTP client reaches only the configured endpoint, and nothing is
// sent when the data's residency region is not one the endpoint is allowed.
package assist

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"text/template"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

//go:embed prompts/*.tmpl
var promptFS embed.FS

var prompts = template.Must(template.New("").ParseFS(promptFS, "prompts/*.tmpl"))

// Errors callers may test for with errors.Is.
var (
	ErrDisabled    = errors.New("assistant disabled (assist.enabled is false)")
	ErrNoAnswer    = errors.New("model gave no answer")
	ErrToolRounds  = errors.New("model still calling tools after the last allowed round")
	ErrBadResponse = errors.New("malformed response from the model endpoint")
)

// Options are the assistant's dependencies.
type Options struct {
	Logger *slog.Logger
	// Getenv reads the API key variable; os.Getenv when nil.
	Getenv func(string) string
	// Secret keys the per-incident pseudonym keys. When empty a random one is
	// drawn, so tokens differ between processes.
	Secret []byte
}

// Assistant talks to one endpoint. Safe for concurrent use: each call has its
// own Pseudonymizer.
type Assistant struct {
	cfg    Config
	base   *url.URL
	chat   openai.ChatCompletionService
	log    *slog.Logger
	secret []byte
}

// New checks cfg (it must be enabled, valid, and the data region allowed) and
// builds the client. It makes no request.
func New(cfg Config, opts Options) (*Assistant, error) {
	if !cfg.Enabled {
		return nil, ErrDisabled
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.CheckResidency(); err != nil {
		return nil, err
	}
	base, err := cfg.endpoint()
	if err != nil {
		return nil, err
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	reqOpts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithHTTPClient(newHTTPClient(base, cfg.RequestTimeout, cfg.MaxResponseBytes)),
		option.WithMaxRetries(cfg.MaxRetries),
		option.WithMaxRetryDelay(cfg.MaxRetryDelay),
		option.WithRequestTimeout(cfg.RequestTimeout),
	}
	if cfg.APIKeyEnv != "" {
		key := getenv(cfg.APIKeyEnv)
		if key == "" {
			return nil, fmt.Errorf("assist config: api_key_env: environment variable %s is empty or unset", cfg.APIKeyEnv)
		}
		reqOpts = append(reqOpts, option.WithAPIKey(key))
	}
	secret := slices.Clone(opts.Secret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("drawing the pseudonym secret: %w", err)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The chat service alone, not openai.NewClient: the client would also read
	// OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_CUSTOM_HEADERS, ... from the
	// environment, and send that key to whatever endpoint is configured.
	return &Assistant{
		cfg:    cfg,
		base:   base,
		chat:   openai.NewChatCompletionService(reqOpts...),
		log:    log.With("component", "assist", "endpoint", base.Host, "model", cfg.Model),
		secret: secret,
	}, nil
}

// Pseudonymizer returns the pseudonymizer of an incident, keyed by the
// assistant's secret and the incident id, with the incident's and the signals'
// entities registered.
func (a *Assistant) Pseudonymizer(inc *correlate.Incident, signals []detect.Signal) *Pseudonymizer {
	p := NewPseudonymizer(incidentKey(a.secret, inc.ID))
	for _, e := range inc.Entities {
		p.Entity(e.Kind, e.Value)
	}
	for i := range signals {
		for _, e := range signals[i].Entities {
			p.Entity(e.Kind, e.Value)
		}
	}
	return p
}

// Narrative returns a short analyst-facing story of the incident.
func (a *Assistant) Narrative(ctx context.Context, inc *correlate.Incident, signals []detect.Signal) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.TotalTimeout)
	defer cancel()
	p := a.Pseudonymizer(inc, signals)
	data, err := json.Marshal(buildView(p, inc, signals, a.cfg.MaxSignals))
	if err != nil {
		return "", fmt.Errorf("encoding incident %s for the model: %w", inc.ID, err)
	}
	sys, err := render("narrative.tmpl", struct{ Words int }{a.cfg.NarrativeWords})
	if err != nil {
		return "", err
	}
	msgs := []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage(sys),
		openai.UserMessage("Incident:\n" + string(data)),
	}
	msg, err := a.complete(ctx, msgs, nil)
	if err != nil {
		return "", fmt.Errorf("narrative of incident %s: %w", inc.ID, err)
	}
	if len(msg.ToolCalls) > 0 {
		return "", fmt.Errorf("narrative of incident %s: %w: tool calls where none were offered", inc.ID, ErrBadResponse)
	}
	return answerText(p, msg, inc.ID)
}

func answerText(p *Pseudonymizer, msg *openai.ChatCompletionMessage, incidentID string) (string, error) {
	if msg.Content == "" {
		if msg.Refusal != "" {
			return "", fmt.Errorf("incident %s: %w: refused: %s", incidentID, ErrNoAnswer, p.Restore(msg.Refusal))
		}
		return "", fmt.Errorf("incident %s: %w", incidentID, ErrNoAnswer)
	}
	return p.Restore(msg.Content), nil
}

func render(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := prompts.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("rendering prompt %s: %w", name, err)
	}
	return b.String(), nil
}

// complete sends one chat completion request and returns the first choice.
func (a *Assistant) complete(ctx context.Context, msgs []openai.ChatCompletionMessageParamUnion, tools []openai.ChatCompletionToolUnionParam) (*openai.ChatCompletionMessage, error) {
	if err := a.cfg.CheckResidency(); err != nil {
		return nil, err
	}
	params := openai.ChatCompletionNewParams{
		Model:       a.cfg.Model,
		Messages:    msgs,
		Temperature: openai.Float(a.cfg.Temperature),
		Tools:       tools,
	}
	if a.cfg.MaxTokensField == "max_completion_tokens" {
		params.MaxCompletionTokens = openai.Int(int64(a.cfg.MaxTokens))
	} else {
		params.MaxTokens = openai.Int(int64(a.cfg.MaxTokens))
	}
	start := time.Now()
	resp, err := a.chat.New(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("calling %s: %w", a.base.Host, err)
	}
	a.log.DebugContext(ctx, "chat completion", "messages", len(msgs), "tools", len(tools),
		"took_ms", time.Since(start).Milliseconds(),
		"prompt_tokens", resp.Usage.PromptTokens, "completion_tokens", resp.Usage.CompletionTokens)
	if len(resp.Choices) == 0 {
		return nil, fmt.Errorf("calling %s: %w: no choices", a.base.Host, ErrBadResponse)
	}
	return &resp.Choices[0].Message, nil
}
