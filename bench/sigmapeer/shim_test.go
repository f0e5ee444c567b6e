package sigmapeer

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode/utf16"

	sigmago "github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"
	"github.com/bradleyjkemp/sigma-go/evaluator/modifiers"

	"github.com/vigilsec/vigil/internal/detect/sigma"
)

// The shim teaches sigma-go the parts of the Sigma specification it lacks, by
// rewriting a rule's values into something it evaluates, so the differential can
// check an explanation ("sigma-go lacks X") instead of asserting it: with the shim,
// sigma-go must agree with Vigil on the events where it disagreed without. It is
// written from the specification (and pySigma where the specification leaves a
// choice), not from Vigil's code.
//
// It rewrites:
//   - wildcards (* and ?) and escapes (\*, \?, \\) in string values: sigma-go
//     compares values literally;
//   - windash: pySigma's reading, a - or / that starts a word (\B[-/]\b) may be any
//     of - / – — ―;
//   - re's i, m, s sub-modifiers: inline flags (sigma-go rejects modifiers after re);
//   - base64offset and wide (utf16le): the three offset encodings, matched as written;
//   - null: the field is absent or empty (sigma-go fails on a null value);
//   - values shaped like %name% without the expand modifier: literal text (sigma-go
//     takes any such value for a placeholder and fails without an expander);
//   - field names: an event field whose name holds spaces ("Threat Name") is also
//     given under the name without them ("ThreatName"), the specification's rule
//     for naming fields ("Field Usage": strip all spaces);
//   - fieldref: per event, the referenced field's values (read through the variant's
//     field mapping), escaped, as the values to compare (sigma-go's comparators
//     never see the event, so this one rewrite is made for each event).
//
// Rewritten values go to the comparator below, registered under its own name in
// sigma-go's exported comparator table; sigma-go's own comparators are untouched, so
// the unshimmed evaluators (and the benchmark) behave exactly as released.
const shimComparator = "vigilshim"

var registerShim sync.Once

// shimRE matches with a regular expression compiled once (sigma-go's re comparator
// compiles it on every call), never on an absent field.
type shimRE struct{ cache sync.Map }

func (s *shimRE) Matches(actual, expected any) (bool, error) {
	if actual == nil {
		return false, nil
	}
	pat := modifiers.CoerceString(expected)
	re, ok := s.cache.Load(pat)
	if !ok {
		c, err := regexp.Compile(pat)
		if err != nil {
			return false, fmt.Errorf("shim: %w", err)
		}
		re, _ = s.cache.LoadOrStore(pat, c)
	}
	return re.(*regexp.Regexp).MatchString(modifiers.CoerceString(actual)), nil
}

// shimmed returns rule with the rewrites above applied, and whether any applied.
// With ev nil, fieldref matchers are left as they are and fieldref reports that
// the rule has some; with an event, they are rewritten for it.
func shimmed(rule sigmago.Rule, v sigma.Variant, ev map[string]any) (out sigmago.Rule, changed, fieldref bool) {
	registerShim.Do(func() { modifiers.Comparators[shimComparator] = &shimRE{} })
	out = rule
	out.Detection.Searches = map[string]sigmago.Search{}
	for name, se := range rule.Detection.Searches {
		ns := se
		ns.EventMatchers = nil
		for _, em := range se.EventMatchers {
			var nem sigmago.EventMatcher
			for _, fm := range em {
				if slices.Contains(fm.Modifiers, "fieldref") {
					fieldref = true
					if ev != nil {
						fm, changed = derefField(fm, v, ev), true
					}
				}
				nfm, ok := shimField(fm)
				changed = changed || ok
				nem = append(nem, nfm)
			}
			ns.EventMatchers = append(ns.EventMatchers, nem)
		}
		out.Detection.Searches[name] = ns
	}
	return out, changed, fieldref
}

// derefField turns Field|fieldref[|pos]: Other into Field[|pos]: <Other's values
// in ev>, escaped so they match as written.
func derefField(fm sigmago.FieldMatcher, v sigma.Variant, ev map[string]any) sigmago.FieldMatcher {
	var mods []string
	for _, m := range fm.Modifiers {
		if m != "fieldref" {
			mods = append(mods, m)
		}
	}
	var vals []any
	for _, ref := range fm.Values {
		name := modifiers.CoerceString(ref)
		if to, ok := v.Fields[name]; ok {
			name = to
		}
		switch x := ev[name].(type) {
		case string:
			vals = append(vals, escapeSigma(x))
		case []any:
			for _, y := range x {
				vals = append(vals, escapeSigma(modifiers.CoerceString(y)))
			}
		}
	}
	// Escaped values take shimField's regular-expression path (they hold a
	// backslash); the others sigma-go compares as written, which is right for them.
	fm.Modifiers, fm.Values = mods, vals
	return fm
}

// escapeSigma writes s as a Sigma string matching s itself.
func escapeSigma(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`)
	return r.Replace(s)
}

// shimEvaluator is like a route's evaluator but for the shimmed rule (nil when the
// shim changes nothing), and whether the rule uses fieldref (then the shim is
// made per event: shimMatch).
func shimEvaluator(pr *peerRule, variant int) (*evaluator.RuleEvaluator, bool) {
	v := pr.entry.Variants[variant]
	rule, ok, fieldref := shimmed(pr.rule, v, nil)
	if !ok {
		return nil, fieldref
	}
	return evaluator.ForRule(rule, evaluator.WithConfig(peerConfig(rule, v))), fieldref
}

// shimField rewrites one field matcher when sigma-go would get it wrong.
func shimField(fm sigmago.FieldMatcher) (sigmago.FieldMatcher, bool) {
	if len(fm.Values) == 1 && fm.Values[0] == nil {
		// null: absent (sigma-go's "null" special case) or empty.
		fm.Values, fm.Modifiers = []any{"null", ""}, nil
		return fm, true
	}
	var pos, reFlags string
	var all, windash, cased, re, wide, b64off bool
	for _, m := range fm.Modifiers {
		switch m {
		case "contains", "startswith", "endswith":
			pos = m
		case "all":
			all = true
		case "windash":
			windash = true
		case "cased":
			cased = true
		case "re":
			re = true
		case "i", "m", "s":
			reFlags += m
		case "wide", "utf16le":
			wide = true
		case "base64offset":
			b64off = true
		default:
			return fm, false // sigma-go's own handling (cidr, gt, base64, ...) or unknown to it
		}
	}
	if re {
		if reFlags == "" {
			return fm, false
		}
		var vals []any
		for _, v := range fm.Values {
			vals = append(vals, "(?"+reFlags+")"+modifiers.CoerceString(v))
		}
		return withShim(fm, vals, all), true
	}
	if reFlags != "" || (wide && !b64off) {
		return fm, false
	}
	if !windash && !cased && !wide && !b64off && !needsShim(fm.Values) {
		return fm, false
	}
	var vals []any
	for _, v := range fm.Values {
		s := modifiers.CoerceString(v)
		if b64off {
			// Encoded text: no wildcards, matched as written, anywhere.
			raw := unescapePlain(s)
			if wide {
				raw = utf16le(raw)
			}
			var alts []string
			for _, enc := range base64Offsets(raw) {
				alts = append(alts, regexp.QuoteMeta(enc))
			}
			vals = append(vals, "(?s)(?:"+strings.Join(alts, "|")+")")
			continue
		}
		body := globRegex(s, windash)
		switch pos {
		case "":
			body = `\A` + body + `\z`
		case "startswith":
			body = `\A` + body
		case "endswith":
			body += `\z`
		}
		flags := "(?s)"
		if !cased {
			flags = "(?is)"
		}
		vals = append(vals, flags+body)
	}
	return withShim(fm, vals, all), true
}

func withShim(fm sigmago.FieldMatcher, vals []any, all bool) sigmago.FieldMatcher {
	fm.Values = vals
	fm.Modifiers = []string{shimComparator}
	if all {
		fm.Modifiers = append(fm.Modifiers, "all")
	}
	return fm
}

// needsShim reports whether a value list uses Sigma string syntax sigma-go takes
// literally: a wildcard, an escape, or a %name% shape.
func needsShim(vals []any) bool {
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		if strings.ContainsAny(s, "*?") || strings.Contains(s, `\\`) ||
			(len(s) > 1 && s[0] == '%' && s[len(s)-1] == '%') {
			return true
		}
	}
	return false
}

// globRegex translates a Sigma string (specification, "String Wildcard" and
// "Escape Character") into a regular expression body: * any run, ? one character,
// \* \? \\ the character itself, any other backslash a backslash.
func globRegex(s string, windash bool) string {
	var b strings.Builder
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\\' && i+1 < len(rs) && (rs[i+1] == '*' || rs[i+1] == '?' || rs[i+1] == '\\'):
			b.WriteString(regexp.QuoteMeta(string(rs[i+1])))
			i++
		case c == '*':
			b.WriteString(".*")
		case c == '?':
			b.WriteString(".")
		case windash && (c == '-' || c == '/') && !(i > 0 && isWord(rs[i-1])) && i+1 < len(rs) && isWord(rs[i+1]):
			b.WriteString("[-/–—―]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

func isWord(r rune) bool {
	return r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}

// unescapePlain applies the escapes of a Sigma string without wildcards (encoded
// values are text, not patterns).
func unescapePlain(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\') {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func utf16le(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		b.WriteByte(byte(u))
		b.WriteByte(byte(u >> 8))
	}
	return b.String()
}

// base64Offsets are the three encodings of s at the three byte offsets modulo 3,
// without the characters that depend on the neighbouring bytes (pySigma's
// base64offset).
func base64Offsets(s string) []string {
	out := make([]string, 0, 3)
	for i := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, i), s...))
		start := [3]int{0, 2, 3}[i]
		end := len(enc) - [3]int{0, 3, 2}[(len(s)+i)%3]
		out = append(out, enc[start:max(start, end)])
	}
	return out
}
