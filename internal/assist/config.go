package assist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the assistant's section of the configuration. The assistant is off
// unless Enabled is set; with it on, BaseURL, Model and both region fields are
// required.
type Config struct {
	// Enabled turns the assistant on. Off by default: nothing is ever sent.
	Enabled bool `yaml:"enabled"`
	// BaseURL is the OpenAI-compatible endpoint, e.g. https://api.openai.com/v1,
	// http://127.0.0.1:11434/v1 (Ollama), http://vllm.internal:8000/v1. It is
	// the only host the assistant's HTTP client will talk to.
	BaseURL string `yaml:"base_url"`
	// Model is the model name the endpoint serves.
	Model string `yaml:"model"`
	// APIKeyEnv names the environment variable holding the API key. Empty: no
	// key is sent (local servers). The key itself is never in the config.
	APIKeyEnv string `yaml:"api_key_env"`
	// AllowedRegions are the data-residency regions data may be sent to through
	// this endpoint (e.g. ["eu"]), as agreed for it.
	AllowedRegions []string `yaml:"allowed_regions"`
	// DataRegion is the residency region of the data Vigil holds. The assistant
	// refuses to send anything when it is not among AllowedRegions.
	DataRegion string `yaml:"data_region"`
	// AllowPlainHTTP permits an http:// BaseURL on a host other than loopback
	// (a model server on an internal network). Loopback may always use http.
	AllowPlainHTTP bool `yaml:"allow_plain_http"`
	// MaxTokens bounds each answer, sent as MaxTokensField.
	MaxTokens int `yaml:"max_tokens"`
	// MaxTokensField is "max_tokens" (what Ollama, vLLM and llama.cpp read) or
	// "max_completion_tokens" (what OpenAI's reasoning models require).
	MaxTokensField string `yaml:"max_tokens_field"`
	// Temperature is the sampling temperature, 0..2.
	Temperature float64 `yaml:"temperature"`
	// RequestTimeout bounds one HTTP attempt; TotalTimeout bounds one Narrative
	// or Ask call, every retry and tool round included.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	TotalTimeout   time.Duration `yaml:"total_timeout"`
	// MaxRetries is how many times a failed attempt (connection error, 408, 409,
	// 429, 5xx) is retried, 0..5; MaxRetryDelay caps the wait between attempts,
	// and a server asking for a longer wait ends the retries.
	MaxRetries    int           `yaml:"max_retries"`
	MaxRetryDelay time.Duration `yaml:"max_retry_delay"`
	// MaxToolRounds bounds the model/tool exchanges of one Ask; MaxToolCalls
	// bounds the tool calls executed in one Ask.
	MaxToolRounds int `yaml:"max_tool_rounds"`
	MaxToolCalls  int `yaml:"max_tool_calls"`
	// MaxToolResultBytes truncates each tool result sent to the model.
	MaxToolResultBytes int `yaml:"max_tool_result_bytes"`
	// MaxSignals bounds the signals described to the model (the earliest kept).
	MaxSignals int `yaml:"max_signals"`
	// MaxResponseBytes bounds an HTTP response body read from the endpoint.
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
	// NarrativeWords is the length the narrative is asked to stay within.
	NarrativeWords int `yaml:"narrative_words"`
}

// DefaultConfig returns the defaults: disabled, answers of at most 1024 tokens
// at temperature 0.2, 60 s per attempt and 3 min per call, 2 retries waiting at
// most 5 s, 5 tool rounds and 16 tool calls per question, 16 KiB per tool
// result, 50 signals per prompt, 8 MiB per response.
func DefaultConfig() Config {
	return Config{
		MaxTokens:          1024,
		MaxTokensField:     "max_tokens",
		Temperature:        0.2,
		RequestTimeout:     60 * time.Second,
		TotalTimeout:       3 * time.Minute,
		MaxRetries:         2,
		MaxRetryDelay:      5 * time.Second,
		MaxToolRounds:      5,
		MaxToolCalls:       16,
		MaxToolResultBytes: 16 << 10,
		MaxSignals:         50,
		MaxResponseBytes:   8 << 20,
		NarrativeWords:     250,
	}
}

var regionRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.MaxTokens < 1 || c.MaxTokens > 1<<20:
		return fmt.Errorf("assist config: max_tokens %d outside 1..%d", c.MaxTokens, 1<<20)
	case c.MaxTokensField != "max_tokens" && c.MaxTokensField != "max_completion_tokens":
		return fmt.Errorf("assist config: max_tokens_field %q is neither max_tokens nor max_completion_tokens", c.MaxTokensField)
	case !(c.Temperature >= 0 && c.Temperature <= 2):
		return fmt.Errorf("assist config: temperature %v outside [0, 2]", c.Temperature)
	case c.RequestTimeout < 100*time.Millisecond || c.RequestTimeout > 30*time.Minute:
		return fmt.Errorf("assist config: request_timeout %v outside 100ms..30m", c.RequestTimeout)
	case c.TotalTimeout < c.RequestTimeout || c.TotalTimeout > 2*time.Hour:
		return fmt.Errorf("assist config: total_timeout %v outside request_timeout (%v)..2h", c.TotalTimeout, c.RequestTimeout)
	case c.MaxRetries < 0 || c.MaxRetries > 5:
		return fmt.Errorf("assist config: max_retries %d outside 0..5", c.MaxRetries)
	case c.MaxRetryDelay < time.Millisecond || c.MaxRetryDelay > time.Minute:
		return fmt.Errorf("assist config: max_retry_delay %v outside 1ms..1m", c.MaxRetryDelay)
	case c.MaxToolRounds < 0 || c.MaxToolRounds > 20:
		return fmt.Errorf("assist config: max_tool_rounds %d outside 0..20", c.MaxToolRounds)
	case c.MaxToolCalls < 0 || c.MaxToolCalls > 200:
		return fmt.Errorf("assist config: max_tool_calls %d outside 0..200", c.MaxToolCalls)
	case c.MaxToolResultBytes < 256 || c.MaxToolResultBytes > 1<<20:
		return fmt.Errorf("assist config: max_tool_result_bytes %d outside 256..%d", c.MaxToolResultBytes, 1<<20)
	case c.MaxSignals < 1 || c.MaxSignals > 1000:
		return fmt.Errorf("assist config: max_signals %d outside 1..1000", c.MaxSignals)
	case c.MaxResponseBytes < 1<<10 || c.MaxResponseBytes > 256<<20:
		return fmt.Errorf("assist config: max_response_bytes %d outside 1KiB..256MiB", c.MaxResponseBytes)
	case c.NarrativeWords < 20 || c.NarrativeWords > 5000:
		return fmt.Errorf("assist config: narrative_words %d outside 20..5000", c.NarrativeWords)
	case c.APIKeyEnv != "" && !envNameRE.MatchString(c.APIKeyEnv):
		return fmt.Errorf("assist config: api_key_env %q is not an environment variable name", c.APIKeyEnv)
	}
	for i, r := range c.AllowedRegions {
		if !regionRE.MatchString(r) {
			return fmt.Errorf("assist config: allowed_regions[%d] %q is not a lower-case region name", i, r)
		}
	}
	if c.DataRegion != "" && !regionRE.MatchString(c.DataRegion) {
		return fmt.Errorf("assist config: data_region %q is not a lower-case region name", c.DataRegion)
	}
	if !c.Enabled {
		return nil
	}
	switch {
	case c.Model == "" || len(c.Model) > 256 || strings.ContainsAny(c.Model, "\x00\r\n"):
		return fmt.Errorf("assist config: model %q must be 1..256 characters on one line", c.Model)
	case len(c.AllowedRegions) == 0:
		return errors.New("assist config: allowed_regions is empty: name the regions data may go to through this endpoint")
	case c.DataRegion == "":
		return errors.New("assist config: data_region is empty: name the residency region of the data")
	}
	_, err := c.endpoint()
	return err
}

// endpoint parses BaseURL and checks it may be used.
func (c Config) endpoint() (*url.URL, error) {
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("assist config: base_url: %w", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("assist config: base_url %q: scheme must be https or http", c.BaseURL)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("assist config: base_url %q has no host", c.BaseURL)
	case u.User != nil:
		return nil, fmt.Errorf("assist config: base_url %q carries credentials; use api_key_env", redactURL(u))
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("assist config: base_url %q must have no query or fragment", c.BaseURL)
	case u.Scheme == "http" && !c.AllowPlainHTTP && !isLoopbackHost(u.Hostname()):
		return nil, fmt.Errorf("assist config: base_url %q is plain http to a non-loopback host; use https or set allow_plain_http", c.BaseURL)
	}
	return u, nil
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ErrRegionNotAllowed is returned (wrapped) when the data's residency region is
// not one this endpoint may receive.
var ErrRegionNotAllowed = errors.New("data residency region not allowed for this endpoint")

// CheckResidency refuses when DataRegion is not among AllowedRegions.
func (c Config) CheckResidency() error {
	if c.DataRegion == "" || !slices.Contains(c.AllowedRegions, c.DataRegion) {
		return fmt.Errorf("%w: data region %q, endpoint %s allows %q; nothing was sent",
			ErrRegionNotAllowed, c.DataRegion, c.BaseURL, c.AllowedRegions)
	}
	return nil
}

// ParseConfig decodes a YAML assist section strictly (unknown keys are errors)
// over DefaultConfig and validates it. An empty document gives the defaults.
func ParseConfig(data []byte) (Config, error) {
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("assist config: decoding: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("assist config: decoding: more than one YAML document")
	}
	if math.IsNaN(c.Temperature) {
		return Config{}, errors.New("assist config: temperature is NaN")
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
