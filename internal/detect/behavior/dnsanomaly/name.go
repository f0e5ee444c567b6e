package dnsanomaly

import (
	"errors"
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// NameKind classifies a query name by what scoring applies to it.
type NameKind uint8

// Name kinds.
const (
	// KindPublic is a name under a public (ICANN or private-registry) suffix:
	// every model applies.
	KindPublic NameKind = iota
	// KindInternal is a name under a suffix that is not a public TLD (.local,
	// .lan, .corp, a single label, an unlisted TLD): tunnel scoring only, since
	// host naming schemes look random to a character model and every internal
	// name is "rare" to the internet.
	KindInternal
	// KindReverse is a reverse lookup under .arpa: counted, never scored (its
	// labels are the digits of addresses the host met, not chosen names).
	KindReverse
	// KindIP is an IPv4 literal sent as a name: counted, never scored. (An IPv6
	// literal is rejected with ReasonInvalidChar: ':' is not a name character.)
	KindIP
)

var kindNames = [...]string{"public", "internal", "reverse", "ip"}

func (k NameKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind?"
}

// Reasons a name is rejected by Normalize. They are stable: Stats counts by them.
const (
	ReasonEmpty        = "empty"
	ReasonTooLong      = "name-too-long"  // more than 253 characters
	ReasonLabelTooLong = "label-too-long" // a label of more than 63 characters
	ReasonEmptyLabel   = "empty-label"    // ".." or a leading dot
	ReasonInvalidChar  = "invalid-char"   // not a letter, digit, '-' or '_'
)

// NameError is a rejected name with its stable reason.
type NameError struct {
	Reason string
	Name   string
}

func (e *NameError) Error() string {
	n := e.Name
	if len(n) > 80 {
		n = n[:80] + "..."
	}
	return "normalising dns name " + `"` + n + `"` + ": " + e.Reason
}

// ErrName matches every *NameError with errors.Is.
var ErrName = errors.New("invalid dns name")

// Is makes errors.Is(err, ErrName) true for name errors.
func (e *NameError) Is(target error) bool { return target == ErrName }

// Name is a normalised query name.
type Name struct {
	FQDN       string   // lower case, without the trailing dot
	Registered string   // registered domain (eTLD+1), the unit every model keys on
	Sub        string   // the part left of Registered, without its final dot ("" for the apex)
	Label      string   // the registered domain's own label ("example" in a.example.co.uk)
	Kind       NameKind // what scoring applies
	// Private is set under a private-registry suffix of the list (cloudfront.net,
	// s3.amazonaws.com, azurewebsites.net): labels there are assigned by the
	// platform, often random, so the character model does not score them.
	Private bool
}

const (
	maxName  = 253
	maxLabel = 63
)

// Normalize lowercases name, drops one trailing dot, checks its length and labels,
// and splits it into subdomain part and registered domain (public suffix list,
// golang.org/x/net/publicsuffix). It never panics; a bad name gives a *NameError.
func Normalize(name string) (Name, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return Name{}, &NameError{ReasonEmpty, name}
	}
	if len(name) > maxName {
		return Name{}, &NameError{ReasonTooLong, name}
	}
	lower := true
	labelLen := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if labelLen == 0 {
				return Name{}, &NameError{ReasonEmptyLabel, name}
			}
			labelLen = 0
			continue
		case c >= 'A' && c <= 'Z':
			lower = false
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return Name{}, &NameError{ReasonInvalidChar, name}
		}
		labelLen++
		if labelLen > maxLabel {
			return Name{}, &NameError{ReasonLabelTooLong, name}
		}
	}
	if labelLen == 0 { // "a.." trimmed to "a."
		return Name{}, &NameError{ReasonEmptyLabel, name}
	}
	if !lower {
		name = strings.ToLower(name)
	}
	n := Name{FQDN: name}
	// An IPv4 literal (IPv6 ones hold ':' and are rejected above). No TLD is
	// all digits, so only then is it worth parsing.
	if allDigits(name[strings.LastIndexByte(name, '.')+1:]) {
		if _, err := netip.ParseAddr(name); err == nil {
			n.Registered, n.Kind = name, KindIP
			return n, nil
		}
	}
	if name == "arpa" || strings.HasSuffix(name, ".arpa") {
		n.Kind = KindReverse
		n.Registered = lastLabels(name, 3) // "168.192.in-addr.arpa": one key per /16
		n.Sub = strings.TrimSuffix(strings.TrimSuffix(name, n.Registered), ".")
		return n, nil
	}
	suffix, icann := publicsuffix.PublicSuffix(name)
	if !strings.Contains(name, ".") || (!icann && !strings.Contains(suffix, ".")) {
		// A single label (a host name, even one spelling a TLD) or not a real
		// TLD (.local, .lan, an unlisted one): the organisation's own zone. Key
		// on the last two labels.
		n.Kind = KindInternal
		n.Registered = lastLabels(name, 2)
	} else {
		// A name that is itself a public suffix ("s3.amazonaws.com", "com") is
		// its own registered domain.
		n.Registered = lastLabels(name, strings.Count(suffix, ".")+2)
		n.Private = !icann
	}
	n.Sub = strings.TrimSuffix(strings.TrimSuffix(name, n.Registered), ".")
	n.Label, _, _ = strings.Cut(n.Registered, ".")
	return n, nil
}

// lastLabels returns the last k labels of name (all of it when it has fewer).
func lastLabels(name string, k int) string {
	i := len(name)
	for ; k > 0; k-- {
		j := strings.LastIndexByte(name[:i], '.')
		if j < 0 {
			return name
		}
		i = j
	}
	return name[i+1:]
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
