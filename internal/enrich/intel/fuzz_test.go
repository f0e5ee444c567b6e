package intel

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
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
	if _, err := Build([]*Feed{f}, IndexOptions{}); err != nil {
		t.Fatalf("building from parsed feed: %v", err)
	}
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
		if err == nil && len(comps) == 0 {
			t.Fatalf("%q: no comparisons and no error", p)
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
	})
}
