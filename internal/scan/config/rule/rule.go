// Package rule holds what the configuration checks share: the description
// of a check (Rule) that turns into scan.Findings, and the test for names
// that hold secrets (SecretName) used by the Kubernetes env and Dockerfile
// ENV/ARG checks.
package rule

import (
	"strings"
	"unicode"

	"github.com/vigilsec/vigil/internal/scan"
)

// Rule describes one built-in check: a stable id (VGL-K8S-001), its severity,
// what it is about, how to fix it, and the benchmark sections it follows.
type Rule struct {
	ID          string
	Severity    scan.Severity
	Title       string
	Remediation string
	References  []string
}

// Finding returns a finding of the rule at path:line. key tells two findings
// of the rule in one file apart without the line (an object and container, a
// resource address) so the fingerprint survives edits that move lines.
func (r Rule) Finding(path string, line int, key, msg string) scan.Finding {
	return scan.Finding{
		RuleID:      r.ID,
		Kind:        scan.KindConfig,
		Severity:    r.Severity,
		Title:       r.Title,
		Message:     msg,
		Location:    scan.Location{Path: path, StartLine: line, EndLine: line},
		Remediation: r.Remediation,
		References:  r.References,
		Key:         key,
	}
}

// secretWords are the words of a variable name that say it holds a secret.
var secretWords = map[string]bool{
	"PASSWORD": true, "PASSWD": true, "PASS": true, "PASSPHRASE": true, "PWD": false,
	"SECRET": true, "SECRETS": true, "TOKEN": true, "APIKEY": true, "CREDENTIAL": true,
	"CREDENTIALS": true, "CREDS": true, "PRIVATEKEY": true, "ACCESSKEY": true, "SECRETKEY": true,
}

// notSecretLast are last words that make a name point at a secret instead of
// holding one (TOKEN_FILE, PASSWORD_PATH, SECRET_NAME) or describe it
// (TOKEN_TTL, PASSWORD_MIN_LENGTH).
var notSecretLast = map[string]bool{
	"FILE": true, "FILES": true, "PATH": true, "DIR": true, "NAME": true, "URL": true, "URI": true,
	"ENDPOINT": true, "ID": true, "TTL": true, "EXPIRY": true, "EXPIRES": true, "LENGTH": true, "LEN": true,
	"TYPE": true, "REF": true, "HEADER": true, "FIELD": true, "ENABLED": true, "ENABLE": true,
	"DISABLED": true, "REQUIRED": true, "POLICY": true, "MODE": true, "PREFIX": true, "LOCATION": true,
	"KEYRING": true, "AUDIENCE": true, "ISSUER": true, "SIZE": true, "TIMEOUT": true, "VERSION": true,
	"ALGORITHM": true, "ROTATION": true, "COUNT": true, "FORMAT": true,
}

// SecretName reports whether an environment variable or build argument named
// name looks like it holds a credential: a word such as PASSWORD, SECRET,
// TOKEN or API_KEY (camelCase and snake_case both split into words), unless
// the last word says it names a file, path or setting about the secret
// (PASSWORD_FILE, TOKEN_URL, SECRET_NAME) or the key is public (PUBLIC_KEY).
func SecretName(name string) bool {
	words := splitWords(name)
	if len(words) == 0 || notSecretLast[words[len(words)-1]] {
		return false
	}
	for i, w := range words {
		if secretWords[w] {
			return true
		}
		if w == "KEY" && i == len(words)-1 && (i == 0 || words[i-1] != "PUBLIC") {
			// API_KEY, ACCESS_KEY, STRIPE_KEY, KEY; not KEY_ID, PUBLIC_KEY
			return true
		}
	}
	return false
}

// splitWords splits a name into upper-case words at non-alphanumerics and at
// lower-to-upper case changes (dbPassword -> DB PASSWORD).
func splitWords(name string) []string {
	var words []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, strings.ToUpper(cur.String()))
			cur.Reset()
		}
	}
	prevLower := false
	for _, r := range name {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if unicode.IsUpper(r) && prevLower {
				flush()
			}
			cur.WriteRune(r)
			prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
		default:
			flush()
			prevLower = false
		}
	}
	flush()
	return words
}

// LiteralSecret reports whether value is a literal worth calling a secret:
// not empty, not a reference to another variable ($VAR, ${VAR}, $(VAR)), not
// a boolean or a path.
func LiteralSecret(value string) bool {
	v := strings.TrimSpace(value)
	if v == "" || strings.HasPrefix(v, "$") || strings.HasPrefix(v, "/") {
		return false
	}
	switch strings.ToLower(v) {
	case "true", "false", "yes", "no", "null", "none", "nil", "''", `""`:
		return false
	}
	return true
}
