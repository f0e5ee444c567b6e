package intel

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// checkFeed asserts the invariants every parser keeps on any input: bounded rejects,
// and indicators whose values are already normalised and buildable.
func checkFeed(t *testing.T, f *Feed) {
	t.Helper()
	if f == nil {
		return
	}
	if len(f.Rejects) > MaxRejectsKept || f.Rejected < len(f.Rejects) || f.Unsupported > f.Rejected {
		t.Fatalf("reject accounting: %d kept, %d counted, %d unsupported", len(f.Rejects), f.Rejected, f.Unsupported)
	}
	for _, in := range f.Indicators {
		k, v, err := Normalize(in.Kind, in.Value)
		if err != nil || v != in.Value || k != in.Kind {
			t.Fatalf("indicator %v %q not normalised: %v %q %v", in.Kind, in.Value, k, v, err)
		}
		if in.Confidence != -1 && (in.Confidence < 0 || in.Confidence > 1) {
			t.Fatalf("confidence %v out of range", in.Confidence)
		}
	}
	checkRejects(t, f.Name, f.Rejects)
	x, err := Build([]*Feed{f}, IndexOptions{})
	if err != nil {
		t.Fatalf("building from parsed feed: %v", err)
	}
	for _, fs := range x.Stats().Feeds {
		checkRejects(t, f.Name, fs.Rejects)
	}
	checkSelfMatch(t, x)
}

// checkRejects asserts every reject names a place inside the feed ("name:line",
// "name:objects[3]", "name:<id>") and a reason.
func checkRejects(t *testing.T, name string, rs []Reject) {
	t.Helper()
	for _, r := range rs {
		rest, ok := strings.CutPrefix(r.Place, name+":")
		if !ok || strings.TrimSpace(rest) == "" || strings.TrimSpace(r.Reason) == "" {
			t.Fatalf("reject without place or reason: %q", r)
		}
	}
}

// validTime is an event time at which in applies.
func validTime(in *Indicator) time.Time {
	switch {
	case !in.ValidFrom.IsZero():
		return in.ValidFrom
	case !in.ValidUntil.IsZero():
		return in.ValidUntil.Add(-time.Nanosecond)
	}
	return day(1)
}

// checkSelfMatch asserts every indexed indicator is found by its own value at a time
// it is valid: an address or domain finds itself (or, for a prefix, a more specific
// indexed prefix containing its address), a URL finds itself whole and, when it has
// no port, in parts as an HTTP log gives them, a hash finds itself in either case.
func checkSelfMatch(t *testing.T, x *Index) {
	t.Helper()
	for id := range int32(x.Len()) {
		in := x.Indicator(id)
		at := validTime(in)
		var got []int32
		switch in.Kind {
		case KindIP, KindCIDR:
			p, err := parsePrefix(in.Value)
			if err != nil {
				t.Fatalf("indexed %v %q: %v", in.Kind, in.Value, err)
			}
			got = x.AppendIP(nil, p.Addr(), at)
			if !slices.Contains(got, id) {
				for _, g := range got {
					q, err := parsePrefix(x.Indicator(g).Value)
					if err != nil || q.Bits() <= p.Bits() || !q.Contains(p.Addr()) {
						t.Fatalf("%v %q at %v: found %v, not itself or a more specific prefix", in.Kind, in.Value, at, values(x, got))
					}
				}
				if len(got) == 0 {
					t.Fatalf("%v %q at %v: not found", in.Kind, in.Value, at)
				}
			}
			continue
		case KindDomain:
			got = x.AppendDomain(nil, in.Value, at)
			if up := x.AppendDomain(nil, strings.ToUpper(in.Value)+".", at); !slices.Equal(up, got) {
				t.Fatalf("domain %q: upper-case with trailing dot finds %v, lower-case %v", in.Value, values(x, up), values(x, got))
			}
		case KindURL:
			got = x.AppendURL(nil, in.Value, at)
			if scheme, host, pq, ok := urlParts(in.Value); ok {
				if parts := x.AppendURLParts(nil, scheme, host, pq, at); !slices.Contains(parts, id) {
					t.Fatalf("url %q: not found in parts (%q, %q, %q): %v", in.Value, scheme, host, pq, values(x, parts))
				}
			}
		default:
			got = x.AppendHash(nil, in.Value, at)
			if up := x.AppendHash(nil, strings.ToUpper(in.Value), at); !slices.Equal(up, got) {
				t.Fatalf("hash %q: upper-case finds %v, lower-case %v", in.Value, values(x, up), values(x, got))
			}
		}
		if !slices.Contains(got, id) {
			t.Fatalf("%v %q at %v: not found (got %v)", in.Kind, in.Value, at, values(x, got))
		}
	}
}

// spellings returns other spellings of the normalised URL n that name the same
// resource and must normalise to n: scheme and host in upper case with user
// information, a trailing dot and a fragment; the scheme's default port written
// out; the port with a leading zero; an IPv6 literal fully expanded.
func spellings(n string) []string {
	scheme, rest, _ := strings.Cut(n, "://")
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return nil
	}
	host, port, bracketed, ok := splitAuthority(rest[:i])
	if !ok {
		return nil
	}
	tail := rest[i:]
	wrap := func(h string) string {
		if bracketed {
			return "[" + h + "]"
		}
		return h
	}
	withPort := func(h, p string) string {
		if p == "" {
			return wrap(h)
		}
		return wrap(h) + ":" + p
	}
	dot := "."
	if bracketed {
		dot = ""
	}
	out := []string{strings.ToUpper(scheme) + "://User:Pw@" + strings.ToUpper(withPort(host+dot, port)) + tail + "#Frag"}
	if def := map[string]string{"http": "80", "ws": "80", "https": "443", "wss": "443", "ftp": "21"}[scheme]; def != "" && port == "" {
		out = append(out, scheme+"://"+withPort(host, def)+tail)
	}
	if port != "" {
		out = append(out, scheme+"://"+withPort(host, "0"+port)+tail)
	}
	if a, err := netip.ParseAddr(host); err == nil && bracketed {
		out = append(out, scheme+"://"+withPort(strings.ToUpper(a.StringExpanded()), port)+tail)
	}
	return out
}

// urlParts splits a normalised URL as an HTTP log records it (url.scheme, url.domain,
// url.original); ok is false when the URL has a port, which the parts cannot carry.
func urlParts(u string) (scheme, host, pathQuery string, ok bool) {
	scheme, rest, _ := strings.Cut(u, "://")
	i := strings.IndexByte(rest, '/') // a normalised URL's authority always ends in '/'
	if i < 0 {
		return "", "", "", false
	}
	host, pathQuery = rest[:i], rest[i:]
	if j := strings.LastIndexByte(host, ':'); j > strings.LastIndexByte(host, ']') {
		return "", "", "", false
	}
	return scheme, host, pathQuery, true
}

func seed(f *testing.F, files ...string) {
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParsePlain(f *testing.F) {
	seed(f, "plain.txt")
	f.Add([]byte("hxxp://a[.]b/c\n0.0.0.0 x.example\n::ffff:1.2.3.4/120\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fd, _ := ParsePlain("fuzz", bytes.NewReader(b))
		checkFeed(t, fd)
	})
}

func FuzzParseCSV(f *testing.F) {
	seed(f, "feed.csv", "urlhaus.csv", "threatfox.csv")
	f.Add([]byte("md5_hash,sha1_hash,sha256_hash\n\"x\",,\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fd, _ := ParseCSV("fuzz", bytes.NewReader(b))
		checkFeed(t, fd)
	})
}

func FuzzParseSTIX(f *testing.F) {
	seed(f, "bundle.stix.json")
	f.Add([]byte(`{"type":"bundle","objects":[{"type":"indicator","pattern":"[url:value = 'http://x.example/'] OR [ipv6-addr:value = '::1/64']","confidence":101}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fd, _ := ParseSTIX("fuzz", bytes.NewReader(b))
		checkFeed(t, fd)
	})
}

func FuzzParseMISP(f *testing.F) {
	seed(f, "event.misp.json")
	f.Add([]byte(`[{"Event":{"Attribute":[{"type":"domain|ip","value":"a.example|1.2.3.4","to_ids":"1"}]}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fd, _ := ParseMISP("fuzz", bytes.NewReader(b))
		checkFeed(t, fd)
	})
}

// FuzzSTIXPattern checks the pattern parser terminates without panicking.
func FuzzSTIXPattern(f *testing.F) {
	for _, p := range []string{"[ipv4-addr:value = '1.2.3.4'] OR [domain-name:value = 'a.example']", "[file:hashes.'SHA-256' = 'x' OR url:value = 'y']", "['\\"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		comps, err := parseSTIXPattern(p)
		if err != nil {
			return
		}
		if len(comps) == 0 {
			t.Fatalf("%q: no comparisons and no error", p)
		}
		// Written back with every value quoted and escaped, the pattern reads the same.
		path := map[Kind]string{KindCIDR: "ipv4-addr:value", KindDomain: "domain-name:value", KindURL: "url:value",
			KindMD5: "file:hashes.MD5", KindSHA1: "file:hashes.'SHA-1'", KindSHA256: "file:hashes.'SHA-256'"}
		esc := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
		var parts []string
		for _, c := range comps {
			parts = append(parts, "["+path[c.kind]+" = '"+esc.Replace(c.value)+"']")
		}
		again, err := parseSTIXPattern(strings.Join(parts, " OR "))
		if err != nil || !slices.Equal(again, comps) {
			t.Fatalf("%q: %v, written back %q: %v %v", p, comps, strings.Join(parts, " OR "), again, err)
		}
	})
}

// FuzzURL checks that URL normalisation is idempotent and that the index finds a
// URL indicator under every spelling that normalises to it.
func FuzzURL(f *testing.F) {
	for _, u := range []string{"HTTP://A.Example:80/x?y#z", "https://u@[2001:db8::1]:443", "ftp://h.example:21/", "x://"} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, u string) {
		n, err := NormalizeURL(u)
		if err != nil {
			return
		}
		n2, err := NormalizeURL(n)
		if err != nil || n2 != n {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", u, n, n2, err)
		}
		x, err := Build([]*Feed{{Name: "f", Indicators: []Indicator{{Kind: KindURL, Value: n}}}}, IndexOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(x.AppendURL(nil, u, day(1))) != 1 {
			t.Fatalf("%q (normalised %q) not found", u, n)
		}
		checkSelfMatch(t, x) // also in parts, as HTTP logs give it
		for _, v := range spellings(n) {
			if len(v) <= maxValueLen && len(x.AppendURL(nil, v, day(1))) != 1 {
				t.Fatalf("%q (normalised %q): the equivalent spelling %q is not found", u, n, v)
			}
		}
	})
}

// FuzzFormatsAgree is a differential target: the values of its input's lines that
// Infer accepts, written as a plain list, an untyped CSV (kind inferred), a typed
// CSV, a STIX bundle and a MISP event, give the same kinds and values in the index
// in every format. Infer must also be idempotent: a plain list re-reads its own
// normalised values unchanged. Values no format can carry are left out of that
// format only (whitespace or a comment mark in a plain list, CR in CSV, which
// encoding/csv folds, invalid UTF-8 in JSON, which encoding/json replaces).
func FuzzFormatsAgree(f *testing.F) {
	f.Add("198.51.100.7\n203.0.113.0/24\n2001:db8::/32\nEvil.Example.\nhttp://evil.example/x?y\nhttps://[2001:db8::1]:8443/a b\nD41D8CD98F00B204E9800998ECF8427E\n1.2.3.4:80")
	f.Add("hxxp://evil[.]example/a'b\\c\nftp://x.example:21/\"q\",r")
	f.Fuzz(func(t *testing.T, s string) {
		var all, plain []string // normalised values, first occurrence
		seen := map[string]bool{}
		kinds := map[string]Kind{}
		for line := range strings.SplitSeq(s, "\n") {
			k, v, err := Infer(line)
			if err != nil || seen[v] {
				continue
			}
			if k2, v2, err := Infer(v); err != nil || k2 != k || v2 != v {
				t.Fatalf("Infer not idempotent: %q -> %v %q -> %v %q (%v)", line, k, v, k2, v2, err)
			}
			seen[v], kinds[v] = true, k
			all = append(all, v)
			if !strings.ContainsAny(v, " \t\n\v\f\r\u0085\u00a0#;") && !strings.HasPrefix(v, "//") && len(strings.Fields(v)) == 1 {
				plain = append(plain, v)
			}
		}
		want := func(vs []string) []string {
			var out []string
			for _, v := range vs {
				out = append(out, kinds[v].String()+" "+v)
			}
			slices.Sort(out)
			return out
		}
		var csvVals, jsonVals []string
		for _, v := range all {
			if !strings.ContainsRune(v, '\r') {
				csvVals = append(csvVals, v)
			}
			if utf8.ValidString(v) {
				jsonVals = append(jsonVals, v)
			}
		}
		check := func(format string, vs []string, parse func(string, *bytes.Reader) (*Feed, error), data []byte) {
			t.Helper()
			fd, err := parse(format, bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s: %v\n%s", format, err, data)
			}
			checkFeed(t, fd)
			x, err := Build([]*Feed{fd}, IndexOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for id := range int32(x.Len()) {
				in := x.Indicator(id)
				got = append(got, in.Kind.String()+" "+in.Value)
			}
			slices.Sort(got)
			if w := want(vs); !slices.Equal(got, w) {
				t.Fatalf("%s gives\n  %s\nwant\n  %s\nrejects %v\ninput:\n%s", format, strings.Join(got, "\n  "), strings.Join(w, "\n  "), fd.Rejects, data)
			}
		}
		plainParse := func(n string, r *bytes.Reader) (*Feed, error) { return ParsePlain(n, r) }
		csvParse := func(n string, r *bytes.Reader) (*Feed, error) { return ParseCSV(n, r) }
		stixParse := func(n string, r *bytes.Reader) (*Feed, error) { return ParseSTIX(n, r) }
		mispParse := func(n string, r *bytes.Reader) (*Feed, error) { return ParseMISP(n, r) }

		check("plain", plain, plainParse, []byte(strings.Join(plain, "\n")))

		var untyped, typed bytes.Buffer
		cu, ct := csv.NewWriter(&untyped), csv.NewWriter(&typed)
		_ = cu.Write([]string{"indicator"})
		_ = ct.Write([]string{"id", "type", "indicator"})
		for i, v := range csvVals {
			_ = cu.Write([]string{v})
			_ = ct.Write([]string{fmt.Sprint(i), kinds[v].String(), v})
		}
		cu.Flush()
		ct.Flush()
		check("csv-untyped", csvVals, csvParse, untyped.Bytes())
		check("csv-typed", csvVals, csvParse, typed.Bytes())

		type obj struct {
			Type        string `json:"type"`
			ID          string `json:"id"`
			Pattern     string `json:"pattern"`
			PatternType string `json:"pattern_type"`
		}
		type attr struct {
			UUID  string `json:"uuid"`
			Type  string `json:"type"`
			Value string `json:"value"`
			ToIDs bool   `json:"to_ids"`
		}
		var objs []obj
		var attrs []attr
		for i, v := range jsonVals {
			k := kinds[v]
			var path, mt string
			switch k {
			case KindIP, KindCIDR:
				path, mt = "ipv6-addr:value", "ip-dst"
				if p, err := parsePrefix(v); err == nil && p.Addr().Is4() {
					path = "ipv4-addr:value"
				}
			case KindDomain:
				path, mt = "domain-name:value", "domain"
			case KindURL:
				path, mt = "url:value", "url"
			case KindMD5:
				path, mt = "file:hashes.'MD5'", "md5"
			case KindSHA1:
				path, mt = "file:hashes.'SHA-1'", "sha1"
			case KindSHA256:
				path, mt = "file:hashes.'SHA-256'", "sha256"
			}
			lit := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v)
			objs = append(objs, obj{Type: "indicator", ID: fmt.Sprintf("indicator--%d", i), Pattern: "[" + path + " = '" + lit + "']", PatternType: "stix"})
			attrs = append(attrs, attr{UUID: fmt.Sprint(i), Type: mt, Value: v, ToIDs: true})
		}
		bundle, err := json.Marshal(map[string]any{"type": "bundle", "objects": objs})
		if err != nil {
			t.Fatal(err)
		}
		check("stix", jsonVals, stixParse, bundle)
		event, err := json.Marshal(map[string]any{"Event": map[string]any{"uuid": "e", "Attribute": attrs}})
		if err != nil {
			t.Fatal(err)
		}
		check("misp", jsonVals, mispParse, event)
	})
}
