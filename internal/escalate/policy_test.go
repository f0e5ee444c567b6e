package escalate

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
)

func TestLoadGood(t *testing.T) {
	ps, err := Load("testdata/policies.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.Policies) != 2 || ps.Policies[0].Line != 3 || ps.Policies[1].Line != 23 {
		t.Fatalf("policies: %+v", ps.Policies)
	}
	p := ps.Policies[0]
	if *p.When.MinSeverity != detect.SeverityHigh || *p.When.MinRisk != 70 || *p.When.MinCriticality != risk.CriticalityHigh ||
		strings.Join(p.When.Tactics, ",") != "credential-access,lateral-movement" || len(p.When.Status) != 2 {
		t.Errorf("conditions: %+v", p.When)
	}
	pd, ok := ps.Action("page-critical/pagerduty")
	if !ok || pd.URL != DefaultPagerDutyURL || pd.Rate != 0.5 || pd.Burst != 5 || pd.SecretEnv != "VIGIL_PD_ROUTING_KEY" || pd.Line != 11 {
		t.Errorf("pagerduty action: %+v", pd)
	}
	hook, ok := ps.Action("page-critical/soc-hook")
	if !ok || hook.Timeout != 5*time.Second || hook.Kind != KindWebhook {
		t.Errorf("webhook action: %+v", hook)
	}
	cef, _ := ps.Action("page-critical/syslog_cef")
	if cef == nil || cef.Facility != 10 || cef.Network != "udp" {
		t.Errorf("cef action: %+v", cef)
	}
	mail, _ := ps.Action("uncertain-to-review/email")
	if mail == nil || len(mail.To) != 2 || mail.Username != "vigil" {
		t.Errorf("email action: %+v", mail)
	}
	u := ps.Policies[1].When
	if *u.MinConfidence != 0.3 || *u.MaxConfidence != 0.6 || *u.MaxRisk != 70 || u.MinSeverity != nil {
		t.Errorf("uncertainty band: %+v", u)
	}
}

func TestParseBad(t *testing.T) {
	const head = "policies:\n  - name: p\n"
	cases := []struct {
		name, yaml, want string
	}{
		{"empty", "", "bad.yaml: empty policy file"},
		{"no policies", "policies: []\n", "bad.yaml:1: no policies"},
		{"unknown top key", "policy: []\n", "bad.yaml:1: field policy not found"},
		{"unknown condition", head + "    when: {min_sev: high}\n    actions: [{type: review}]\n", "bad.yaml:3: field min_sev not found"},
		{"unknown action key", head + "    actions:\n      - type: review\n        urll: x\n", "bad.yaml:5: field urll not found"},
		{"bad severity", head + "    when:\n      min_severity: urgent\n    actions: [{type: review}]\n", "bad.yaml:4: policy p: min_severity:"},
		{"confidence range", head + "    when:\n      min_confidence: 1.5\n    actions: [{type: review}]\n", "bad.yaml:4: policy p: min_confidence: 1.5 is not between 0 and 1"},
		{"inverted band", head + "    when:\n      min_confidence: 0.6\n      max_confidence: 0.3\n    actions: [{type: review}]\n", "bad.yaml:5: policy p: max_confidence: 0.3 is below min_confidence 0.6"},
		{"nan risk", head + "    when:\n      min_risk: .nan\n    actions: [{type: review}]\n", "bad.yaml:4: policy p: min_risk"},
		{"criticality", head + "    when:\n      min_criticality: vital\n    actions: [{type: review}]\n", "bad.yaml:4: policy p: min_criticality"},
		{"status", head + "    when:\n      status: [opened]\n    actions: [{type: review}]\n", `bad.yaml:4: policy p: status: unknown status "opened"`},
		{"no actions", head + "    when: {}\n", "bad.yaml:2: policy p has no actions"},
		{"bad name", "policies:\n  - name: 'a b'\n    actions: [{type: review}]\n", `bad.yaml:2: policy name "a b"`},
		{"duplicate policy", head + "    actions: [{type: review}]\n" + "  - name: p\n    actions: [{type: review}]\n", `bad.yaml:4: policy "p" already defined at line 2`},
		{"unknown type", head + "    actions:\n      - type: sms\n", `bad.yaml:4: policy p action 1: type: unknown action type "sms"`},
		{"missing type", head + "    actions:\n      - name: x\n", "bad.yaml:4: policy p action 1: type: required"},
		{"webhook url", head + "    actions:\n      - type: webhook\n        url: ftp://x\n        secret_env: S\n", `bad.yaml:5: policy p action 1: url: "ftp://x"`},
		{"webhook secret", head + "    actions:\n      - type: webhook\n        url: https://x\n", "bad.yaml:4: policy p action 1: secret_env: required"},
		{"secret env name", head + "    actions:\n      - type: slack\n        secret_env: 'A-B'\n", `bad.yaml:5: policy p action 1: secret_env: "A-B" is not an environment variable name`},
		{"option of another type", head + "    actions:\n      - type: review\n        url: https://x\n", "bad.yaml:5: policy p action 1: url: not an option of review actions"},
		{"email from", head + "    actions:\n      - type: email\n        smtp: h:25\n        from: nobody\n        to: [a@b.c]\n", `bad.yaml:6: policy p action 1: from: "nobody"`},
		{"email header injection", head + "    actions:\n      - type: email\n        smtp: h:25\n        from: a@b.c\n        to: [\"a@b.c\\r\\nBcc: x@y.z\"]\n", "bad.yaml:7: policy p action 1: to:"},
		{"email auth pair", head + "    actions:\n      - type: email\n        smtp: h:25\n        from: a@b.c\n        to: [a@b.c]\n        username: u\n", "policy p action 1: username: username and secret_env"},
		{"syslog network", head + "    actions:\n      - type: syslog_cef\n        network: sctp\n        address: h:514\n", `bad.yaml:5: policy p action 1: network: "sctp"`},
		{"syslog facility", head + "    actions:\n      - type: syslog_cef\n        network: tcp\n        address: h:514\n        facility: 30\n", "bad.yaml:7: policy p action 1: facility: 30"},
		{"rate both", head + "    actions:\n      - type: review\n        rate_limit: {per_second: 1, per_minute: 1}\n", "bad.yaml:5: policy p action 1: rate_limit: set per_second or per_minute"},
		{"timeout", head + "    actions:\n      - type: review\n        timeout: 1h\n", `bad.yaml:5: policy p action 1: timeout: "1h"`},
		{"duplicate action", head + "    actions:\n      - type: review\n      - type: review\n", `bad.yaml:5: policy p: two actions named "review"`},
		{"anchor", "policies:\n  - &a\n    name: p\n    actions: [{type: review}]\n  - *a\n", "bad.yaml:2: YAML anchors and aliases are not allowed"},
		{"not yaml", "policies: [\n", "bad.yaml: parsing YAML"},
		{"wrong type", "policies: {name: p}\n", "bad.yaml:1: cannot unmarshal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("parsed without error")
			}
			if !errors.Is(err, ErrPolicy) {
				t.Errorf("error %v does not wrap ErrPolicy", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	_, err := Parse("big.yaml", make([]byte, MaxPolicyFileSize+1))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %v", err)
	}
}

func TestConditions(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	sev := detect.SeverityHigh
	crit := risk.CriticalityHigh
	inc := correlate.Incident{ID: "i", Severity: detect.SeverityHigh, Confidence: 0.5, Risk: 60, Status: correlate.StatusOpen,
		Tactics:  []string{"Credential-Access"},
		Entities: []detect.Entity{{Kind: detect.EntityUser, Value: "alice"}, {Kind: detect.EntityHost, Value: "dc-1"}}}
	critOf := func(e detect.Entity) (risk.Criticality, bool) {
		if e.Value == "dc-1" {
			return risk.CriticalityExtreme, true
		}
		return risk.CriticalityUnknown, false
	}
	cases := []struct {
		name string
		c    Conditions
		crit CriticalityFunc
		want bool
	}{
		{"none", Conditions{}, nil, true},
		{"severity met", Conditions{MinSeverity: &sev}, nil, true},
		{"severity not met", Conditions{MinSeverity: func() *detect.Severity { s := detect.SeverityCritical; return &s }()}, nil, false},
		{"band in", Conditions{MinConfidence: f(0.3), MaxConfidence: f(0.6)}, nil, true},
		{"band above", Conditions{MinConfidence: f(0.1), MaxConfidence: f(0.4)}, nil, false},
		{"band below", Conditions{MinConfidence: f(0.6)}, nil, false},
		{"risk met", Conditions{MinRisk: f(60), MaxRisk: f(60)}, nil, true},
		{"risk not met", Conditions{MinRisk: f(60.5)}, nil, false},
		{"tactic any of, case and underscores", Conditions{Tactics: []string{"exfiltration", "credential-access"}}, nil, true},
		{"tactic missing", Conditions{Tactics: []string{"exfiltration"}}, nil, false},
		{"status", Conditions{Status: []correlate.Status{correlate.StatusClosed}}, nil, false},
		{"criticality met", Conditions{MinCriticality: &crit}, critOf, true},
		{"criticality without function", Conditions{MinCriticality: &crit}, nil, false},
		{"criticality not met", Conditions{MinCriticality: &crit}, func(detect.Entity) (risk.Criticality, bool) { return risk.CriticalityMedium, true }, false},
	}
	for _, tc := range cases {
		if got := tc.c.Matches(&inc, tc.crit); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	good, err := readFile("testdata/policies.good.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("policies:\n  - name: p\n    actions: [{type: review}]\n"))
	f.Add([]byte("policies:\n  - &a {name: p}\n  - *a\n"))
	f.Add([]byte("policies: [{name: p, when: {min_risk: .inf}, actions: [{type: syslog_cef, network: udp, address: '[::1]:5'}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("error %v does not wrap ErrPolicy", err)
			}
			return
		}
		if len(ps.Policies) == 0 {
			t.Fatal("parsed a file without policies")
		}
		for _, p := range ps.Policies {
			if len(p.Actions) == 0 || p.Name == "" {
				t.Fatalf("policy %+v without name or actions", p)
			}
			for _, a := range p.Actions {
				if got, ok := ps.Action(a.ID); !ok || got.Kind != a.Kind {
					t.Fatalf("action %s not found by id", a.ID)
				}
			}
			inc := correlate.Incident{ID: "x", Tactics: []string{"a"}, Entities: []detect.Entity{{Kind: "user", Value: "u"}}}
			p.When.Matches(&inc, func(detect.Entity) (risk.Criticality, bool) { return risk.CriticalityExtreme, true })
		}
	})
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
