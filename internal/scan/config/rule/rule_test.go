package rule

import (
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
)

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"DB_PASSWORD": true, "dbPassword": true, "API_KEY": true, "apiKey": true, "STRIPE_KEY": true,
		"AWS_SECRET_ACCESS_KEY": true, "GITHUB_TOKEN": true, "PASS": true, "client-secret": true,
		"AWS_ACCESS_KEY_ID": false, "PUBLIC_KEY": false, "PASSWORD_FILE": false, "TOKEN_URL": false,
		"SECRET_NAME": false, "KEYCLOAK_URL": false, "MONKEY": false, "PWD": false, "LOG_LEVEL": false,
		"BYPASS_CACHE": false, "PASSWORD_MIN_LENGTH": false,
	} {
		if got := SecretName(name); got != want {
			t.Errorf("SecretName(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestLiteralSecret(t *testing.T) {
	for v, want := range map[string]bool{
		"hunter2": true, "": false, "  ": false, "$(FROM_SECRET)": false, "${X}": false,
		"/run/secrets/db": false, "true": false, "NO": false, "s3cr3t value": true,
	} {
		if got := LiteralSecret(v); got != want {
			t.Errorf("LiteralSecret(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestFinding(t *testing.T) {
	r := Rule{ID: "VGL-X-001", Severity: scan.SeverityHigh, Title: "t", Remediation: "r", References: []string{"ref"}}
	f := r.Finding("a/b.yaml", 7, "key", "msg")
	if f.RuleID != "VGL-X-001" || f.Kind != scan.KindConfig || f.Severity != scan.SeverityHigh || f.Location.Path != "a/b.yaml" ||
		f.Location.StartLine != 7 || f.Key != "key" || f.Message != "msg" || f.Remediation != "r" || len(f.References) != 1 {
		t.Fatalf("%+v", f)
	}
}
