package identity

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ava is one attribute=value assertion of a DN: the type lower-cased, the value
// unescaped.
type ava struct{ typ, val string }

// distName is a parsed distinguished name (RFC 4514), leftmost RDN first.
type distName [][]ava

// parseDN parses a DN as LDAP tools write it: RDNs separated by "," (or the
// legacy ";"), multi-valued RDNs joined by "+", values escaped with "\" and a
// special character or two hex digits, quoted ("...") or hex ("#04...") values.
// Spaces around separators are dropped.
func parseDN(s string) (distName, error) { return parseRDNs(s, -1) }

// parseLeaf parses only the leftmost RDN of a DN (the rest is not checked).
func parseLeaf(s string) (distName, error) { return parseRDNs(s, 1) }

// parseRDNs parses up to limit RDNs (all when limit < 0).
func parseRDNs(s string, limit int) (distName, error) {
	var (
		out distName
		rdn []ava
	)
	i := 0
	skip := func() {
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	skip()
	if i == len(s) {
		return nil, nil
	}
	for {
		skip()
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ',' && s[i] != '+' && s[i] != ';' {
			i++
		}
		typ := strings.ToLower(strings.TrimSpace(s[start:i]))
		if i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("RDN %q has no '='", s[start:i])
		}
		if !validAttrType(typ) {
			return nil, fmt.Errorf("attribute type %q is not a name or OID", typ)
		}
		i++ // '='
		skip()
		val, next, err := dnValue(s, i)
		if err != nil {
			return nil, err
		}
		i = next
		rdn = append(rdn, ava{typ: typ, val: val})
		if i == len(s) {
			out = append(out, rdn)
			return out, nil
		}
		switch s[i] {
		case '+':
		case ',', ';':
			out = append(out, rdn)
			rdn = nil
			if len(out) == limit {
				return out, nil
			}
		default:
			return nil, fmt.Errorf("unexpected %q after value at offset %d", s[i], i)
		}
		i++
		if len(out) > 1000 {
			return nil, errors.New("more than 1000 RDNs")
		}
	}
}

// dnValue reads one attribute value starting at i; it returns the value and the
// offset of the separator after it (or len(s)).
func dnValue(s string, i int) (string, int, error) {
	if i < len(s) && s[i] == '#' { // BER-encoded: kept as written
		start := i
		for i < len(s) && s[i] != ',' && s[i] != '+' && s[i] != ';' {
			i++
		}
		return strings.ToLower(strings.TrimSpace(s[start:i])), i, nil
	}
	if j := i + strings.IndexAny(s[i:], `,+;\"`); j < i || s[j] == ',' || s[j] == '+' || s[j] == ';' {
		if j < i {
			j = len(s)
		}
		return strings.TrimRight(s[i:j], " "), j, nil // nothing escaped or quoted
	}
	var b strings.Builder
	if i < len(s) && s[i] == '"' { // RFC 1779 quoting
		i++
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				c, n, err := dnEscape(s, i)
				if err != nil {
					return "", 0, err
				}
				b.WriteByte(c)
				i = n - 1
				continue
			}
			b.WriteByte(s[i])
		}
		if i == len(s) {
			return "", 0, errors.New("unterminated quoted value")
		}
		i++
		for i < len(s) && s[i] == ' ' {
			i++
		}
		return b.String(), i, nil
	}
	trail := 0 // unescaped trailing spaces written, dropped at the end
	for i < len(s) {
		c := s[i]
		switch c {
		case ',', '+', ';':
			v := b.String()
			return v[:len(v)-trail], i, nil
		case '\\':
			e, n, err := dnEscape(s, i)
			if err != nil {
				return "", 0, err
			}
			b.WriteByte(e)
			trail = 0
			i = n
			continue
		case ' ':
			trail++
		default:
			trail = 0
		}
		b.WriteByte(c)
		i++
	}
	v := b.String()
	return v[:len(v)-trail], i, nil
}

// dnEscape decodes the escape at s[i] ('\'): a special character or two hex
// digits. It returns the byte and the offset after the escape.
func dnEscape(s string, i int) (byte, int, error) {
	if i+1 >= len(s) {
		return 0, 0, errors.New(`DN ends with "\"`)
	}
	if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
		return unhex(s[i+1])<<4 | unhex(s[i+2]), i + 3, nil
	}
	switch c := s[i+1]; c {
	case ',', '=', '+', '<', '>', '#', ';', '\\', '"', ' ':
		return c, i + 2, nil
	}
	return 0, 0, fmt.Errorf(`bad escape "\%c"`, s[i+1])
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// validAttrType accepts an attribute name (letter, then letters, digits, '-') or
// a dotted OID.
func validAttrType[S ~string | ~[]byte](t S) bool {
	if len(t) == 0 {
		return false
	}
	if t[0] >= '0' && t[0] <= '9' {
		for i := 0; i < len(t); i++ {
			if !(t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// key is the DN's comparison form: types and values lower-cased, the AVAs of a
// multi-valued RDN sorted, so "CN=Bob Smith, OU=Staff,DC=Corp" and
// "cn=bob smith,ou=staff,dc=corp" have one key.
func (d distName) key() string {
	var b strings.Builder
	for i, rdn := range d {
		if i > 0 {
			b.WriteByte(0)
		}
		parts := make([]string, len(rdn))
		for j, a := range rdn {
			parts[j] = a.typ + "=" + strings.ToLower(a.val)
		}
		slices.Sort(parts)
		b.WriteString(strings.Join(parts, "\x01"))
	}
	return b.String()
}

// leaf returns the value of type typ in the leftmost RDN ("" if none).
func (d distName) leaf(typ string) string {
	if len(d) == 0 {
		return ""
	}
	for _, a := range d[0] {
		if a.typ == typ {
			return a.val
		}
	}
	return ""
}

// domain returns the DNS domain of the DN's DC= parts ("corp.example") and its
// first label as the NetBIOS-style name ("corp"); both "" without DC= parts.
func (d distName) domain() (dns, netbios string) {
	var labels []string
	for _, rdn := range d {
		for _, a := range rdn {
			if a.typ == "dc" && a.val != "" {
				labels = append(labels, strings.ToLower(a.val))
			}
		}
	}
	if len(labels) == 0 {
		return "", ""
	}
	return strings.Join(labels, "."), labels[0]
}
