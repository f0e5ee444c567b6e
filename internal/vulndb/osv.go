package vulndb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/osv-scalibr/semantic"

	"github.com/vigilsec/vigil/internal/scan"
)

// The OSV schema (https://ossf.github.io/osv-schema/), as far as matching
// needs it. Unknown fields are ignored: the schema grows.

type osvRecord struct {
	ID               string          `json:"id"`
	Modified         string          `json:"modified"`
	Published        string          `json:"published"`
	Withdrawn        string          `json:"withdrawn"`
	Aliases          []string        `json:"aliases"`
	Summary          string          `json:"summary"`
	Details          string          `json:"details"`
	Severity         []osvSeverity   `json:"severity"`
	Affected         []osvAffected   `json:"affected"`
	References       []osvReference  `json:"references"`
	DatabaseSpecific json.RawMessage `json:"database_specific"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvAffected struct {
	Package           *osvPackage     `json:"package"`
	Severity          []osvSeverity   `json:"severity"`
	Ranges            []osvRange      `json:"ranges"`
	Versions          []string        `json:"versions"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific"`
	DatabaseSpecific  json.RawMessage `json:"database_specific"`
}

type osvPackage struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl"`
}

type osvRange struct {
	Type   string     `json:"type"`
	Repo   string     `json:"repo"`
	Events []osvEvent `json:"events"`
}

// osvEvent holds exactly one of its fields.
type osvEvent struct {
	Introduced   *string `json:"introduced"`
	Fixed        *string `json:"fixed"`
	LastAffected *string `json:"last_affected"`
	Limit        *string `json:"limit"`
}

type osvReference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// goSpecific is golang/vulndb's affected[].ecosystem_specific.
type goSpecific struct {
	Imports []struct {
		Path    string   `json:"path"`
		Symbols []string `json:"symbols"`
	} `json:"imports"`
}

// dbSpecific is what Vigil reads of database_specific: GitHub's severity
// word, golang/vulndb's advisory page.
type dbSpecific struct {
	Severity json.RawMessage `json:"severity"`
	URL      json.RawMessage `json:"url"`
}

// Event kinds of a range, in the order they sort at one version.
const (
	evIntroduced   = "i"
	evFixed        = "f"
	evLastAffected = "l"
	evLimit        = "x"
)

// Range types Vigil evaluates; GIT ranges (commit hashes) are skipped.
const (
	rangeSemver    = "SEMVER"
	rangeEcosystem = "ECOSYSTEM"
	rangeGit       = "GIT"
)

// Bounds on one record, past which it is rejected: they keep a hostile file
// from costing more than its bytes.
const (
	maxIDLen       = 128
	maxNameLen     = 512
	maxVersionLen  = 256
	maxAffected    = 10_000
	maxEvents      = 10_000
	maxVersions    = 200_000
	maxAliases     = 1_000
	maxSummaryLen  = 1_024
	maxReferences  = 64
	maxSymbols     = 20_000
	maxURLLen      = 2_048
	maxVectorLen   = 256
	maxEcosystemSz = 128
)

// record is one OSV record, validated and reduced to what matching and
// reporting use; it is what the database stores (as JSON).
type record struct {
	ID        string    `json:"id"`
	Modified  time.Time `json:"modified"`
	Withdrawn bool      `json:"withdrawn,omitempty"`
	Aliases   []string  `json:"aliases,omitempty"`
	Summary   string    `json:"summary,omitempty"`
	URL       string    `json:"url,omitempty"`
	Refs      []string  `json:"refs,omitempty"`
	Sev       severity  `json:"sev,omitzero"`
	Affected  []affect  `json:"affected,omitempty"`
}

// affect is one affected[] entry naming a package.
type affect struct {
	Ecosystem string     `json:"eco"`  // canonical spelling, with its suffix ("Debian:12")
	Name      string     `json:"name"` // as the record writes it
	Key       string     `json:"key"`  // normalised name (PEP 503 for PyPI, ...)
	Ranges    []verRange `json:"ranges,omitempty"`
	Versions  []string   `json:"versions,omitempty"`
	Symbols   symbolList `json:"symbols,omitzero"` // package-qualified (Go)
	Sev       severity   `json:"sev,omitzero"`
	// GitOnly counts the GIT ranges skipped.
	GitRanges int `json:"git,omitempty"`
}

type verRange struct {
	Events []event `json:"ev"`
}

type event struct {
	Kind string `json:"k"` // evIntroduced, evFixed, evLastAffected, evLimit
	V    string `json:"v"`
}

// severity is what a record says of its severity, computed at import.
type severity struct {
	Level scan.Severity `json:"level,omitzero"`
	CVSS  string        `json:"cvss,omitempty"`
	Score float64       `json:"score,omitempty"`
}

// parseRecord decodes and validates one OSV record. The error says what is
// wrong in a few words, for the import's rejection list.
func parseRecord(data []byte) (*record, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM, as some editors write
	var raw osvRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding JSON: data after the record")
	}
	if err := checkID(raw.ID); err != nil {
		return nil, fmt.Errorf("id: %w", err)
	}
	r := &record{ID: raw.ID}
	var err error
	if r.Modified, err = parseTime(raw.Modified); err != nil {
		return nil, fmt.Errorf("modified: %w", err)
	}
	if raw.Withdrawn != "" {
		if _, err := parseTime(raw.Withdrawn); err != nil {
			return nil, fmt.Errorf("withdrawn: %w", err)
		}
		r.Withdrawn = true
	}
	if len(raw.Aliases) > maxAliases {
		return nil, fmt.Errorf("aliases: %d of them (at most %d)", len(raw.Aliases), maxAliases)
	}
	for _, a := range raw.Aliases {
		if err := checkID(a); err != nil {
			return nil, fmt.Errorf("alias %q: %w", clip(a), err)
		}
		if a != r.ID {
			r.Aliases = append(r.Aliases, a)
		}
	}
	slices.Sort(r.Aliases)
	r.Aliases = slices.Compact(r.Aliases)
	r.Summary = cleanText(raw.Summary, maxSummaryLen)
	if r.Summary == "" {
		// Some databases leave the summary out: the details' first line stands in.
		first, _, _ := strings.Cut(strings.TrimSpace(raw.Details), "\n")
		r.Summary = cleanText(first, maxSummaryLen)
	}
	var db dbSpecific
	if len(raw.DatabaseSpecific) > 0 && raw.DatabaseSpecific[0] == '{' {
		_ = json.Unmarshal(raw.DatabaseSpecific, &db) // free-form: a shape Vigil does not know is no error
	}
	r.URL = advisoryURL(raw, db)
	for _, ref := range raw.References {
		if u := cleanURL(ref.URL); u != "" && u != r.URL && !slices.Contains(r.Refs, u) && len(r.Refs) < maxReferences {
			r.Refs = append(r.Refs, u)
		}
	}
	r.Sev = pickSeverity(raw.Severity, db.Severity)
	if len(raw.Affected) > maxAffected {
		return nil, fmt.Errorf("affected: %d entries (at most %d)", len(raw.Affected), maxAffected)
	}
	for i, a := range raw.Affected {
		aff, ok, err := parseAffected(a)
		if err != nil {
			return nil, fmt.Errorf("affected[%d]: %w", i, err)
		}
		if ok {
			r.Affected = append(r.Affected, aff)
		}
	}
	return r, nil
}

// parseAffected validates one affected[] entry; ok is false for an entry
// without a package (GIT-only entries, which Vigil does not match).
func parseAffected(a osvAffected) (affect, bool, error) {
	var out affect
	if a.Package == nil || (a.Package.Ecosystem == "" && a.Package.Name == "") {
		for _, r := range a.Ranges {
			if r.Type != rangeGit {
				return out, false, errors.New("a version range without a package")
			}
		}
		return out, false, nil
	}
	eco, err := canonicalEcosystem(a.Package.Ecosystem)
	if err != nil {
		return out, false, fmt.Errorf("package ecosystem: %w", err)
	}
	if err := checkName(a.Package.Name); err != nil {
		return out, false, fmt.Errorf("package name: %w", err)
	}
	out.Ecosystem, out.Name = eco, a.Package.Name
	out.Key = NormalizeName(eco, a.Package.Name)
	base := baseEcosystem(eco)
	if len(a.Versions) > maxVersions {
		return out, false, fmt.Errorf("versions: %d of them (at most %d)", len(a.Versions), maxVersions)
	}
	for _, v := range a.Versions {
		if err := checkVersion(v); err != nil {
			return out, false, fmt.Errorf("versions: %w", err)
		}
		out.Versions = append(out.Versions, v)
	}
	for j, rg := range a.Ranges {
		switch rg.Type {
		case rangeGit:
			out.GitRanges++
			continue
		case rangeSemver, rangeEcosystem:
		default:
			return out, false, fmt.Errorf("ranges[%d]: unknown type %q", j, clip(rg.Type))
		}
		vr, err := parseEvents(rg.Events, base)
		if err != nil {
			return out, false, fmt.Errorf("ranges[%d]: %w", j, err)
		}
		out.Ranges = append(out.Ranges, vr)
	}
	out.Sev = pickSeverity(a.Severity, nil)
	if base == "Go" && len(a.EcosystemSpecific) > 0 && a.EcosystemSpecific[0] == '{' {
		var gs goSpecific
		if err := json.Unmarshal(a.EcosystemSpecific, &gs); err == nil {
			var syms []string
			for _, imp := range gs.Imports {
				if checkName(imp.Path) != nil {
					continue
				}
				if len(imp.Symbols) == 0 { // the whole package is vulnerable
					syms = append(syms, imp.Path)
				}
				for _, s := range imp.Symbols {
					if s != "" && len(syms) < maxSymbols && checkName(s) == nil {
						syms = append(syms, imp.Path+"."+s)
					}
				}
			}
			slices.Sort(syms)
			out.Symbols = symbolList{list: slices.Compact(syms)}
		}
	}
	return out, true, nil
}

func parseEvents(evs []osvEvent, base string) (verRange, error) {
	var vr verRange
	if len(evs) == 0 {
		return vr, errors.New("no events")
	}
	if len(evs) > maxEvents {
		return vr, fmt.Errorf("%d events (at most %d)", len(evs), maxEvents)
	}
	introduced := false
	for k, e := range evs {
		var kind string
		var v *string
		n := 0
		for _, c := range []struct {
			kind string
			v    *string
		}{{evIntroduced, e.Introduced}, {evFixed, e.Fixed}, {evLastAffected, e.LastAffected}, {evLimit, e.Limit}} {
			if c.v != nil {
				kind, v = c.kind, c.v
				n++
			}
		}
		if n != 1 {
			return vr, fmt.Errorf("events[%d]: %d of introduced, fixed, last_affected, limit (want one)", k, n)
		}
		if err := checkVersion(*v); err != nil {
			return vr, fmt.Errorf("events[%d]: %w", k, err)
		}
		if kind == evIntroduced {
			introduced = true
		}
		if !(kind == evIntroduced && *v == "0") && !(kind == evLimit && *v == "*") {
			if _, err := semantic.Parse(*v, base); err != nil && !errors.Is(err, semantic.ErrUnsupportedEcosystem) {
				return vr, fmt.Errorf("events[%d]: version %q: %w", k, clip(*v), err)
			}
		}
		vr.Events = append(vr.Events, event{Kind: kind, V: *v})
	}
	if !introduced {
		return vr, errors.New("no introduced event")
	}
	return vr, nil
}

// advisoryURL is the page a reader follows: golang/vulndb's
// database_specific.url, else the ADVISORY reference, else osv.dev's page.
func advisoryURL(raw osvRecord, db dbSpecific) string {
	var s string
	if len(db.URL) > 0 && json.Unmarshal(db.URL, &s) == nil {
		if u := cleanURL(s); u != "" {
			return u
		}
	}
	for _, ref := range raw.References {
		if ref.Type == "ADVISORY" {
			if u := cleanURL(ref.URL); u != "" {
				return u
			}
		}
	}
	return "https://osv.dev/vulnerability/" + raw.ID
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("not an RFC 3339 time: %q", clip(s))
	}
	return t.UTC(), nil
}

// checkID accepts the ids OSV databases use: letters, digits and . _ : -.
func checkID(id string) error {
	if id == "" {
		return errors.New("missing")
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("longer than %d bytes", maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return fmt.Errorf("character %q not allowed in %q", c, clip(id))
		}
	}
	return nil
}

// checkName accepts printable UTF-8 without tabs or line breaks (the index
// is tab-separated).
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("missing")
	case len(s) > maxNameLen:
		return fmt.Errorf("longer than %d bytes", maxNameLen)
	case !utf8.ValidString(s):
		return errors.New("not UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character in %q", clip(s))
		}
	}
	return nil
}

func checkVersion(s string) error {
	if s == "" {
		return errors.New("empty version")
	}
	if len(s) > maxVersionLen {
		return fmt.Errorf("version longer than %d bytes", maxVersionLen)
	}
	if err := checkName(s); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	return nil
}

func cleanURL(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxURLLen || checkName(s) != nil || !(strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")) {
		return ""
	}
	return s
}

// cleanText keeps one line of printable text, at most n bytes.
func cleanText(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// symbolList is an affected entry's symbols, kept encoded when read from the
// database until a query that matches the entry asks for them.
type symbolList struct {
	raw  json.RawMessage
	list []string
}

// IsZero says whether there are no symbols (for omitzero).
func (s symbolList) IsZero() bool { return len(s.list) == 0 && len(s.raw) == 0 }

// MarshalJSON writes the symbols as a JSON array.
func (s symbolList) MarshalJSON() ([]byte, error) {
	if s.raw != nil {
		return s.raw, nil
	}
	return json.Marshal(s.list)
}

// UnmarshalJSON keeps the array encoded.
func (s *symbolList) UnmarshalJSON(b []byte) error {
	s.raw, s.list = bytes.Clone(b), nil
	return nil
}

// strings returns the symbols (nil when they do not decode).
func (s symbolList) strings() []string {
	if s.raw == nil {
		return s.list
	}
	var out []string
	if json.Unmarshal(s.raw, &out) != nil {
		return nil
	}
	return out
}
