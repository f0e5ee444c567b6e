package intel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// stixIndicator is the part of a STIX 2.1 indicator object Vigil reads
// (https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_muftrcpnf89v).
type stixIndicator struct {
	Type           string   `json:"type"`
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	Pattern        string   `json:"pattern"`
	PatternType    string   `json:"pattern_type"`
	ValidFrom      string   `json:"valid_from"`
	ValidUntil     string   `json:"valid_until"`
	Revoked        bool     `json:"revoked"`
	Labels         []string `json:"labels"`
	IndicatorTypes []string `json:"indicator_types"`
	Confidence     *float64 `json:"confidence"`
	CreatedByRef   string   `json:"created_by_ref"`
}

// ParseSTIX reads a STIX 2.1 bundle ({"type":"bundle","objects":[...]}) and keeps its
// indicator objects whose pattern_type is stix (or absent) and whose pattern is a
// disjunction of equality comparisons on ipv4-addr:value, ipv6-addr:value,
// domain-name:value, url:value or file:hashes.'MD5'|'SHA-1'|'SHA-256', e.g.
// "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'evil.example']".
// Other patterns (AND, FOLLOWEDBY, MATCHES, qualifiers, other objects) are counted as
// Unsupported and rejected, never fatal. valid_from, valid_until, revoked,
// labels and indicator_types, confidence (0..100) and created_by_ref are kept. Objects
// of other types are skipped without counting.
func ParseSTIX(name string, r io.Reader) (*Feed, error) {
	f := &Feed{Name: name}
	var bundle struct {
		Type    string            `json:"type"`
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.NewDecoder(r).Decode(&bundle); err != nil {
		return f, fmt.Errorf("decoding STIX bundle %s: %w", name, err)
	}
	if bundle.Type != "bundle" {
		return f, fmt.Errorf("decoding STIX bundle %s: type is %q, want \"bundle\"", name, bundle.Type)
	}
	for i, raw := range bundle.Objects {
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			f.reject(fmt.Sprintf("%s:objects[%d]", name, i), "decoding object: "+err.Error())
			continue
		}
		if head.Type != "indicator" {
			continue
		}
		var o stixIndicator
		if err := json.Unmarshal(raw, &o); err != nil {
			f.reject(fmt.Sprintf("%s:objects[%d]", name, i), "decoding indicator: "+err.Error())
			continue
		}
		o.ID = strings.TrimSpace(o.ID) // " " is no id
		place := fmt.Sprintf("%s:%s", name, o.ID)
		if o.ID == "" {
			place = fmt.Sprintf("%s:objects[%d]", name, i)
		}
		stixIndicatorTo(f, &o, place)
	}
	return f, nil
}

func stixIndicatorTo(f *Feed, o *stixIndicator, place string) {
	if pt := strings.ToLower(o.PatternType); pt != "" && pt != "stix" {
		f.Unsupported++
		f.reject(place, fmt.Sprintf("pattern_type %q is not supported", o.PatternType))
		return
	}
	comps, err := parseSTIXPattern(o.Pattern)
	if err != nil {
		if errors.Is(err, errUnsupported) {
			f.Unsupported++
		}
		f.reject(place, err.Error())
		return
	}
	base := Indicator{Feed: f.Name, ID: o.ID, Description: o.Name, Source: o.CreatedByRef, Revoked: o.Revoked, Confidence: -1}
	if base.Description == "" {
		base.Description = o.Description
	}
	if o.Confidence != nil {
		c := *o.Confidence
		if c < 0 || c > 100 || c != c {
			f.reject(place, fmt.Sprintf("confidence %v is not 0..100", c))
			return
		}
		base.Confidence = c / 100
	}
	for _, s := range [2]string{o.ValidFrom, o.ValidUntil} {
		if s == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			f.reject(place, fmt.Sprintf("timestamp %q is not RFC 3339", s))
			return
		}
	}
	base.ValidFrom, _ = parseTime(o.ValidFrom)
	base.ValidUntil, _ = parseTime(o.ValidUntil)
	if err := checkWindow(base.ValidFrom, base.ValidUntil); err != nil {
		f.reject(place, err.Error())
		return
	}
	for _, l := range append(o.Labels, o.IndicatorTypes...) {
		base.Labels = appendLabels(base.Labels, l)
	}
	for _, c := range comps {
		k, v, err := Normalize(c.kind, c.value)
		if err != nil {
			f.reject(place, err.Error())
			continue
		}
		in := base
		in.Kind, in.Value = k, v
		f.Indicators = append(f.Indicators, in)
	}
}

var errUnsupported = errors.New("unsupported pattern")

type stixComp struct {
	kind  Kind
	value string
}

// maxPatternComps bounds the comparisons taken from one pattern.
const maxPatternComps = 1024

// parseSTIXPattern parses "[a = 'x' OR b = 'y'] OR [c = 'z']".
func parseSTIXPattern(p string) ([]stixComp, error) {
	if strings.TrimSpace(p) == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	lx := &stixLexer{s: p}
	var out []stixComp
	for {
		if !lx.accept("[") {
			return nil, lx.unsupported("expected '['")
		}
		for {
			path, err := lx.path()
			if err != nil {
				return nil, err
			}
			if !lx.accept("=") {
				return nil, lx.unsupported("only '=' comparisons are supported")
			}
			v, err := lx.str()
			if err != nil {
				return nil, err
			}
			k, err := stixPathKind(path)
			if err != nil {
				return nil, err
			}
			if len(out) >= maxPatternComps {
				return nil, fmt.Errorf("pattern has more than %d comparisons", maxPatternComps)
			}
			out = append(out, stixComp{kind: k, value: v})
			if !lx.accept("OR") {
				break
			}
		}
		if !lx.accept("]") {
			return nil, lx.unsupported("expected ']' or OR")
		}
		lx.space()
		if lx.i == len(lx.s) {
			return out, nil
		}
		if !lx.accept("OR") {
			return nil, lx.unsupported("only OR joins observation expressions")
		}
	}
}

func stixPathKind(path string) (Kind, error) {
	switch path {
	case "ipv4-addr:value", "ipv6-addr:value":
		return KindCIDR, nil // STIX allows CIDR values on address objects
	case "domain-name:value":
		return KindDomain, nil
	case "url:value":
		return KindURL, nil
	}
	if h, ok := strings.CutPrefix(path, "file:hashes."); ok {
		h = strings.Trim(h, `'"`)
		switch strings.ToUpper(h) {
		case "MD5":
			return KindMD5, nil
		case "SHA-1", "SHA1":
			return KindSHA1, nil
		case "SHA-256", "SHA256":
			return KindSHA256, nil
		}
	}
	return KindInvalid, fmt.Errorf("%w: object path %q", errUnsupported, path)
}

type stixLexer struct {
	s string
	i int
}

// isPatternSpace reports whether c is white space between pattern tokens.
func isPatternSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (l *stixLexer) space() {
	for l.i < len(l.s) && isPatternSpace(l.s[l.i]) {
		l.i++
	}
}

func (l *stixLexer) accept(tok string) bool {
	l.space()
	if !strings.HasPrefix(l.s[l.i:], tok) {
		return false
	}
	if tok == "OR" { // a keyword, not a prefix of a longer word
		if j := l.i + 2; j < len(l.s) && !isPatternSpace(l.s[j]) && l.s[j] != '[' {
			return false
		}
	}
	l.i += len(tok)
	return true
}

func (l *stixLexer) unsupported(why string) error {
	return fmt.Errorf("%w at offset %d: %s", errUnsupported, l.i, why)
}

// path reads an object path: type ':' property with dotted, possibly quoted, steps.
func (l *stixLexer) path() (string, error) {
	l.space()
	start := l.i
	inQuote := byte(0)
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch {
		case inQuote != 0:
			if c == inQuote {
				inQuote = 0
			}
		case c == '\'' || c == '"':
			inQuote = c
		case isPatternSpace(c) || c == '=' || c == '!' || c == '<' || c == '>' || c == ']':
			return l.checkPath(start)
		}
		l.i++
	}
	return "", fmt.Errorf("pattern ends inside an object path")
}

func (l *stixLexer) checkPath(start int) (string, error) {
	p := l.s[start:l.i]
	if !strings.Contains(p, ":") {
		return "", l.unsupported(fmt.Sprintf("%q is not an object path", p))
	}
	return p, nil
}

// str reads a single-quoted string literal with \' and \\ escapes.
func (l *stixLexer) str() (string, error) {
	l.space()
	if l.i >= len(l.s) || l.s[l.i] != '\'' {
		return "", l.unsupported("expected a quoted string")
	}
	l.i++
	var b bytes.Buffer
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch c {
		case '\\':
			if l.i+1 >= len(l.s) {
				return "", fmt.Errorf("pattern ends inside an escape")
			}
			b.WriteByte(l.s[l.i+1])
			l.i += 2
			continue
		case '\'':
			l.i++
			return b.String(), nil
		}
		b.WriteByte(c)
		l.i++
	}
	return "", fmt.Errorf("unterminated string in pattern")
}
