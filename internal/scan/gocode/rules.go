package gocode

import "github.com/vigilsec/vigil/internal/scan"

// Rule is one check of the scanner: a stable id, what it finds and how bad it
// is. Rules lists them all (for SARIF rule tables and documentation).
type Rule struct {
	ID          string
	Title       string
	Severity    scan.Severity
	Remediation string
	References  []string // CWE ids
	class       class    // the taint class of an injection rule; 0 for the others
}

// Rule ids. The injection rules (001-005) come from taint tracking on SSA;
// the others (010-016) from the syntax trees.
const (
	RuleSQLInjection     = "VGL-GO-001"
	RuleCommandInjection = "VGL-GO-002"
	RulePathTraversal    = "VGL-GO-003"
	RuleSSRF             = "VGL-GO-004"
	RuleXSS              = "VGL-GO-005"
	RuleWeakHash         = "VGL-GO-010"
	RuleWeakCipher       = "VGL-GO-011"
	RuleShortRSAKey      = "VGL-GO-012"
	RuleInsecureTLS      = "VGL-GO-013"
	RuleOldTLS           = "VGL-GO-014"
	RuleWeakRandom       = "VGL-GO-015"
	RuleHardcodedCred    = "VGL-GO-016" //nolint:gosec // G101: a rule id, not a credential
)

// class is a set of injection classes a tainted value is still dangerous for;
// sanitizers clear bits.
type class uint8

const (
	clsSQL class = 1 << iota
	clsCmd
	clsPath
	clsSSRF
	clsXSS

	clsAll = clsSQL | clsCmd | clsPath | clsSSRF | clsXSS
)

var rules = [...]Rule{
	{ID: RuleSQLInjection, Title: "SQL injection", Severity: scan.SeverityHigh, class: clsSQL,
		Remediation: "Pass user input as query arguments (placeholders such as ? or $1) instead of building the query string from it.",
		References:  []string{"CWE-89"}},
	{ID: RuleCommandInjection, Title: "OS command injection", Severity: scan.SeverityCritical, class: clsCmd,
		Remediation: "Do not choose the program or a shell command line from user input; run a fixed program with exec.Command and pass input as separate arguments, after validating it against an allow-list.",
		References:  []string{"CWE-78"}},
	{ID: RulePathTraversal, Title: "Path traversal", Severity: scan.SeverityHigh, class: clsPath,
		Remediation: "Resolve the path under a fixed base directory and refuse it unless it stays there (filepath.Clean/Join then strings.HasPrefix, filepath.IsLocal, or os.Root); or keep only filepath.Base of the input.",
		References:  []string{"CWE-22"}},
	{ID: RuleSSRF, Title: "Server-side request forgery", Severity: scan.SeverityHigh, class: clsSSRF,
		Remediation: "Do not let user input choose the host or URL of outbound requests; map it to an allow-list of destinations and block internal addresses.",
		References:  []string{"CWE-918"}},
	{ID: RuleXSS, Title: "Cross-site scripting", Severity: scan.SeverityMedium, class: clsXSS,
		Remediation: "Render user input through html/template (which escapes it), or escape it with html.EscapeString / template.HTMLEscapeString; never convert it to template.HTML/JS/URL/CSS.",
		References:  []string{"CWE-79"}},
	{ID: RuleWeakHash, Title: "Weak hash function", Severity: scan.SeverityLow,
		Remediation: "Use SHA-256 (crypto/sha256) or stronger; MD5 and SHA-1 are broken for collision resistance.",
		References:  []string{"CWE-328"}},
	{ID: RuleWeakCipher, Title: "Broken cipher", Severity: scan.SeverityHigh,
		Remediation: "Use AES-GCM (crypto/aes with crypto/cipher.NewGCM) or ChaCha20-Poly1305 instead of DES, 3DES or RC4.",
		References:  []string{"CWE-327"}},
	{ID: RuleShortRSAKey, Title: "RSA key shorter than 2048 bits", Severity: scan.SeverityMedium,
		Remediation: "Generate RSA keys of at least 2048 bits (3072 for use beyond 2030).",
		References:  []string{"CWE-326"}},
	{ID: RuleInsecureTLS, Title: "TLS certificate verification disabled", Severity: scan.SeverityHigh,
		Remediation: "Remove InsecureSkipVerify; trust a private CA through tls.Config.RootCAs instead.",
		References:  []string{"CWE-295"}},
	{ID: RuleOldTLS, Title: "TLS version below 1.2 allowed", Severity: scan.SeverityMedium,
		Remediation: "Set tls.Config.MinVersion to tls.VersionTLS12 or tls.VersionTLS13.",
		References:  []string{"CWE-327"}},
	{ID: RuleWeakRandom, Title: "Predictable random value used as a secret", Severity: scan.SeverityMedium,
		Remediation: "Make tokens, keys, nonces and passwords with crypto/rand (rand.Read, rand.Text), not math/rand.",
		References:  []string{"CWE-338"}},
	{ID: RuleHardcodedCred, Title: "Hard-coded credential", Severity: scan.SeverityHigh,
		Remediation: "Read the credential from the environment, a secret manager or a file outside the repository, and rotate the exposed one.",
		References:  []string{"CWE-798"}},
}

// Rules returns the scanner's rules, in id order.
func Rules() []Rule {
	out := make([]Rule, len(rules))
	copy(out, rules[:])
	return out
}

func ruleByID(id string) *Rule {
	for i := range rules {
		if rules[i].ID == id {
			return &rules[i]
		}
	}
	return nil
}

func ruleForClass(c class) *Rule {
	for i := range rules {
		if rules[i].class == c {
			return &rules[i]
		}
	}
	return nil
}
