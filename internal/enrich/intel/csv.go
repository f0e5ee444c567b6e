package intel

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// csvColumns maps the header names Vigil understands to what they hold. A header
// naming a kind (url, domain, sha256_hash, ...) is a value column of that kind; a
// file may have several (MalwareBazaar lists md5, sha1 and sha256 on one row).
type csvColumns struct {
	values     []csvValue // value columns, in header order
	typ        int
	id         int
	source     int
	confidence int
	firstSeen  int
	validFrom  int
	validUntil int
	labels     []int
	desc       int
}

type csvValue struct {
	col  int
	kind Kind // KindInvalid: inferred, or from the type column
}

func parseCSVHeader(rec []string) (csvColumns, bool) {
	c := csvColumns{typ: -1, id: -1, source: -1, confidence: -1, firstSeen: -1, validFrom: -1, validUntil: -1, desc: -1}
	for i, h := range rec {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		h = strings.Trim(strings.TrimSpace(strings.TrimPrefix(h, "#")), `"`)
		switch h {
		case "indicator", "value", "ioc", "ioc_value", "observable", "observable_value":
			c.values = append(c.values, csvValue{col: i})
		case "url":
			c.values = append(c.values, csvValue{col: i, kind: KindURL})
		case "domain", "hostname", "fqdn":
			c.values = append(c.values, csvValue{col: i, kind: KindDomain})
		case "ip", "ip_address", "dst_ip", "ipv4", "ipv6":
			c.values = append(c.values, csvValue{col: i, kind: KindIP})
		case "cidr", "network", "prefix":
			c.values = append(c.values, csvValue{col: i, kind: KindCIDR})
		case "md5", "md5_hash":
			c.values = append(c.values, csvValue{col: i, kind: KindMD5})
		case "sha1", "sha1_hash":
			c.values = append(c.values, csvValue{col: i, kind: KindSHA1})
		case "sha256", "sha256_hash":
			c.values = append(c.values, csvValue{col: i, kind: KindSHA256})
		case "type", "ioc_type", "indicator_type", "kind":
			c.typ = i
		case "id", "uuid", "ioc_id":
			c.id = i
		case "source", "reporter", "feed", "provider":
			c.source = i
		case "confidence", "confidence_level", "score":
			c.confidence = i
		case "first_seen", "first_seen_utc", "dateadded", "date_added":
			c.firstSeen = i
		case "valid_from", "valid_since":
			c.validFrom = i
		case "valid_until", "expiration", "expires", "expiry":
			c.validUntil = i
		case "labels", "tags", "threat", "threat_type", "malware", "signature", "malware_family", "malware_printable":
			c.labels = append(c.labels, i)
		case "description", "comment", "comments":
			c.desc = i
		}
	}
	return c, len(c.values) > 0
}

// ParseCSV reads a CSV feed with a header row. The header must name at least one
// value column (indicator, value, ioc, or a kind such as url, domain, ip,
// sha256_hash); a type column (ip, domain, url, md5, ...) gives the kind of a generic
// value column, else the kind is inferred. Optional columns: id, source/reporter,
// confidence (0..1, 0..100, or low/medium/high), first_seen/dateadded (informational),
// valid_from and valid_until/expiration (the validity window), labels/tags/threat
// (split on , ; |), description/comment.
// Lines starting with '#' are comments, except that a commented header
// ("# id,dateadded,url,...", as abuse.ch URLhaus, ThreatFox and Feodo Tracker write
// it) is accepted before the data. Values "ip:port" give the address.
func ParseCSV(name string, r io.Reader) (*Feed, error) {
	f := &Feed{Name: name}
	cr := csv.NewReader(&lineLimitReader{r: r})
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true // ThreatFox writes `"a", "b"`
	var cols csvColumns
	haveHeader := false
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && !errors.Is(err, errLineTooLong) {
				f.reject(fmt.Sprintf("%s:%d", name, pe.StartLine), pe.Err.Error())
				continue
			}
			return f, fmt.Errorf("reading %s: %w", name, err)
		}
		first := strings.TrimSpace(rec[0])
		if !haveHeader {
			if first == "" && len(rec) == 1 {
				continue
			}
			c, ok := parseCSVHeader(rec)
			if strings.HasPrefix(first, "#") {
				cols, haveHeader = c, ok // a commented header, or a comment
				continue
			}
			if !ok {
				return f, fmt.Errorf("reading %s line %d: the header names no indicator column", name, line)
			}
			cols, haveHeader = c, true
			continue
		}
		if strings.HasPrefix(first, "#") || len(rec) == 1 && first == "" {
			continue
		}
		parseCSVRow(f, cols, rec, fmt.Sprintf("%s:%d", name, line))
	}
	if !haveHeader {
		return f, fmt.Errorf("reading %s: no header row", name)
	}
	return f, nil
}

func parseCSVRow(f *Feed, cols csvColumns, rec []string, place string) {
	get := func(i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	base := Indicator{Feed: f.Name, ID: get(cols.id), Source: get(cols.source), Description: get(cols.desc), Confidence: -1}
	if s := get(cols.confidence); s != "" {
		c, err := parseConfidence(s)
		if err != nil {
			f.reject(place, err.Error())
			return
		}
		base.Confidence = c
	}
	var err error
	if base.FirstSeen, err = parseTime(get(cols.firstSeen)); err != nil {
		f.reject(place, err.Error())
		return
	}
	if base.ValidFrom, err = parseTime(get(cols.validFrom)); err != nil {
		f.reject(place, err.Error())
		return
	}
	if base.ValidUntil, err = parseTime(get(cols.validUntil)); err != nil {
		f.reject(place, err.Error())
		return
	}
	if err := checkWindow(base.ValidFrom, base.ValidUntil); err != nil {
		f.reject(place, err.Error())
		return
	}
	for _, i := range cols.labels {
		base.Labels = appendLabels(base.Labels, get(i))
	}
	typ := get(cols.typ)
	for _, vc := range cols.values {
		v := get(vc.col)
		if v == "" && len(cols.values) > 1 {
			continue
		}
		k, norm, err := csvValueOf(vc.kind, typ, v)
		if err != nil {
			f.reject(place, err.Error())
			continue
		}
		in := base
		in.Kind, in.Value = k, norm
		f.Indicators = append(f.Indicators, in)
	}
}

func csvValueOf(k Kind, typ, v string) (Kind, string, error) {
	if k == KindInvalid && typ != "" {
		var ok bool
		if k, ok = ParseKind(typ); !ok {
			return KindInvalid, "", fmt.Errorf("unknown indicator type %q", typ)
		}
	}
	if k == KindInvalid {
		return Infer(v)
	}
	if k == KindIP && strings.IndexByte(v, '/') >= 0 {
		k = KindCIDR
	}
	return Normalize(k, Refang(v))
}

// parseConfidence reads 0..1, 0..100 or a word (low, medium, high).
func parseConfidence(s string) (float64, error) {
	switch strings.ToLower(s) {
	case "low":
		return 0.3, nil
	case "medium", "moderate":
		return 0.6, nil
	case "high":
		return 0.9, nil
	}
	c, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || c < 0 || c > 100 || c != c {
		return 0, fmt.Errorf("confidence %q is not 0..1, 0..100 or low/medium/high", s)
	}
	if c > 1 || strings.HasSuffix(s, "%") {
		c /= 100
	}
	return c, nil
}

var timeLayouts = [...]string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04:05 MST", "2006-01-02"}

// parseTime reads a feed timestamp (RFC 3339, "2006-01-02 15:04:05" in UTC, a date,
// or Unix seconds); "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < 1<<40 {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("time %q is not RFC 3339, a date or Unix seconds", s)
}

func appendLabels(dst []string, s string) []string {
	for l := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ';' || r == '|' }) {
		l = strings.ToLower(strings.TrimSpace(l))
		if l == "" || l == "none" || l == "null" || len(dst) >= maxLabels {
			continue
		}
		dup := false
		for _, x := range dst {
			dup = dup || x == l
		}
		if !dup {
			dst = append(dst, l)
		}
	}
	return dst
}

// checkWindow fails when both bounds of a validity window are set and it is empty
// (ValidUntil is exclusive), so the parser rejects the record at its place.
func checkWindow(from, until time.Time) error {
	if !from.IsZero() && !until.IsZero() && !until.After(from) {
		return fmt.Errorf("valid_until %s is not after valid_from %s", until.Format(time.RFC3339Nano), from.Format(time.RFC3339Nano))
	}
	return nil
}

// maxLabels bounds the labels kept per indicator.
const maxLabels = 16

var errLineTooLong = errors.New("line too long")

// lineLimitReader fails when a line exceeds maxLineBytes, so a hostile CSV file
// cannot make encoding/csv buffer an unbounded record.
type lineLimitReader struct {
	r   io.Reader
	run int
}

func (l *lineLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			l.run = 0
		} else if l.run++; l.run > maxLineBytes {
			return 0, fmt.Errorf("line longer than %d bytes: %w", maxLineBytes, errLineTooLong)
		}
	}
	return n, err
}
