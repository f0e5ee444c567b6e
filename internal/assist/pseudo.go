package assist

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// Pseudonymizer replaces the identifying values of one incident (users, hosts,
// addresses, domains, e-mail addresses, URLs, hashes, user names inside paths)
// by tokens such as USER_3f9a02c1 before anything is sent to a model, and
// restores them in what comes back.
//
// A token is PREFIX_ + the first hex digits of HMAC-SHA256(key, value folded to
// ASCII lower case): the same value gets the same token within an incident (one
// key), and a different one in another incident (another key). The prefix names
// the kind; a clash within the incident lengthens the token.
//
// Not safe for concurrent use.
type Pseudonymizer struct {
	key      []byte
	byForm   map[string]string // folded surface form → token
	original map[string]string // token → the form as first seen
	forms    []string          // folded forms, longest first, for scanning
	sorted   bool
	aliases  map[string][]string // token of an entity → tokens of its other spellings
}

// NewPseudonymizer returns a pseudonymizer keyed by key (one key per incident).
func NewPseudonymizer(key []byte) *Pseudonymizer {
	return &Pseudonymizer{
		key:      append([]byte(nil), key...),
		byForm:   make(map[string]string),
		original: make(map[string]string),
		aliases:  make(map[string][]string),
	}
}

// incidentKey derives the per-incident key from the assistant's secret.
func incidentKey(secret []byte, incidentID string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("vigil/assist/incident-key/v1\x00"))
	m.Write([]byte(incidentID))
	return m.Sum(nil)
}

// kindEmail is the kind the text scanner gives e-mail addresses.
const kindEmail detect.EntityKind = "email"

var prefixes = map[detect.EntityKind]string{
	detect.EntityUser:      "USER",
	detect.EntityHost:      "HOST",
	detect.EntityIP:        "IP",
	detect.EntityProcess:   "PROC",
	detect.EntityFile:      "FILE",
	detect.EntityDomain:    "DOMAIN",
	detect.EntityURL:       "URL",
	detect.EntityHash:      "HASH",
	detect.EntityWorkload:  "WORKLOAD",
	detect.EntityPrincipal: "PRINCIPAL",
	kindEmail:              "EMAIL",
}

const otherPrefix = "ENTITY"

// tokenRE finds token candidates without word boundaries: Text may put a
// token right against other letters (a value glued to a word), and Restore
// tries the registered lengths of the hex part.
var tokenRE = regexp.MustCompile(`(?:USER|HOST|IP|PROC|FILE|DOMAIN|URL|HASH|WORKLOAD|PRINCIPAL|EMAIL|ENTITY)_[0-9a-f]{8,64}`)

// minAliasLen keeps short spellings (a two-letter user name) from being
// replaced inside ordinary words; the full values are always replaced.
const minAliasLen = 3

// fold lower-cases ASCII letters only, so byte offsets stay aligned with s.
func fold(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// form registers one surface form and returns its token.
func (p *Pseudonymizer) form(kind detect.EntityKind, value string) string {
	f := fold(value)
	if t, ok := p.byForm[f]; ok {
		return t
	}
	prefix, ok := prefixes[kind]
	if !ok {
		prefix = otherPrefix
	}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(f))
	sum := hex.EncodeToString(m.Sum(nil))
	// Lengthen on a clash; the full 64 digits clash only if SHA-256 does.
	tok := prefix + "_" + sum
	for n := 8; n < len(sum); n += 4 {
		if _, taken := p.original[prefix+"_"+sum[:n]]; !taken {
			tok = prefix + "_" + sum[:n]
			break
		}
	}
	p.byForm[f] = tok
	p.original[tok] = value
	p.forms = append(p.forms, f)
	p.sorted = false
	return tok
}

func (p *Pseudonymizer) alias(of, tok string) {
	if of != tok && !contains(p.aliases[of], tok) {
		p.aliases[of] = append(p.aliases[of], tok)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Entity registers an entity value and returns what stands for it in text sent
// to the model: a token, or for files and processes the path with the user
// names in it replaced (the rest of a path, such as an executable's name, is
// what makes it useful to the model). Other spellings of users (bare name,
// DOMAIN\name, name@domain) and hosts (short name of an FQDN) get their own
// tokens, recorded as aliases.
func (p *Pseudonymizer) Entity(kind detect.EntityKind, value string) string {
	value = strings.TrimSpace(value)
	if value == "" {
		return ""
	}
	switch kind {
	case detect.EntityFile, detect.EntityProcess:
		for _, m := range profileRE.FindAllStringSubmatchIndex(value, -1) {
			name := value[m[2]:m[3]]
			if !skipProfile[fold(name)] {
				p.form(detect.EntityUser, name)
			}
		}
		return p.Text(value)
	case detect.EntityIP:
		if a, err := netip.ParseAddr(value); err == nil {
			tok := p.form(kind, value)
			if c := a.Unmap().String(); c != value {
				p.alias(tok, p.form(kind, c))
			}
			return tok
		}
	case detect.EntityUser:
		tok := p.form(kind, value)
		u := event.ParseUser(value)
		if u.Name != "" && len(u.Name) >= minAliasLen {
			p.alias(tok, p.form(kind, u.Name))
			if u.Domain != "" {
				p.alias(tok, p.form(kind, u.Domain+`\`+u.Name))
				p.alias(tok, p.form(kind, u.Name+"@"+u.Domain))
			}
		}
		return tok
	case detect.EntityHost:
		tok := p.form(kind, value)
		if i := strings.IndexByte(value, '.'); i >= minAliasLen && net4RE.FindString(value) != value {
			p.alias(tok, p.form(kind, value[:i]))
		}
		return tok
	}
	return p.form(kind, value)
}

// Aliases returns the tokens of the other spellings registered with tok.
func (p *Pseudonymizer) Aliases(tok string) []string { return p.aliases[tok] }

// Len is the number of distinct forms registered.
func (p *Pseudonymizer) Len() int { return len(p.byForm) }

var (
	net4RE = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`)
	net6RE = regexp.MustCompile(`[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*`)
	urlRE  = regexp.MustCompile(`(?i)\b(?:https?|ftp|wss?|smb|ldaps?)://[^\s"'<>\x60]+`)
	mailRE = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\b`)
	fqdnRE = regexp.MustCompile(`(?i)\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63})\b`)
	// profileRE finds the user name in C:\Users\name, /home/name, /Users/name.
	profileRE = regexp.MustCompile(`(?i)(?:^|[\\/])(?:users|home|documents and settings)[\\/]([^\\/\s"'<>:*?|]+)`)
)

// fileExt are endings that make a.b look like a host name but are file names.
var fileExt = map[string]bool{
	"exe": true, "dll": true, "sys": true, "bat": true, "cmd": true, "ps": true, "psm": true,
	"vbs": true, "js": true, "jse": true, "hta": true, "msi": true, "lnk": true, "scr": true,
	"txt": true, "log": true, "tmp": true, "dat": true, "ini": true, "cfg": true, "conf": true,
	"xml": true, "json": true, "yaml": true, "yml": true, "csv": true, "doc": true, "docx": true,
	"xls": true, "xlsx": true, "xlsm": true, "ppt": true, "pptx": true, "pdf": true, "zip": true,
	"rar": true, "gz": true, "tgz": true, "tar": true, "iso": true, "img": true, "vhd": true,
	"py": true, "sh": true, "pl": true, "rb": true, "go": true, "jar": true, "class": true,
	"so": true, "dylib": true, "elf": true, "bin": true, "db": true, "sqlite": true, "evtx": true,
	"png": true, "jpg": true, "jpeg": true, "gif": true, "html": true, "htm": true, "php": true,
	"aspx": true, "asp": true, "jsp": true, "service": true, "socket": true, "timer": true,
}

var skipProfile = map[string]bool{
	"public": true, "default": true, "default user": true, "all users": true, "shared": true,
}

type span struct {
	start, end int
	kind       detect.EntityKind
	known      string // token when the span is a registered form
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func plainWord(f string) bool {
	for i := 0; i < len(f); i++ {
		if !isWordByte(f[i]) {
			return false
		}
	}
	return true
}

func bounded(s string, i, j int) bool {
	return (i == 0 || !isWordByte(s[i-1])) && (j == len(s) || !isWordByte(s[j]))
}

// Text replaces, in free text, every registered form and every IP address,
// e-mail address, URL, host name and profile user name it finds (registering
// the new ones), and returns the result.
func (p *Pseudonymizer) Text(s string) string {
	if s == "" {
		return s
	}
	if !p.sorted {
		sort.Slice(p.forms, func(i, j int) bool {
			if len(p.forms[i]) != len(p.forms[j]) {
				return len(p.forms[i]) > len(p.forms[j])
			}
			return p.forms[i] < p.forms[j]
		})
		p.sorted = true
	}
	var spans []span
	fs := fold(s)
	for _, f := range p.forms {
		for off := 0; off < len(fs); {
			i := strings.Index(fs[off:], f)
			if i < 0 {
				break
			}
			i += off
			// Plain words (alice, web01) must stand alone, or "alice" would be
			// found in "malice"; values with punctuation (addresses, domains,
			// e-mail, paths) are replaced wherever they occur.
			// Long runs (hashes) are no natural word either.
			if !plainWord(f) || len(f) >= 16 || bounded(s, i, i+len(f)) {
				spans = append(spans, span{start: i, end: i + len(f), known: p.byForm[f]})
			}
			off = i + 1
		}
	}
	for _, m := range urlRE.FindAllStringIndex(s, -1) {
		end := m[1]
		for end > m[0] && strings.IndexByte(".,;:)]}!?", s[end-1]) >= 0 {
			end--
		}
		spans = append(spans, span{start: m[0], end: end, kind: detect.EntityURL})
	}
	for _, m := range mailRE.FindAllStringIndex(s, -1) {
		spans = append(spans, span{start: m[0], end: m[1], kind: kindEmail})
	}
	for _, m := range net4RE.FindAllStringIndex(s, -1) {
		// Dotted quads with leading zeros (010.1.2.3) are not addresses to
		// netip, but they show one: tokenize them too.
		if dottedQuad(s[m[0]:m[1]]) {
			spans = append(spans, span{start: m[0], end: m[1], kind: detect.EntityIP})
		}
	}
	for _, m := range net6RE.FindAllStringIndex(s, -1) {
		i, j := m[0], m[1]
		for j > i && s[j-1] == '.' {
			j--
		}
		if j-i < 3 || !bounded(s, i, j) {
			continue
		}
		if a, err := netip.ParseAddr(s[i:j]); err == nil && a.Is6() {
			spans = append(spans, span{start: i, end: j, kind: detect.EntityIP})
		}
	}
	for _, m := range fqdnRE.FindAllStringSubmatchIndex(s, -1) {
		if fileExt[fold(s[m[2]:m[3]])] {
			continue
		}
		spans = append(spans, span{start: m[0], end: m[1], kind: detect.EntityDomain})
	}
	for _, m := range profileRE.FindAllStringSubmatchIndex(s, -1) {
		if !skipProfile[fold(s[m[2]:m[3]])] {
			spans = append(spans, span{start: m[2], end: m[3], kind: detect.EntityUser})
		}
	}
	if len(spans) == 0 {
		return s
	}
	sort.SliceStable(spans, func(i, j int) bool {
		if spans[i].start != spans[j].start {
			return spans[i].start < spans[j].start
		}
		if spans[i].end != spans[j].end {
			return spans[i].end > spans[j].end
		}
		return spans[i].known != "" && spans[j].known == ""
	})
	var b strings.Builder
	b.Grow(len(s))
	at := 0
	for _, sp := range spans {
		if sp.start < at || sp.end <= sp.start {
			continue
		}
		b.WriteString(s[at:sp.start])
		tok := sp.known
		if tok == "" {
			tok = p.form(sp.kind, s[sp.start:sp.end])
		}
		b.WriteString(tok)
		at = sp.end
	}
	b.WriteString(s[at:])
	return b.String()
}

// dottedQuad reports whether s is four dot-separated decimal numbers <= 255.
func dottedQuad(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n > 255 {
			return false
		}
	}
	return true
}

// Restore puts the original values back in place of the tokens of this
// incident; other text, unknown tokens included, is left as it is.
func (p *Pseudonymizer) Restore(s string) string {
	ms := tokenRE.FindAllStringIndex(s, -1)
	if len(ms) == 0 {
		return s
	}
	var b strings.Builder
	at := 0
	for _, m := range ms {
		us := strings.IndexByte(s[m[0]:m[1]], '_') + m[0] + 1
		// Longest registered token that is a prefix of the candidate.
		for end := m[1]; end >= us+8; end-- {
			if (end-us)%4 != 0 && end != us+64 {
				continue
			}
			if v, ok := p.original[s[m[0]:end]]; ok {
				b.WriteString(s[at:m[0]])
				b.WriteString(v)
				at = end
				break
			}
		}
	}
	b.WriteString(s[at:])
	return b.String()
}

// hintKinds maps JSON keys of tool results to the entity kind of their value,
// so a bare "alice" under "user" is recognized.
var hintKinds = map[string]detect.EntityKind{
	"user": detect.EntityUser, "user_name": detect.EntityUser, "username": detect.EntityUser,
	"user.name": detect.EntityUser, "target_user": detect.EntityUser, "account": detect.EntityUser,
	"user.target.name": detect.EntityUser, "owner": detect.EntityUser,
	"host": detect.EntityHost, "hostname": detect.EntityHost, "host_name": detect.EntityHost,
	"host.name": detect.EntityHost, "host.hostname": detect.EntityHost, "computer": detect.EntityHost,
	"workstation": detect.EntityHost,
	"ip":          detect.EntityIP, "src_ip": detect.EntityIP, "dst_ip": detect.EntityIP, "source_ip": detect.EntityIP,
	"destination_ip": detect.EntityIP, "client_ip": detect.EntityIP, "source.ip": detect.EntityIP,
	"destination.ip": detect.EntityIP, "host.ip": detect.EntityIP,
	"domain": detect.EntityDomain, "dns.question.name": detect.EntityDomain, "url": detect.EntityURL,
	"url.full": detect.EntityURL, "email": kindEmail, "mail": kindEmail,
	"hash": detect.EntityHash, "md5": detect.EntityHash, "sha1": detect.EntityHash, "sha256": detect.EntityHash,
}

// JSON pseudonymizes a JSON document (a tool result): objects of the form
// {"kind": k, "value": v} and values under keys such as "user" or "host.name"
// are registered as entities first, then every string, keys included, goes
// through Text.
func (p *Pseudonymizer) JSON(doc []byte) ([]byte, error) {
	var v any
	d := json.NewDecoder(strings.NewReader(string(doc)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding tool result: %w", err)
	}
	p.collect(v, 0)
	return json.Marshal(p.rewrite(v, 0))
}

const maxDepth = 64

func (p *Pseudonymizer) collect(v any, depth int) {
	if depth > maxDepth {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if k, ok := x["kind"].(string); ok {
			if val, ok := x["value"].(string); ok {
				p.Entity(detect.EntityKind(k), val)
			}
		}
		for k, e := range x {
			if s, ok := e.(string); ok {
				if kind, ok := hintKinds[fold(k)]; ok {
					p.Entity(kind, s)
				}
			}
			p.collect(e, depth+1)
		}
	case []any:
		for _, e := range x {
			p.collect(e, depth+1)
		}
	}
}

func (p *Pseudonymizer) rewrite(v any, depth int) any {
	if depth > maxDepth {
		return "(nested too deep)"
	}
	switch x := v.(type) {
	case string:
		return p.Text(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[p.Text(k)] = p.rewrite(e, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = p.rewrite(e, depth+1)
		}
		return out
	}
	return v
}

// RestoreJSON restores the tokens in every string (keys included) of a JSON
// document (a tool call's arguments).
func (p *Pseudonymizer) RestoreJSON(doc []byte) ([]byte, error) {
	var v any
	d := json.NewDecoder(strings.NewReader(string(doc)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding tool arguments: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("decoding tool arguments: trailing data after the JSON value")
	}
	return json.Marshal(p.restoreValue(v, 0))
}

func (p *Pseudonymizer) restoreValue(v any, depth int) any {
	if depth > maxDepth {
		return v
	}
	switch x := v.(type) {
	case string:
		return p.Restore(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[p.Restore(k)] = p.restoreValue(e, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = p.restoreValue(e, depth+1)
		}
		return out
	}
	return v
}
