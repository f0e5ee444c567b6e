package ioc

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/enrich/intel"
	"github.com/vigilsec/vigil/internal/event"
)

// validAt is an event time at which in applies.
func validAt(in *intel.Indicator) time.Time {
	switch {
	case !in.ValidFrom.IsZero():
		return in.ValidFrom
	case !in.ValidUntil.IsZero():
		return in.ValidUntil.Add(-time.Nanosecond)
	}
	return ts
}

// indicatorOf returns the "kind value" a signal names (its first feature).
func indicatorOf(s detect.Signal) string {
	if len(s.Explanation.Features) == 0 {
		return ""
	}
	return s.Explanation.Features[0].Observed
}

// FuzzDetectParsed parses its input as a feed of one of the four formats, indexes
// it, and checks that the detector flags an event carrying each indexed indicator,
// at a time the indicator is valid, with a signal naming that indicator: an address
// (or a prefix's first address) in destination.ip, a domain in dns.question.name, a
// URL in url.full and, without a port, in url.scheme/url.domain/url.original as
// HTTP logs split it, a hash in the process hash field of its length. A prefix may
// instead be reported through a more specific indexed prefix holding its address.
func FuzzDetectParsed(f *testing.F) {
	dir := filepath.Join("..", "..", "enrich", "intel", "testdata")
	for i, name := range []string{"plain.txt", "feed.csv", "bundle.stix.json", "event.misp.json", "urlhaus.csv", "threatfox.csv"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8([]int{0, 1, 2, 3, 1, 1}[i]), b)
	}
	f.Add(uint8(0), []byte("HTTP://[2001:DB8:0::1]:080/a?b#c\nhttps://x.example:8443/\n198.51.100.0/24\n198.51.100.7\n"))
	f.Fuzz(func(t *testing.T, format uint8, data []byte) {
		parse := [...]func(string, *bytes.Reader) (*intel.Feed, error){
			func(n string, r *bytes.Reader) (*intel.Feed, error) { return intel.ParsePlain(n, r) },
			func(n string, r *bytes.Reader) (*intel.Feed, error) { return intel.ParseCSV(n, r) },
			func(n string, r *bytes.Reader) (*intel.Feed, error) { return intel.ParseSTIX(n, r) },
			func(n string, r *bytes.Reader) (*intel.Feed, error) { return intel.ParseMISP(n, r) },
		}[format%4]
		fd, _ := parse("fuzz", bytes.NewReader(data))
		if fd == nil {
			t.Fatal("parser returned no feed")
		}
		x, err := intel.Build([]*intel.Feed{fd}, intel.IndexOptions{})
		if err != nil {
			t.Fatalf("building the parsed feed: %v", err)
		}
		s := intel.NewStore(intel.StoreOptions{})
		s.Swap(x)
		d := New(s, Options{})
		for id := range int32(x.Len()) {
			in := x.Indicator(id)
			self := in.Kind.String() + " " + in.Value
			e := &event.Event{Timestamp: validAt(in), Origin: event.Origin{Source: "fuzz", Offset: int64(id)}}
			var parts *event.Event
			var addr netip.Addr
			switch in.Kind {
			case intel.KindIP, intel.KindCIDR:
				p, err := netip.ParsePrefix(in.Value)
				if err != nil {
					a, err2 := netip.ParseAddr(in.Value)
					if err2 != nil {
						t.Fatalf("indexed %s: %v", self, err)
					}
					p = netip.PrefixFrom(a, a.BitLen())
				}
				addr = p.Addr()
				e.SetIP(event.DestinationIP, addr)
			case intel.KindDomain:
				e.SetStr(event.DNSQuestionName, in.Value)
			case intel.KindURL:
				e.SetStr(event.URLFull, in.Value)
				scheme, rest, _ := strings.Cut(in.Value, "://")
				if i := strings.IndexByte(rest, '/'); i > 0 {
					host := rest[:i]
					if j := strings.LastIndexByte(host, ':'); j <= strings.LastIndexByte(host, ']') { // no port
						parts = &event.Event{Timestamp: e.Timestamp, Origin: event.Origin{Source: "fuzz-parts", Offset: int64(id)}}
						parts.SetStr(event.URLScheme, scheme)
						parts.SetStr(event.URLDomain, host)
						parts.SetStr(event.URLOriginal, rest[i:])
					}
				}
			case intel.KindMD5:
				e.SetStr(event.ProcessHashMD5, in.Value)
			case intel.KindSHA1:
				e.SetStr(event.ProcessHashSHA1, in.Value)
			case intel.KindSHA256:
				e.SetStr(event.ProcessHashSHA256, in.Value)
			}
			for _, ev := range []*event.Event{e, parts} {
				if ev == nil {
					continue
				}
				sigs := run(t, d, ev)
				found := false
				for _, sg := range sigs {
					if indicatorOf(sg) != self {
						continue
					}
					found = true
					want := in.Value
					if addr.IsValid() {
						want = addr.String()
					}
					if sg.Entities[0].Value != want || !sg.Time.Equal(ev.Timestamp) {
						t.Fatalf("%s: signal entity %v at %v, want %q at %v", self, sg.Entities[0], sg.Time, want, ev.Timestamp)
					}
				}
				if found {
					continue
				}
				if in.Kind == intel.KindCIDR {
					p := netip.MustParsePrefix(in.Value)
					for _, sg := range sigs { // a more specific prefix of the feed may answer instead
						_, v, _ := strings.Cut(indicatorOf(sg), " ")
						q, err := netip.ParsePrefix(v)
						if err != nil {
							a, err := netip.ParseAddr(v)
							if err != nil {
								continue
							}
							q = netip.PrefixFrom(a, a.BitLen())
						}
						if q.Bits() > p.Bits() && q.Contains(addr) {
							found = true
						}
					}
				}
				if !found {
					var got []string
					for _, sg := range sigs {
						got = append(got, indicatorOf(sg))
					}
					t.Fatalf("event carrying %s (%s) at %v: no signal naming it; got %q", self, ev.Origin.Source, ev.Timestamp, got)
				}
			}
		}
	})
}
