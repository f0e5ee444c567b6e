package secrets

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"math"
	"regexp"
	"strings"

	"github.com/vigilsec/vigil/internal/scan"
)

// Confidence says how sure a rule's match is a live credential.
type Confidence uint8

// Confidences. High: the value has a provider's own format (a prefix, a fixed
// length and alphabet, a structure); reported in test paths too, at low severity.
// Medium: a structure shared with non-secrets (a signed JWT, a password in a URL);
// Low: a keyword and a value that looks random. Medium and low rules do not run on
// test paths, and low ones not on lockfiles.
const (
	ConfidenceHigh Confidence = iota
	ConfidenceMedium
	ConfidenceLow
)

func (c Confidence) String() string {
	switch c {
	case ConfidenceHigh:
		return "high"
	case ConfidenceMedium:
		return "medium"
	default:
		return "low"
	}
}

// Remediation is every secret finding's advice.
const Remediation = "rotate the credential, then remove it from history"

// Rule describes one detection rule (Rules lists them).
type Rule struct {
	ID         string // stable: VGL-SEC-001
	Title      string
	Severity   scan.Severity
	Confidence Confidence
	References []string
}

// kw is a keyword of the prefilter. Matching ignores ASCII case unless exact,
// in which case the text's bytes must equal s.
type kw struct {
	s     string
	exact bool
}

func fold(ss ...string) []kw {
	out := make([]kw, len(ss))
	for i, s := range ss {
		out[i] = kw{s: s}
	}
	return out
}

func exact(ss ...string) []kw {
	out := make([]kw, len(ss))
	for i, s := range ss {
		out[i] = kw{s: s, exact: true}
	}
	return out
}

// charset is a set of bytes: the characters a token is made of, which must not
// touch it on either side (its boundaries).
type charset [256]bool

func newCharset(spec string) *charset {
	var c charset
	for i := 0; i < len(spec); i++ {
		if i+2 < len(spec) && spec[i+1] == '-' {
			for b := int(spec[i]); b <= int(spec[i+2]); b++ {
				c[b] = true
			}
			i += 2
			continue
		}
		c[spec[i]] = true
	}
	return &c
}

var (
	alnum    = newCharset("A-Za-z0-9")
	word     = newCharset("A-Za-z0-9_")
	wordDash = newCharset("A-Za-z0-9_-")
	b64      = newCharset("A-Za-z0-9+/")
	jwtChars = newCharset("A-Za-z0-9_.-")
	slackURL = newCharset("A-Za-z0-9_/+-")
	ident    = newCharset("A-Za-z0-9_.-") // key names: DB_PASSWORD, db.password, --password
	scheme   = newCharset("A-Za-z0-9+.-") // URL schemes
)

// anchored compiles an expression that must match where it is tried.
func anchored(src string) *regexp.Regexp { return regexp.MustCompile(`^(?:` + src + `)`) }

// rule is a Rule with how to find it.
type rule struct {
	Rule
	keywords []kw // where to look: the lines holding one
	context  []kw // when set, the file must also hold one of these somewhere
	re       *regexp.Regexp
	// group is the first submatch that may hold the secret: the secret is the
	// first non-empty submatch from group on (0: the whole match).
	group    int
	lead     *charset // the match may start this run of characters before its keyword (nil: at the keyword)
	leadMax  int      // the longest such run (0: 80)
	span     int      // the longest match, from its start (0: 1 KiB)
	boundary *charset // the secret's neighbours must not be in it (nil: no check)
	// locate replaces re: the submatch indexes of a match starting at start
	// (its keyword at p), within text[:limit], or nil.
	locate  func(text []byte, start, p, limit int) []int
	check   func(c *cand, e *env) bool
	snippet func(c *cand) string // nil: the secret's first characters
	noLock  bool                 // not run on lockfiles
}

// cand is a candidate match: the secret's span in the content and the value
// identifying it (normalised: a private key's base64 body, the user, password
// and host of a URL).
type cand struct {
	rule       int
	start, end int    // the reported span (absolute)
	sub        []int  // the match's submatch indexes (absolute)
	secret     []byte // what the Key hashes
	label      string // extra words for the snippet (a key's type)
}

// env is what a check may look at besides the match.
type env struct {
	content []byte
	kind    pathKind
	ends    map[string]endSearch // pemKey's searches, so that many BEGIN lines cost one pass
}

// endSearch remembers a search for a literal: its first occurrence at or after
// from is at (-1: none before to).
type endSearch struct{ from, to, at int }

// findEnd returns the first occurrence of lit starting in [from, to) ending
// by to, or -1, reusing the last search for lit when they overlap.
func (e *env) findEnd(lit string, from, to int) int {
	if e.ends == nil {
		e.ends = map[string]endSearch{}
	}
	start := from
	if s, ok := e.ends[lit]; ok && from >= s.from {
		switch {
		case s.at >= from:
			if s.at+len(lit) <= to {
				return s.at
			}
			return -1
		case s.at < 0 && from < s.to:
			start = max(from, s.to-len(lit)+1)
		}
	}
	at := -1
	if start < to {
		if i := bytes.Index(e.content[start:to], []byte(lit)); i >= 0 {
			at = start + i
		}
	}
	e.ends[lit] = endSearch{from: from, to: to, at: at}
	return at
}

func (c *cand) group(e *env, i int) []byte {
	if 2*i+1 >= len(c.sub) || c.sub[2*i] < 0 {
		return nil
	}
	return e.content[c.sub[2*i]:c.sub[2*i+1]]
}

// knownDocumentation are credentials published in vendors' documentation.
var knownDocumentation = map[string]bool{
	"AKIAIOSFODNN7EXAMPLE":                     true,
	"AKIAI44QH8DHBEXAMPLE":                     true,
	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": true,
	"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY": true,
	"ghp_16C7e42F292c6912E7710c838347Ae178B4a": true, // GitHub docs
	// jwt.io's default token
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c": true,
	// the Azure Storage emulator's (Azurite's) well-known account key
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==": true,
}

// token is the check of a provider's token: not documentation, not a placeholder.
func token(c *cand, _ *env) bool {
	return !knownDocumentation[string(c.secret)] && !isPlaceholder(c.secret)
}

const (
	assign   = `["']?\s{0,4}(?::=|=>|=|:)\s{0,4}["']?`
	cwe798   = "CWE-798"
	awsRefs  = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html"
	ghRefs   = "https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/token-expiration-and-revocation"
	keyLabel = `((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)`
)

// ruleTable is the rule set, most specific first: where two matches overlap,
// the earlier rule's is kept (a GitHub token in a URL is a GitHub token; a
// token assigned to a variable is the provider's, not a generic secret).
func ruleTable() []rule {
	rs := []rule{
		{
			Rule:     Rule{ID: "VGL-SEC-001", Title: "AWS access key ID", Severity: scan.SeverityHigh, References: []string{awsRefs, cwe798}},
			keywords: exact("AKIA", "ASIA", "ABIA", "ACCA"),
			re:       anchored(`(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}`),
			boundary: alnum, check: token,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-002", Title: "AWS secret access key", Severity: scan.SeverityCritical, References: []string{awsRefs, cwe798}},
			keywords: fold("secret_access", "secretaccess", "secret-access", "secret_key", "secretkey", "secret-key", "aws_secret", "awssecret"),
			re:       anchored(`(?i)[a-z0-9_.-]*secret[_.-]?(?:access[_.-]?)?key["']?\s{0,4}(?::=|=>|=|:|,|\s)\s{0,4}["']?([A-Za-z0-9/+]{40})`),
			group:    1, lead: ident, boundary: b64, check: awsSecret,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-003", Title: "GitHub token", Severity: scan.SeverityHigh, References: []string{ghRefs, cwe798}},
			keywords: exact("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
			re:       anchored(`gh[pousr]_[A-Za-z0-9]{36,}`),
			boundary: word, check: token,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-004", Title: "GitHub fine-grained personal access token", Severity: scan.SeverityHigh, References: []string{ghRefs, cwe798}},
			keywords: exact("github_pat_"),
			re:       anchored(`github_pat_[A-Za-z0-9_]{82,}`),
			boundary: word, check: token,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-005", Title: "GitLab token", Severity: scan.SeverityHigh, References: []string{"https://docs.gitlab.com/security/tokens/", cwe798}},
			keywords: exact("glpat-", "gldt-", "glrt-", "glptt-"),
			re:       anchored(`gl(?:pat|dt|rt|ptt)-[A-Za-z0-9_-]{20,64}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,12})?`),
			boundary: wordDash, check: token,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-006", Title: "Slack token", Severity: scan.SeverityHigh, References: []string{"https://api.slack.com/authentication/token-types", cwe798}},
			keywords: exact("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxr-", "xoxs-", "xoxe", "xapp-"),
			re: anchored(`xoxe(?:\.xox[bp])?-[0-9]-[0-9A-Za-z]{100,}|` +
				`xox[abposr]-[0-9A-Za-z][0-9A-Za-z-]{8,}|xapp-[0-9]-[0-9A-Za-z]{6,20}-[0-9]{6,20}-[0-9a-f]{32,}`),
			boundary: wordDash, check: slackToken,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-007", Title: "Slack webhook URL", Severity: scan.SeverityMedium, References: []string{"https://api.slack.com/messaging/webhooks", cwe798}},
			keywords: fold("https://hooks.slack.com"),
			re:       anchored(`https://hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9_/+-]{20,})`),
			boundary: slackURL, check: slackWebhook,
			snippet: func(*cand) string { return "https://hooks.slack.com/…" },
		},
		{
			Rule:     Rule{ID: "VGL-SEC-008", Title: "Stripe live secret key", Severity: scan.SeverityCritical, References: []string{"https://docs.stripe.com/keys", cwe798}},
			keywords: exact("sk_live_", "rk_live_"),
			re:       anchored(`[sr]k_live_[0-9A-Za-z]{24,}`),
			boundary: word, check: token,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-009", Title: "Google API key", Severity: scan.SeverityMedium, References: []string{"https://cloud.google.com/docs/authentication/api-keys", cwe798}},
			keywords: exact("AIza"),
			re:       anchored(`AIza[0-9A-Za-z_-]{35}`),
			boundary: wordDash, check: token,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-010", Title: "Google Cloud service account key", Severity: scan.SeverityCritical, References: []string{"https://cloud.google.com/iam/docs/keys-create-delete", cwe798}},
			keywords: fold(`"private_key"`),
			context:  exact(`"client_email"`),
			re:       anchored(`"private_key"\s*:\s*"(-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----[^"]{64,})"`),
			group:    1, check: gcpKey, span: 32 << 10,
			snippet: func(*cand) string { return "-----BEGIN PRIVATE KEY-----…" },
		},
		{
			Rule:     Rule{ID: "VGL-SEC-011", Title: "Private key", Severity: scan.SeverityHigh, References: []string{cwe798, "CWE-321"}},
			keywords: exact("-----BEGIN "),
			re:       anchored(`-----BEGIN ` + keyLabel + `-----`),
			check:    pemKey,
			snippet:  func(c *cand) string { return "-----BEGIN " + c.label + "-----…" },
		},
		{
			Rule:     Rule{ID: "VGL-SEC-012", Title: "npm access token", Severity: scan.SeverityHigh, References: []string{"https://docs.npmjs.com/about-access-tokens", cwe798}},
			keywords: append(exact("npm_"), fold("_authtoken")...),
			re:       anchored(`(npm_[A-Za-z0-9]{36})|(?i:_authToken)\s*=\s*["']?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`),
			group:    1, boundary: word, check: token,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-013", Title: "PyPI API token", Severity: scan.SeverityHigh, References: []string{"https://pypi.org/help/#apitoken", cwe798}},
			keywords: exact("pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw"),
			re:       anchored(`pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,}`),
			boundary: wordDash, check: longToken, span: 4 << 10,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-014", Title: "Twilio API key", Severity: scan.SeverityHigh, References: []string{"https://www.twilio.com/docs/iam/api-keys", cwe798}},
			keywords: exact("SK"),
			context:  fold("twilio"),
			re:       anchored(`SK[0-9a-fA-F]{32}`),
			boundary: alnum, check: token,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-015", Title: "Twilio auth token", Severity: scan.SeverityHigh, References: []string{"https://www.twilio.com/docs/iam/credentials/api", cwe798}},
			keywords: fold("twilio"),
			re:       anchored(`(?i)twilio[a-z0-9_.-]{0,20}?(?:auth)?[_.-]?token` + assign + `([0-9a-f]{32})`),
			group:    1, boundary: alnum, check: token,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-016", Title: "SendGrid API key", Severity: scan.SeverityHigh, References: []string{"https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys", cwe798}},
			keywords: exact("SG."),
			re:       anchored(`SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}`),
			boundary: wordDash, check: token,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-017", Title: "Azure storage account key", Severity: scan.SeverityCritical, References: []string{"https://learn.microsoft.com/azure/storage/common/storage-account-keys-manage", cwe798}},
			keywords: fold("accountkey", "account_key", "account-key", "storage_key", "storage-key", "storagekey"),
			re: anchored(`(?i)(?:accountkey\s*=\s*|[a-z0-9_.-]*?(?:storage[_.-]?(?:account[_.-]?)?(?:access[_.-]?)?key|account[_.-]?key)` + assign +
				`)([A-Za-z0-9+/]{86}==)`),
			group: 1, lead: ident, boundary: b64, check: longToken,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-018", Title: "Docker registry credentials", Severity: scan.SeverityHigh, References: []string{"https://docs.docker.com/reference/cli/docker/login/#credential-stores", cwe798}},
			keywords: fold(`"auth"`),
			re:       anchored(`"auth"\s*:\s*"([A-Za-z0-9+/]{6,}={0,2})"`),
			group:    1, check: dockerAuth, span: 8 << 10,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-019", Title: "JSON Web Token", Severity: scan.SeverityMedium, Confidence: ConfidenceMedium, References: []string{"https://datatracker.ietf.org/doc/html/rfc7519", cwe798}},
			keywords: exact("eyJ"),
			re:       anchored(`eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,}`),
			boundary: jwtChars, check: jwt, noLock: true, span: 32 << 10,
		},
		{
			Rule:     Rule{ID: "VGL-SEC-020", Title: "Credentials in a URL", Severity: scan.SeverityHigh, Confidence: ConfidenceMedium, References: []string{"CWE-522", cwe798}},
			keywords: fold("://"),
			locate:   urlLocate,
			group:    3, lead: scheme, leadMax: 30, check: urlCreds,
			snippet: func(c *cand) string { return c.label },
		},
		{
			Rule:     Rule{ID: "VGL-SEC-021", Title: "Generic secret", Severity: scan.SeverityMedium, Confidence: ConfidenceLow, References: []string{cwe798}},
			keywords: fold("password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "api-key", "accesskey", "access_key", "access-key"),
			locate:   genericLocate,
			group:    2, lead: ident, check: generic, noLock: true, span: 256,
		},
	}
	for i := range rs {
		rs[i].leadMax = cmp.Or(rs[i].leadMax, 80)
		rs[i].span = cmp.Or(rs[i].span, 1<<10)
	}
	return rs
}

// awsSecret: 40 base64 characters of a random-looking mix (not a hex digest).
func awsSecret(c *cand, e *env) bool {
	s := c.secret
	if isHex(s) || knownDocumentation[string(s)] || isPlaceholder(s) {
		return false
	}
	_, lo, up, _, _ := charClasses(s)
	return lo > 0 && up > 0 && entropy(s) >= 4.0
}

func slackToken(c *cand, e *env) bool {
	digits := 0
	for _, b := range c.secret {
		if '0' <= b && b <= '9' {
			digits++
		}
	}
	return digits >= 6 && c.secret[len(c.secret)-1] != '-' && token(c, e)
}

func slackWebhook(c *cand, e *env) bool {
	p := c.group(e, 1)
	return !isPlaceholder(p) && !bytes.Contains(p, []byte("00000000"))
}

// longToken checks a long token (a PyPI macaroon, an Azure key): random text
// of that length holds short words by chance, so only documentation values,
// markers and long runs reject it.
func longToken(c *cand, _ *env) bool {
	return !knownDocumentation[string(c.secret)] && !longPlaceholder(c.secret)
}

func longPlaceholder(v []byte) bool {
	return bytes.Contains(v, []byte("EXAMPLE")) || bytes.Contains(v, []byte("example")) ||
		bytes.Contains(v, []byte("...")) || bytes.Contains(v, []byte("\u2026")) ||
		bytes.Contains(v, []byte("xxxxxxxx")) || bytes.Contains(v, []byte("XXXXXXXX")) ||
		bytes.Contains(v, []byte("${")) || bytes.Contains(v, []byte("{{")) || bytes.Contains(v, []byte("<")) ||
		distinct(v) < 16
}

// pemBody reads a private key's base64 body out of text between its armour
// lines: real or escaped ("\n") line breaks, header lines (Proc-Type: ...)
// dropped, only base64 characters kept.
func pemBody(text []byte) []byte {
	out := make([]byte, 0, len(text))
	text = bytes.ReplaceAll(text, []byte(`\r`), []byte("\n"))
	text = bytes.ReplaceAll(text, []byte(`\n`), []byte("\n"))
	for line := range bytes.SplitSeq(text, []byte("\n")) {
		if bytes.IndexByte(line, ':') >= 0 {
			continue
		}
		for _, b := range line {
			if b64[b] || b == '=' {
				out = append(out, b)
			}
		}
	}
	return out
}

const maxPEM = 64 << 10

// pemKey finds the END line of the key whose BEGIN line matched and takes the
// body between them as the secret (so the same key in a PEM file and quoted in
// JSON has one Key).
func pemKey(c *cand, e *env) bool {
	label := c.group(e, 1)
	hdrEnd := c.sub[1]
	end := "-----END " + string(label) + "-----"
	i := e.findEnd(end, hdrEnd, min(len(e.content), hdrEnd+maxPEM))
	if i < 0 {
		return false
	}
	i -= hdrEnd
	raw := e.content[hdrEnd : hdrEnd+i]
	if longPlaceholder(raw) {
		return false
	}
	body := pemBody(raw)
	if len(body) < 64 || distinct(body) < 16 {
		return false
	}
	c.end = hdrEnd + i + len(end)
	c.secret = body
	c.label = string(label)
	return true
}

func gcpKey(c *cand, e *env) bool {
	v := c.group(e, 1)
	i := bytes.Index(v, []byte("PRIVATE KEY-----"))
	j := bytes.LastIndex(v, []byte("-----END"))
	if i < 0 || j <= i {
		return false
	}
	raw := v[i+len("PRIVATE KEY-----") : j]
	if longPlaceholder(raw) {
		return false
	}
	body := pemBody(raw)
	if len(body) < 64 || distinct(body) < 16 {
		return false
	}
	c.secret = body
	return true
}

// dockerAuth: the value decodes to user:password.
func dockerAuth(c *cand, _ *env) bool {
	dec, err := base64.StdEncoding.DecodeString(string(c.secret))
	if err != nil {
		if dec, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(string(c.secret), "=")); err != nil {
			return false
		}
	}
	i := bytes.IndexByte(dec, ':')
	if i <= 0 || i == len(dec)-1 {
		return false
	}
	for _, b := range dec {
		if b < 0x20 || b > 0x7e {
			return false
		}
	}
	user, pass := dec[:i], dec[i+1:]
	return !isPlaceholder(pass) && !bytes.Equal(user, pass) && !knownDocumentation[string(c.secret)]
}

// jwt: three base64url parts whose header is a JSON object naming a signing
// algorithm (not "none") and whose payload is a JSON object.
func jwt(c *cand, _ *env) bool {
	if knownDocumentation[string(c.secret)] {
		return false
	}
	parts := bytes.Split(c.secret, []byte("."))
	if len(parts) != 3 {
		return false
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	h, err := b64url(parts[0])
	if err != nil || json.Unmarshal(h, &hdr) != nil || hdr.Alg == "" || strings.EqualFold(hdr.Alg, "none") {
		return false
	}
	p, err := b64url(parts[1])
	if err != nil {
		return false
	}
	var payload map[string]any
	if json.Unmarshal(p, &payload) != nil {
		return false
	}
	sig := parts[2]
	return !repeated(sig, 6) && !sequential(sig, 6) && distinct(sig) >= 10
}

func b64url(b []byte) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(string(b), "="))
}

var urlRe = anchored(`([A-Za-z][A-Za-z0-9+.-]+)://([^\s:@/?#"'<>\\{}$]*):([^\s@/?#"'<>\\{}]+)@([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]{2,45}\])`)

// urlLocate matches scheme://user:password@host, trying the expression only
// when an @ follows the :// before the authority can have ended (most URLs
// have none).
func urlLocate(text []byte, start, p, limit int) []int {
	at := -1
scan:
	for i := p + 3; i < limit; i++ {
		switch text[i] {
		case '@':
			at = i
			break scan
		case '/', '?', '#', ' ', '\t', '"', '\'', '<', '>', '\\', '{', '}':
			break scan
		}
	}
	if at < 0 {
		return nil
	}
	loc := urlRe.FindSubmatchIndex(text[start:limit])
	for i := range loc {
		if loc[i] >= 0 {
			loc[i] += start
		}
	}
	return loc
}

var placeholderHosts = []string{"example.com", "example.org", "example.net", "example", "host", "hostname", "server", "domain", "domain.com", "your-host", "yourhost", "myhost", "x", "localhost.example"}

// urlCreds: user:password@host where the password is not a placeholder, a
// reference or the user's name again; the secret is user, password and host.
func urlCreds(c *cand, e *env) bool {
	scheme, user, pass, host := c.group(e, 1), c.group(e, 2), c.group(e, 3), c.group(e, 4)
	if len(scheme) > 30 || len(user) > 128 || len(pass) > 256 || len(host) > 253 {
		return false
	}
	lh := strings.ToLower(string(host))
	for _, p := range placeholderHosts {
		if lh == p || strings.HasSuffix(lh, "."+p) && strings.HasPrefix(p, "example") {
			return false
		}
	}
	if strings.HasSuffix(lh, ".example") || strings.HasSuffix(lh, ".test") || strings.HasSuffix(lh, ".invalid") {
		return false
	}
	if bytes.Equal(user, pass) || isPlaceholder(pass) || isReference(pass) || isDigits(pass) && len(pass) <= 5 {
		return false
	}
	if len(user) > 0 && placeholderValues[strings.ToLower(string(user))] && placeholderValues[strings.ToLower(string(pass))] {
		return false
	}
	c.secret = []byte(string(user) + ":" + string(pass) + "@" + string(host))
	c.label = string(scheme) + "://" + string(user) + ":…@" + string(host)
	return true
}

// secretTails are the last words of key names that hold a secret.
var secretTails = map[string]bool{
	"password": true, "passwd": true, "pwd": true, "pass": true, "secret": true, "token": true,
	"key": true, "apikey": true, "accesskey": true, "secretkey": true, "clientsecret": true,
	"passphrase": true, "pw": true, "credential": true, "credentials": true, "auth": true,
}

var keyKeywords = map[string]bool{"password": true, "passwd": true, "pwd": true, "secret": true, "token": true, "apikey": true, "accesskey": true, "clientsecret": true, "secretkey": true}

// keyHoldsSecret reads a key name (DB_PASSWORD, apiKey, client-secret,
// secretName): its words must include a keyword and its last word must be one
// that holds a secret (not secretName, token_url, password_file, tokenizer).
// It does not allocate.
func keyHoldsSecret(key []byte) bool {
	if len(key) > 80 {
		return false
	}
	var lbuf [80]byte
	lk := lbuf[:len(key)]
	for i, b := range key {
		lk[i] = lower(b)
	}
	var words [24][2]int // [start, end) in lk
	n := 0
	start := 0
	flush := func(i int) {
		if i > start && n < len(words) {
			words[n] = [2]int{start, i}
			n++
		}
		start = i
	}
	for i := 0; i < len(key); i++ {
		b := key[i]
		switch {
		case b == '_' || b == '-' || b == '.':
			flush(i)
			start = i + 1
		case 'A' <= b && b <= 'Z' && i > 0 && ('a' <= key[i-1] && key[i-1] <= 'z'):
			flush(i)
		case '0' <= b && b <= '9' && i > 0 && !('0' <= key[i-1] && key[i-1] <= '9'):
			flush(i)
		}
	}
	flush(len(key))
	word := func(i int) []byte { return lk[words[i][0]:words[i][1]] }
	// Trailing numbers (password2) do not count.
	for n > 0 && isDigits(word(n-1)) {
		n--
	}
	if n == 0 {
		return false
	}
	found := false
	for i := range n {
		w := word(i)
		if keyKeywords[string(w)] {
			found = true
		}
		if i > 0 {
			prev := string(word(i - 1))
			switch {
			case prev == "api" && string(w) == "key", prev == "access" && string(w) == "key",
				prev == "client" && string(w) == "secret", prev == "secret" && string(w) == "key":
				found = true
			}
		}
	}
	return found && secretTails[string(word(n-1))]
}

// genericValue is what follows a key in an assignment: a separator (=, :, :=,
// =>) and a value, quoted ("", ”, “: submatches 1-3) or not (4).
var genericValue = anchored(`["']?\s{0,4}(?::=|=>|=|:)\s{0,4}(?:"([^"\r\n]+)"|'([^'\r\n]+)'|` + "`([^`\\r\\n]+)`" +
	`|([^\s"'` + "`" + `,;&)\]}<>]+))`)

// genericLocate matches key = value: the key is the run of name characters
// holding the keyword (submatch 1), the value one of submatches 2-5. The key
// is read without an expression (a regular expression starting with a
// repeated class backtracks over every key it tries).
func genericLocate(text []byte, start, p, limit int) []int {
	keyEnd := p
	for keyEnd < limit && ident[text[keyEnd]] {
		keyEnd++
	}
	if keyEnd-start > 80 || !keyHoldsSecret(text[start:keyEnd]) {
		return nil
	}
	v := genericValue.FindSubmatchIndex(text[keyEnd:limit])
	if v == nil {
		return nil
	}
	loc := append([]int{start, keyEnd + v[1], start, keyEnd}, v[2:]...)
	for i := 4; i < len(loc); i++ {
		if loc[i] >= 0 {
			loc[i] += keyEnd
		}
	}
	return loc
}

// generic: a key naming a secret assigned a value that looks random.
func generic(c *cand, e *env) bool {
	key := c.group(e, 1)
	if c.sub[2] > 0 && word[e.content[c.sub[2]-1]] || c.sub[2] > 0 && e.content[c.sub[2]-1] == '.' {
		return false // the key is the tail of a longer name
	}
	if len(key) > 80 {
		return false
	}
	quoted := c.sub[2*5] < 0 // not the unquoted alternative
	if !quoted && e.kind.code {
		return false // in code an unquoted value is an expression
	}
	v := c.secret
	for _, p := range [...]string{"Bearer ", "bearer ", "Basic ", "token "} {
		v = bytes.TrimPrefix(v, []byte(p))
	}
	if len(v) < 8 || len(v) > 128 || bytes.ContainsAny(v, " \t") {
		return false
	}
	if isPlaceholder(v) || isReference(v) || isVersion(v) || isUUID(v) || isDigits(v) {
		return false
	}
	if bytes.Contains(v, []byte("://")) || v[0] == '/' || bytes.HasPrefix(v, []byte("./")) || bytes.HasPrefix(v, []byte("../")) ||
		bytes.HasPrefix(v, []byte("~/")) || len(v) > 2 && v[1] == ':' && (v[2] == '\\' || v[2] == '/') {
		return false // a URL or a path
	}
	if !quoted && (bytes.ContainsAny(v, "()[]{}") || v[len(v)-1] == ':' || v[len(v)-1] == '.') {
		return false // an expression, a label
	}
	if quoted && (bytes.ContainsAny(v[:1], "+.),") || bytes.Contains(v, []byte("||")) || bytes.Contains(v, []byte("&&"))) {
		return false // the quotes closed and opened string literals around an expression: "k="+(a||b)+"
	}
	if isDottedName(v) {
		return false // a name: config.Password, azure.WithTokenCredential
	}
	if c.sub[2] > 0 && (e.content[c.sub[2]-1] == '?' || e.content[c.sub[2]-1] == '&') {
		if l := bytes.ToLower(lineAt(e.content, c.start)); bytes.Contains(l, []byte("badge")) || bytes.Contains(l, []byte("shields.io")) {
			return false // a badge's public token in a query string
		}
	}
	if at := bytes.IndexByte(v, '@'); at > 0 && bytes.IndexByte(v[at:], '.') > 0 && !bytes.ContainsAny(v, ":/") {
		return false // an e-mail address
	}
	line := lineAt(e.content, c.start)
	if lineIsReference(line) {
		return false
	}
	n := len(v)
	_, lo, up, dg, _ := charClasses(v)
	strong := 0 // symbols other than separators
	for _, b := range v {
		if !isAlnum(b) && b != '.' && b != '-' && b != '_' && b != '/' {
			strong++
		}
	}
	h := entropy(v)
	if dg == 0 && strong == 0 {
		// Letters (and separators): words and names (X-Amz-Security-Token,
		// myDatabasePassword), unless long, unseparated and of mixed case.
		if n < 20 || h < 4.0 || bytes.ContainsAny(v, "._-/") || up*5 < n || lo*5 < n {
			return false
		}
	}
	if lo+up == 0 && strong == 0 {
		return false // digits and separators: a number, a date
	}
	c.secret = v
	return h >= min(3.3, math.Log2(float64(n))-0.5)
}

// isDottedName reports identifiers joined by dots (pkg.Name, a.b.c).
func isDottedName(v []byte) bool {
	dots := 0
	startOfPart := true
	for _, b := range v {
		switch {
		case b == '.':
			if startOfPart {
				return false
			}
			dots++
			startOfPart = true
		case 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '_' || b == '$':
			startOfPart = false
		case '0' <= b && b <= '9':
			if startOfPart {
				return false
			}
		default:
			return false
		}
	}
	return dots > 0 && !startOfPart
}

// lineAt returns the line holding offset i (at most 1 KiB either side).
func lineAt(b []byte, i int) []byte {
	lo := max(0, i-1024)
	if j := bytes.LastIndexByte(b[lo:i], '\n'); j >= 0 {
		lo += j + 1
	}
	hi := min(len(b), i+1024)
	if j := bytes.IndexByte(b[i:hi], '\n'); j >= 0 {
		hi = i + j
	}
	return b[lo:hi]
}
