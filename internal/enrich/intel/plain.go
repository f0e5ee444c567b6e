package intel

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// maxLineBytes bounds one line of a plain or CSV feed.
const maxLineBytes = 1 << 20

// ParsePlain reads a plain list: one indicator per line, its kind inferred (see
// Infer). Blank lines and lines starting with '#', ';' or "//" are skipped; text
// after " #" or " ;" is a comment; only the first whitespace-separated field is the
// indicator, except in hosts-file lines ("0.0.0.0 evil.example"), where it is the
// second. name names the feed in places ("name:line") and in Indicator.Feed.
func ParsePlain(name string, r io.Reader) (*Feed, error) {
	f := &Feed{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if line == 1 {
			s = strings.TrimPrefix(s, "\ufeff")
		}
		if s == "" || s[0] == '#' || s[0] == ';' || strings.HasPrefix(s, "//") {
			continue
		}
		for _, c := range [...]string{" #", "\t#", " ;", "\t;"} {
			if i := strings.Index(s, c); i >= 0 {
				s = s[:i]
			}
		}
		fields := strings.Fields(s)
		if len(fields) == 0 {
			continue
		}
		v := fields[0]
		if len(fields) > 1 && isSinkhole(v) {
			v = fields[1]
		}
		k, norm, err := Infer(v)
		if err != nil {
			f.reject(fmt.Sprintf("%s:%d", name, line), err.Error())
			continue
		}
		f.Indicators = append(f.Indicators, Indicator{Kind: k, Value: norm, Feed: name, Confidence: -1})
	}
	if err := sc.Err(); err != nil {
		return f, fmt.Errorf("reading %s line %d: %w", name, line+1, err)
	}
	return f, nil
}

// isSinkhole reports whether v is the address a hosts-file block list points names at.
func isSinkhole(v string) bool {
	a, err := netip.ParseAddr(v)
	return err == nil && (a.IsUnspecified() || a.IsLoopback())
}
