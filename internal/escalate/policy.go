// Package escalate decides which incidents people must hear about and tells them,
// durably.
//
// A policy file (Load) lists rules: conditions on an incident (severity,
// confidence and risk bounds, asset criticality, tactics, status) and the actions
// to take when it matches: a human review queue item, a Standard Webhooks POST, a
// Slack incoming webhook, a PagerDuty Events API v2 trigger, an email through an
// SMTP relay, or a CEF message over syslog.
//
// Engine.Evaluate turns a new or grown incident into outbox items in the store,
// one per (policy action, incident id, incident version), keyed by a hash of the
// three, so evaluating the same incident version again is a no-op. A Dispatcher
// claims due items with a lease, sends them, and records the outcome: delivered,
// retried later (exponential backoff with jitter, the next attempt time kept in
// the store) or failed permanently. Delivery is at least once; every receiver is
// given the idempotency key to deduplicate by (see Sender implementations).
package escalate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
)

// MaxPolicyFileSize caps a policy file.
const MaxPolicyFileSize = 1 << 20

// Action kinds.
const (
	KindReview    = "review"
	KindWebhook   = "webhook"
	KindSlack     = "slack"
	KindPagerDuty = "pagerduty"
	KindEmail     = "email"
	KindSyslogCEF = "syslog_cef"
)

// DefaultPagerDutyURL is the Events API v2 enqueue endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// Policies is a parsed policy file.
type Policies struct {
	File     string
	Policies []Policy
}

// Policy is one rule: when an incident meets When, every action runs.
type Policy struct {
	Name    string
	Line    int
	When    Conditions
	Actions []Action
}

// Conditions are AND-ed; an unset condition always holds.
type Conditions struct {
	MinSeverity    *detect.Severity
	MinConfidence  *float64
	MaxConfidence  *float64 // with MinConfidence, an uncertainty band
	MinRisk        *float64
	MaxRisk        *float64
	MinCriticality *risk.Criticality // some entity of the incident at least this critical
	Tactics        []string          // any of, normalized (lower case, '_' as '-')
	Status         []correlate.Status
}

// Action is one thing to do about a matching incident. Secrets are never held
// here: SecretEnv names the environment variable read at send time.
type Action struct {
	ID   string // policy name "/" action name: the outbox target and rate-limit key
	Name string
	Kind string
	Line int

	URL       string        // webhook, pagerduty (defaults to DefaultPagerDutyURL)
	SecretEnv string        // webhook: whsec_ secret; slack: webhook URL; pagerduty: routing key; email: SMTP password
	Timeout   time.Duration // per attempt; 0 means DefaultTimeout
	Rate      float64       // sends per second for this action; 0 means unlimited
	Burst     int

	// email
	SMTP     string // host:port of the relay
	From     string
	To       []string
	Username string
	// envelope addresses (From and To without display names)
	mailFrom string
	rcpt     []string

	// syslog_cef
	Network  string // udp or tcp
	Address  string // host:port
	Facility int    // syslog facility, 0..23; default 16 (local0)
}

// DefaultTimeout bounds one delivery attempt.
const DefaultTimeout = 10 * time.Second

// yaml shapes, decoded strictly.
type fileYAML struct {
	Policies []policyYAML `yaml:"policies"`
}

type policyYAML struct {
	Name    string       `yaml:"name"`
	When    whenYAML     `yaml:"when"`
	Actions []actionYAML `yaml:"actions"`
}

type whenYAML struct {
	MinSeverity    string   `yaml:"min_severity"`
	MinConfidence  *float64 `yaml:"min_confidence"`
	MaxConfidence  *float64 `yaml:"max_confidence"`
	MinRisk        *float64 `yaml:"min_risk"`
	MaxRisk        *float64 `yaml:"max_risk"`
	MinCriticality string   `yaml:"min_criticality"`
	Tactics        []string `yaml:"tactics"`
	Status         []string `yaml:"status"`
}

type actionYAML struct {
	Type      string    `yaml:"type"`
	Name      string    `yaml:"name"`
	URL       string    `yaml:"url"`
	SecretEnv string    `yaml:"secret_env"`
	Timeout   string    `yaml:"timeout"`
	RateLimit *rateYAML `yaml:"rate_limit"`
	SMTP      string    `yaml:"smtp"`
	From      string    `yaml:"from"`
	To        []string  `yaml:"to"`
	Username  string    `yaml:"username"`
	Network   string    `yaml:"network"`
	Address   string    `yaml:"address"`
	Facility  *int      `yaml:"facility"`
}

type rateYAML struct {
	PerSecond float64 `yaml:"per_second"`
	PerMinute float64 `yaml:"per_minute"`
	Burst     int     `yaml:"burst"`
}

// Load reads and parses a policy file.
func Load(path string) (*Policies, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening policy file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPolicyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading policy file %s: %w", path, err)
	}
	return Parse(path, b)
}

// ErrPolicy marks every error about the content of a policy file.
var ErrPolicy = errors.New("invalid escalation policy")

// PolicyError is an error at a place in a policy file.
type PolicyError struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (e *PolicyError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Unwrap makes errors.Is(err, ErrPolicy) hold.
func (e *PolicyError) Unwrap() error { return ErrPolicy }

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// Parse parses a policy file's content; file names it in errors.
func Parse(file string, data []byte) (*Policies, error) {
	perr := func(line int, format string, args ...any) error {
		return &PolicyError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) > MaxPolicyFileSize {
		return nil, perr(0, "larger than %d bytes", MaxPolicyFileSize)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, perr(0, "parsing YAML: %v", err)
	}
	if root.Kind == 0 {
		return nil, perr(0, "empty policy file")
	}
	if n := findAnchor(&root); n != nil {
		return nil, perr(n.Line, "YAML anchors and aliases are not allowed")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var fy fileYAML
	if err := dec.Decode(&fy); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msgs := make([]error, 0, len(te.Errors))
			for _, m := range te.Errors {
				if sm := yamlLine.FindStringSubmatch(m); sm != nil {
					line, _ := strconv.Atoi(sm[1])
					msgs = append(msgs, perr(line, "%s", sm[2]))
				} else {
					msgs = append(msgs, perr(0, "%s", m))
				}
			}
			return nil, errors.Join(msgs...)
		}
		return nil, perr(0, "decoding: %v", err)
	}
	var pos positions
	if len(root.Content) > 0 {
		pos.root = root.Content[0]
	}
	if len(fy.Policies) == 0 {
		return nil, perr(pos.line("policies"), "no policies")
	}
	out := &Policies{File: file}
	names := map[string]int{}
	ids := map[string]bool{}
	for i := range fy.Policies {
		py := &fy.Policies[i]
		line := pos.line("policies", i)
		if !nameRE.MatchString(py.Name) {
			return nil, perr(pos.line("policies", i, "name"), "policy name %q: want 1 to 64 letters, digits, '_', '.' or '-'", py.Name)
		}
		if prev, dup := names[py.Name]; dup {
			return nil, perr(line, "policy %q already defined at line %d", py.Name, prev)
		}
		names[py.Name] = line
		p := Policy{Name: py.Name, Line: line}
		var le *lineError
		if p.When, le = parseWhen(&py.When, func(key string) int { return pos.line("policies", i, "when", key) }); le != nil {
			return nil, perr(le.line, "policy %s: %s", py.Name, le.msg)
		}
		if len(py.Actions) == 0 {
			return nil, perr(line, "policy %s has no actions", py.Name)
		}
		for j := range py.Actions {
			a, le := parseAction(&py.Actions[j], func(key string) int { return pos.line("policies", i, "actions", j, key) })
			if le != nil {
				return nil, perr(le.line, "policy %s action %d: %s", py.Name, j+1, le.msg)
			}
			a.ID = py.Name + "/" + a.Name
			a.Line = pos.line("policies", i, "actions", j)
			if ids[a.ID] {
				return nil, perr(a.Line, "policy %s: two actions named %q (set name: to tell them apart)", py.Name, a.Name)
			}
			ids[a.ID] = true
			p.Actions = append(p.Actions, a)
		}
		out.Policies = append(out.Policies, p)
	}
	return out, nil
}

type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func parseWhen(w *whenYAML, line func(key string) int) (Conditions, *lineError) {
	var c Conditions
	fail := func(key, format string, args ...any) (Conditions, *lineError) {
		return Conditions{}, &lineError{line: line(key), msg: key + ": " + fmt.Sprintf(format, args...)}
	}
	if w.MinSeverity != "" {
		s, err := detect.ParseSeverity(w.MinSeverity)
		if err != nil {
			return fail("min_severity", "%v", err)
		}
		c.MinSeverity = &s
	}
	for _, b := range []struct {
		key      string
		v        *float64
		lo, hi   float64
		dst      **float64
		boundary string
	}{
		{"min_confidence", w.MinConfidence, 0, 1, &c.MinConfidence, "0 and 1"},
		{"max_confidence", w.MaxConfidence, 0, 1, &c.MaxConfidence, "0 and 1"},
		{"min_risk", w.MinRisk, 0, math.MaxFloat64, &c.MinRisk, "0 and a finite number"},
		{"max_risk", w.MaxRisk, 0, math.MaxFloat64, &c.MaxRisk, "0 and a finite number"},
	} {
		if b.v == nil {
			continue
		}
		if math.IsNaN(*b.v) || *b.v < b.lo || *b.v > b.hi {
			return fail(b.key, "%v is not between %s", *b.v, b.boundary)
		}
		v := *b.v
		*b.dst = &v
	}
	if c.MinConfidence != nil && c.MaxConfidence != nil && *c.MinConfidence > *c.MaxConfidence {
		return fail("max_confidence", "%v is below min_confidence %v", *c.MaxConfidence, *c.MinConfidence)
	}
	if c.MinRisk != nil && c.MaxRisk != nil && *c.MinRisk > *c.MaxRisk {
		return fail("max_risk", "%v is below min_risk %v", *c.MaxRisk, *c.MinRisk)
	}
	if w.MinCriticality != "" {
		cr, err := risk.ParseCriticality(w.MinCriticality)
		if err != nil || cr == risk.CriticalityUnknown {
			return fail("min_criticality", "%q: want low, medium, high or extreme", w.MinCriticality)
		}
		c.MinCriticality = &cr
	}
	for _, t := range w.Tactics {
		n := normTactic(t)
		if n == "" {
			return fail("tactics", "empty tactic")
		}
		c.Tactics = append(c.Tactics, n)
	}
	for _, s := range w.Status {
		st := correlate.Status(s)
		switch st {
		case correlate.StatusOpen, correlate.StatusAcknowledged, correlate.StatusClosed, correlate.StatusFalsePositive, correlate.StatusMerged:
		default:
			return fail("status", "unknown status %q", s)
		}
		c.Status = append(c.Status, st)
	}
	return c, nil
}

func normTactic(t string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(t)), "_", "-")
}

func parseAction(ay *actionYAML, line func(key string) int) (Action, *lineError) {
	fail := func(key, format string, args ...any) (Action, *lineError) {
		return Action{}, &lineError{line: line(key), msg: key + ": " + fmt.Sprintf(format, args...)}
	}
	a := Action{Kind: ay.Type, Name: ay.Name, URL: ay.URL, SecretEnv: ay.SecretEnv, SMTP: ay.SMTP, From: ay.From,
		To: ay.To, Username: ay.Username, Network: ay.Network, Address: ay.Address, Facility: 16}
	if a.Name == "" {
		a.Name = a.Kind
	}
	if !nameRE.MatchString(a.Name) {
		return fail("name", "%q: want 1 to 64 letters, digits, '_', '.' or '-'", a.Name)
	}
	if a.SecretEnv != "" && !envRE.MatchString(a.SecretEnv) {
		return fail("secret_env", "%q is not an environment variable name", a.SecretEnv)
	}
	if ay.Timeout != "" {
		d, err := time.ParseDuration(ay.Timeout)
		if err != nil || d <= 0 || d > 5*time.Minute {
			return fail("timeout", "%q: want a duration up to 5m", ay.Timeout)
		}
		a.Timeout = d
	}
	if r := ay.RateLimit; r != nil {
		if r.PerSecond != 0 && r.PerMinute != 0 {
			return fail("rate_limit", "set per_second or per_minute, not both")
		}
		a.Rate = r.PerSecond
		if r.PerMinute != 0 {
			a.Rate = r.PerMinute / 60
		}
		if math.IsNaN(a.Rate) || a.Rate <= 0 || a.Rate > 1e6 {
			return fail("rate_limit", "rate must be positive and at most 1e6 per second")
		}
		a.Burst = r.Burst
		if a.Burst == 0 {
			a.Burst = 1
		}
		if a.Burst < 0 || a.Burst > 1e6 {
			return fail("rate_limit", "burst %d out of range 1..1000000", r.Burst)
		}
	}
	needURL := func() *lineError {
		u, err := url.Parse(a.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			_, le := fail("url", "%q: want an http or https URL", a.URL)
			return le
		}
		return nil
	}
	needSecret := func(what string) *lineError {
		if a.SecretEnv == "" {
			_, le := fail("secret_env", "required: the environment variable holding the %s", what)
			return le
		}
		return nil
	}
	only := func(allowed ...string) *lineError {
		set := map[string]bool{}
		for _, k := range allowed {
			set[k] = true
		}
		for _, f := range []struct {
			key string
			set bool
		}{
			{"url", ay.URL != ""}, {"secret_env", ay.SecretEnv != ""}, {"smtp", ay.SMTP != ""}, {"from", ay.From != ""},
			{"to", len(ay.To) > 0}, {"username", ay.Username != ""}, {"network", ay.Network != ""},
			{"address", ay.Address != ""}, {"facility", ay.Facility != nil},
		} {
			if f.set && !set[f.key] {
				_, le := fail(f.key, "not an option of %s actions", a.Kind)
				return le
			}
		}
		return nil
	}
	var le *lineError
	switch a.Kind {
	case KindReview:
		le = only()
	case KindWebhook:
		if le = only("url", "secret_env"); le == nil {
			if le = needURL(); le == nil {
				le = needSecret("whsec_ signing secret")
			}
		}
	case KindSlack:
		if le = only("secret_env"); le == nil {
			le = needSecret("incoming webhook URL")
		}
	case KindPagerDuty:
		if le = only("url", "secret_env"); le == nil {
			if a.URL == "" {
				a.URL = DefaultPagerDutyURL
			}
			if le = needURL(); le == nil {
				le = needSecret("routing key")
			}
		}
	case KindEmail:
		le = only("smtp", "from", "to", "username", "secret_env")
		if le == nil {
			le = checkEmail(&a, fail)
		}
	case KindSyslogCEF:
		le = only("network", "address", "facility")
		if le == nil {
			if a.Network != "udp" && a.Network != "tcp" {
				_, le = fail("network", "%q: want udp or tcp", a.Network)
			} else if _, _, err := net.SplitHostPort(a.Address); err != nil || a.Address == "" {
				_, le = fail("address", "%q: want host:port", a.Address)
			} else if ay.Facility != nil {
				if *ay.Facility < 0 || *ay.Facility > 23 {
					_, le = fail("facility", "%d: want 0 to 23", *ay.Facility)
				} else {
					a.Facility = *ay.Facility
				}
			}
		}
	case "":
		return fail("type", "required: review, webhook, slack, pagerduty, email or syslog_cef")
	default:
		return fail("type", "unknown action type %q: want review, webhook, slack, pagerduty, email or syslog_cef", a.Kind)
	}
	if le != nil {
		return Action{}, le
	}
	return a, nil
}

func checkEmail(a *Action, fail func(key, format string, args ...any) (Action, *lineError)) *lineError {
	if _, _, err := net.SplitHostPort(a.SMTP); err != nil || a.SMTP == "" {
		_, le := fail("smtp", "%q: want host:port of the relay", a.SMTP)
		return le
	}
	from, err := mail.ParseAddress(a.From)
	if err != nil || strings.ContainsAny(a.From, "\r\n") {
		_, le := fail("from", "%q is not an email address", a.From)
		return le
	}
	a.mailFrom = from.Address
	if len(a.To) == 0 {
		_, le := fail("to", "required: at least one recipient")
		return le
	}
	for _, to := range a.To {
		addr, err := mail.ParseAddress(to)
		if err != nil || strings.ContainsAny(to, "\r\n") {
			_, le := fail("to", "%q is not an email address", to)
			return le
		}
		a.rcpt = append(a.rcpt, addr.Address)
	}
	if (a.Username == "") != (a.SecretEnv == "") {
		_, le := fail("username", "username and secret_env (the password) go together")
		return le
	}
	return nil
}

// findAnchor returns the first node with an anchor or an alias.
func findAnchor(n *yaml.Node) *yaml.Node {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return n
	}
	for _, c := range n.Content {
		if a := findAnchor(c); a != nil {
			return a
		}
	}
	return nil
}

// positions finds lines in the parsed YAML tree by path (map keys and sequence
// indexes); a path that does not resolve gives the line of its deepest existing
// part.
type positions struct{ root *yaml.Node }

func (p positions) line(path ...any) int {
	n := p.root
	if n == nil {
		return 0
	}
	best := n.Line
	for _, step := range path {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
						best = n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
				best = next.Line
			}
		}
		if next == nil {
			return best
		}
		n = next
	}
	return best
}
