package intel

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func feedOf(name string, ins ...Indicator) *Feed {
	f := &Feed{Name: name}
	for _, in := range ins {
		k, v, err := Normalize(in.Kind, in.Value)
		if err != nil {
			panic(err)
		}
		in.Kind, in.Value, in.Feed = k, v, name
		f.Indicators = append(f.Indicators, in)
	}
	return f
}

func day(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }

// values returns "feed/value" of the matched ids.
func values(x *Index, ids []int32) string {
	var out []string
	for _, id := range ids {
		in := x.Indicator(id)
		out = append(out, in.Feed+"/"+in.Value)
	}
	return strings.Join(out, ",")
}

func TestIndexMatch(t *testing.T) {
	a := feedOf("a",
		Indicator{Kind: KindIP, Value: "198.51.100.7"},
		Indicator{Kind: KindCIDR, Value: "198.51.100.0/24"},
		Indicator{Kind: KindCIDR, Value: "198.51.0.0/16"},
		Indicator{Kind: KindCIDR, Value: "2001:db8:bad::/48"},
		Indicator{Kind: KindDomain, Value: "evil.example"},
		Indicator{Kind: KindDomain, Value: "deep.sub.evil.example"},
		Indicator{Kind: KindURL, Value: "https://phish.example/login?x=1"},
		Indicator{Kind: KindMD5, Value: "d41d8cd98f00b204e9800998ecf8427e"},
		Indicator{Kind: KindSHA1, Value: "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"},
		Indicator{Kind: KindSHA256, Value: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		Indicator{Kind: KindDomain, Value: "window.example", ValidFrom: day(10), ValidUntil: day(20)},
		Indicator{Kind: KindIP, Value: "192.0.2.1", ValidFrom: day(10), ValidUntil: day(20)},
		Indicator{Kind: KindCIDR, Value: "192.0.2.0/24"},
		Indicator{Kind: KindDomain, Value: "revoked.example", Revoked: true},
		Indicator{Kind: KindDomain, Value: "evil.example"}, // duplicate within the feed
		Indicator{Kind: KindDomain, Value: "empty.example", ValidFrom: day(10), ValidUntil: day(10)},
		Indicator{Kind: KindURL, Value: "http://[2001:db8::1]/p"},
	)
	b := feedOf("b", Indicator{Kind: KindDomain, Value: "evil.example", Confidence: 0.9})
	x, err := Build([]*Feed{a, b}, IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := x.Stats()
	if st.Indicators != 15 || st.Feeds[0].Duplicates != 1 || st.Feeds[0].Revoked != 1 || st.Feeds[0].Rejected != 1 ||
		!strings.Contains(st.Feeds[0].Rejects[0].Reason, "is not after valid_from") {
		t.Fatalf("stats %+v", st)
	}
	t5 := day(5)
	for _, tc := range []struct {
		kind string
		in   string
		at   time.Time
		want string
	}{
		{"ip", "198.51.100.7", t5, "a/198.51.100.7"},
		{"ip", "198.51.100.8", t5, "a/198.51.100.0/24"},
		{"ip", "198.51.7.1", t5, "a/198.51.0.0/16"},
		{"ip", "::ffff:198.51.100.7", t5, "a/198.51.100.7"},
		{"ip", "198.52.0.1", t5, ""},
		{"ip", "2001:db8:bad:1::5", t5, "a/2001:db8:bad::/48"},
		{"ip", "2001:db8:bae::5", t5, ""},
		{"ip", "192.0.2.1", t5, "a/192.0.2.0/24"},   // exact one not yet valid: falls back to the prefix
		{"ip", "192.0.2.1", day(15), "a/192.0.2.1"}, // in its window
		{"ip", "192.0.2.1", day(20), "a/192.0.2.0/24"},
		{"domain", "evil.example", t5, "a/evil.example,b/evil.example"},
		{"domain", "A.B.Evil.Example.", t5, "a/evil.example,b/evil.example"},
		{"domain", "x.deep.sub.evil.example", t5, "a/deep.sub.evil.example"}, // most specific
		{"domain", "notevil.example", t5, ""},
		{"domain", "evil.example.com", t5, ""},
		{"domain", "example", t5, ""},
		{"domain", "revoked.example", t5, ""},
		{"domain", "empty.example", day(10), ""},
		{"domain", "window.example", day(9), ""},
		{"domain", "www.window.example", day(10), "a/window.example"},
		{"domain", "window.example", day(20), ""},
		{"domain", "", t5, ""},
		{"domain", ".", t5, ""},
		{"url", "HTTPS://Phish.Example:443/login?x=1#top", t5, "a/https://phish.example/login?x=1"},
		{"url", "https://phish.example/login?x=2", t5, ""},
		{"url", "https://phish.example/Login?x=1", t5, ""}, // path case is significant
		{"url", "/login?x=1", t5, ""},
		{"parts", "HTTPS Phish.Example. /login?x=1#f", t5, "a/https://phish.example/login?x=1"},
		{"parts", "https phish.example /login?x=2", t5, ""},
		{"parts", "https phish.example:443 /login?x=1", t5, "a/https://phish.example/login?x=1"}, // a port left in url.domain
		{"parts", "https phish.example:0443 /login?x=1", t5, "a/https://phish.example/login?x=1"},
		{"parts", "https phish.example login?x=1", t5, ""}, // not a path: was joined to the host
		{"parts", "h%ttp phish.example /login?x=1", t5, ""},
		{"url", "http://[2001:DB8:0:0::1]:80/p", t5, "a/http://[2001:db8::1]/p"}, // IPv6 literal spelt differently
		{"parts", "http [2001:db8::1] /p", t5, "a/http://[2001:db8::1]/p"},
		{"parts", "http 2001:DB8::1 /p", t5, "a/http://[2001:db8::1]/p"}, // url.domain without brackets: was "http://2001:db8::1/p"
		{"parts", "http [2001:db8::1]:80 /p", t5, "a/http://[2001:db8::1]/p"},
		{"parts", "http [2001:db8::1 /p", t5, ""},
		{"hash", "D41D8CD98F00B204E9800998ECF8427E", t5, "a/d41d8cd98f00b204e9800998ecf8427e"},
		{"hash", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", t5, "a/a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"},
		{"hash", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", t5, "a/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"hash", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85z", t5, ""},
		{"hash", "d41d8cd98f00b204", t5, ""},
	} {
		var ids []int32
		switch tc.kind {
		case "ip":
			ids = x.AppendIP(nil, netip.MustParseAddr(tc.in), tc.at)
		case "domain":
			ids = x.AppendDomain(nil, tc.in, tc.at)
		case "url":
			ids = x.AppendURL(nil, tc.in, tc.at)
		case "hash":
			ids = x.AppendHash(nil, tc.in, tc.at)
		case "parts":
			p := strings.SplitN(tc.in, " ", 3)
			ids = x.AppendURLParts(nil, p[0], p[1], p[2], tc.at)
		}
		if got := values(x, ids); got != tc.want {
			t.Errorf("%s %q at %s: got %q, want %q", tc.kind, tc.in, tc.at.Format(time.DateOnly), got, tc.want)
		}
	}
}

func TestURLHost(t *testing.T) {
	for in, want := range map[string]string{
		"http://u:p@Evil.Example:8080/x?y#z": "Evil.Example",
		"https://[2001:db8::1]:443/":         "2001:db8::1",
		"/relative":                          "",
		"/r?to=http://evil.example/":         "", // a URL in the query of a relative one: was "evil.example"
		"http://h.example":                   "h.example",
	} {
		if got := URLHost(in); got != want {
			t.Errorf("URLHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIndexCap(t *testing.T) {
	f := feedOf("f", Indicator{Kind: KindIP, Value: "192.0.2.1"}, Indicator{Kind: KindIP, Value: "192.0.2.2"}, Indicator{Kind: KindIP, Value: "192.0.2.3"})
	if _, err := Build([]*Feed{f}, IndexOptions{MaxIndicators: 2}); err == nil || !strings.Contains(err.Error(), "cap of 2") {
		t.Fatalf("error %v, want the cap", err)
	}
}

func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "list.txt")
	write := func(s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := NewStore(StoreOptions{Index: IndexOptions{MaxIndicators: 2}})
	if s.Current().Len() != 0 {
		t.Fatal("new store not empty")
	}
	write("evil.example\n")
	if _, err := s.Load([]Source{{Path: p}}); err != nil {
		t.Fatal(err)
	}
	old := s.Current()
	if got := values(old, old.AppendDomain(nil, "a.evil.example", day(1))); got != "list.txt/evil.example" {
		t.Fatalf("got %q", got)
	}
	write("a.example\nb.example\nc.example\n") // over the cap: the reload fails, the old index stays
	if _, err := s.Load([]Source{{Path: p}}); err == nil {
		t.Fatal("load over the cap succeeded")
	}
	if s.Current() != old {
		t.Fatal("failed load replaced the index")
	}
	if _, err := s.Load([]Source{{Path: filepath.Join(dir, "missing")}}); err == nil || s.Current() != old {
		t.Fatalf("missing file: %v", err)
	}
	write("b.example\n")
	if _, err := s.Load([]Source{{Name: "mine", Path: p}}); err != nil {
		t.Fatal(err)
	}
	cur := s.Current()
	if cur.Len() != 1 || values(cur, cur.AppendDomain(nil, "b.example", day(1))) != "mine/b.example" {
		t.Fatalf("reloaded index wrong: %d", cur.Len())
	}
	if _, err := ReadFeed(Source{Path: p}, 3); err == nil || !strings.Contains(err.Error(), "larger than 3 bytes") {
		t.Fatalf("size cap: %v", err)
	}
}

// synthetic returns n distinct indicators of mixed kinds, deterministic.
func synthetic(n int) *Feed {
	f := &Feed{Name: "synthetic"}
	for i := range n {
		var in Indicator
		j := i / 5
		switch i % 5 {
		case 0:
			in = Indicator{Kind: KindIP, Value: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()}
		case 1:
			in = Indicator{Kind: KindDomain, Value: fmt.Sprintf("host%d.bad%d.example", i, i%97)}
		case 2:
			in = Indicator{Kind: KindURL, Value: fmt.Sprintf("http://u%d.example/p/%d", i%1000, i)}
		case 3:
			in = Indicator{Kind: KindSHA256, Value: fmt.Sprintf("%064x", i)}
		case 4:
			in = Indicator{Kind: KindCIDR, Value: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(j >> 8), byte(j), 0}), 24).String()}
		}
		in.Feed, in.Confidence = f.Name, 0.5
		f.Indicators = append(f.Indicators, in)
	}
	return f
}

// TestIndexMemory measures the heap cost per indicator (reported in the package doc).
func TestIndexMemory(t *testing.T) {
	const n = 100_000
	f := synthetic(n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x, err := Build([]*Feed{f}, IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("index: %.0f bytes per indicator beyond the parsed values (%d indicators)", per, x.Len())
	if per > 600 {
		t.Errorf("index costs %.0f bytes per indicator, budget 600", per)
	}
	runtime.KeepAlive(x)
	runtime.KeepAlive(f)
}

func TestMatchAllocs(t *testing.T) {
	x, err := Build([]*Feed{synthetic(10_000)}, IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]int32, 0, 16)
	a := netip.MustParseAddr("10.0.0.5")
	allocs := testing.AllocsPerRun(100, func() {
		dst = x.AppendIP(dst[:0], a, day(1))
		dst = x.AppendDomain(dst[:0], "WWW.Host1.Bad1.Example", day(1))
		dst = x.AppendURL(dst[:0], "HTTP://u2.example:80/p/2", day(1))
		dst = x.AppendURLParts(dst[:0], "", "U2.example:080", "/p/2", day(1))
		dst = x.AppendURL(dst[:0], "http://[2001:DB8:0::1]:8080/p", day(1))
		dst = x.AppendHash(dst[:0], fmt.Sprintf("%064x", 3)[:64], day(1))
	})
	_ = slices.Clone(dst)
	if allocs > 1 { // the Sprintf in the loop
		t.Errorf("%.1f allocations per lookup round, want none from the index", allocs)
	}
}
