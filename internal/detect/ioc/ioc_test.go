package ioc

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/enrich/intel"
	"github.com/vigilsec/vigil/internal/event"
)

// fixtures are the intel package's feed fixtures: one of each format.
var fixtures = []string{"plain.txt", "feed.csv", "urlhaus.csv", "bundle.stix.json", "event.misp.json"}

func loadFixtures(t testing.TB) *intel.Store {
	t.Helper()
	var srcs []intel.Source
	for _, f := range fixtures {
		srcs = append(srcs, intel.Source{Path: filepath.Join("..", "..", "enrich", "intel", "testdata", f)})
	}
	s := intel.NewStore(intel.StoreOptions{})
	if _, err := s.Load(srcs); err != nil {
		t.Fatal(err)
	}
	return s
}

var ts = time.Date(2024, 3, 15, 12, 0, 0, 0, time.UTC)

type ev struct {
	str map[event.StrField]string
	ip  map[event.IPField]string
	rel []string // related.ip
	at  time.Time
}

func (x ev) build(n int) *event.Event {
	e := &event.Event{Timestamp: ts, Origin: event.Origin{Source: "test", Offset: int64(n)}}
	if !x.at.IsZero() {
		e.Timestamp = x.at
	}
	for f, v := range x.str {
		e.SetStr(f, v)
	}
	for f, v := range x.ip {
		e.SetIP(f, netip.MustParseAddr(v))
	}
	for _, v := range x.rel {
		e.AddRelatedIP(netip.MustParseAddr(v))
	}
	return e
}

func run(t *testing.T, d *Detector, events ...*event.Event) []detect.Signal {
	t.Helper()
	var out []detect.Signal
	if err := d.Detect(context.Background(), events, func(s detect.Signal) { out = append(out, s) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// brief renders a signal as "rule value@field[,field] sev feed".
func brief(s detect.Signal) string {
	var fields []string
	for _, m := range s.Explanation.Matches {
		fields = append(fields, m.Field)
	}
	feed := ""
	for _, f := range s.Explanation.Features {
		if f.Name == "feed" {
			feed = f.Observed
		}
	}
	return fmt.Sprintf("%s %s@%s %s %s", s.RuleID, s.Explanation.Matches[0].Value, strings.Join(fields, ","), s.Severity, feed)
}

func TestDetect(t *testing.T) {
	d := New(loadFixtures(t), Options{})
	for _, tc := range []struct {
		name string
		ev   ev
		want []string
	}{
		{"nothing", ev{ip: map[event.IPField]string{event.SourceIP: "10.0.0.1", event.DestinationIP: "8.8.8.8"}, str: map[event.StrField]string{event.DNSQuestionName: "www.example.org"}}, nil},
		{"exact ip, csv window", ev{ip: map[event.IPField]string{event.SourceIP: "10.0.0.1", event.DestinationIP: "198.51.100.8"}},
			[]string{"ioc.ip 198.51.100.8@destination.ip critical feed.csv"}},
		{"csv window expired", ev{ip: map[event.IPField]string{event.DestinationIP: "198.51.100.8"}, at: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)}, nil},
		{"cidr plain list", ev{ip: map[event.IPField]string{event.DestinationIP: "203.0.113.99"}},
			[]string{"ioc.cidr 203.0.113.99@destination.ip medium plain.txt"}},
		{"ipv6 prefix", ev{ip: map[event.IPField]string{event.SourceIP: "2001:db8:bad:1::1"}},
			[]string{"ioc.cidr 2001:db8:bad:1::1@source.ip medium plain.txt"}},
		{"related ip only", ev{rel: []string{"198.51.100.20"}},
			[]string{"ioc.ip 198.51.100.20@related.ip high event.misp.json"}}, // threat level 1: 0.9
		{"subdomain via dns, stix window", ev{str: map[event.StrField]string{event.DNSQuestionName: "X.CS.Evil.Example."}},
			[]string{"ioc.domain X.CS.Evil.Example.@dns.question.name critical bundle.stix.json"}}, // most specific: cs.evil.example, not plain evil.example
		{"stix before valid_from", ev{str: map[event.StrField]string{event.DNSQuestionName: "cs.evil.example"}, at: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
			[]string{"ioc.domain cs.evil.example@dns.question.name medium plain.txt"}},
		{"revoked stix", ev{str: map[event.StrField]string{event.TLSServerName: "revoked.example"}}, nil},
		{"sni and destination.domain, one signal", ev{str: map[event.StrField]string{event.TLSServerName: "emotet.evil.example", event.DestinationDomain: "emotet.evil.example"}},
			[]string{"ioc.domain emotet.evil.example@destination.domain,tls.client.server_name high event.misp.json"}},
		{"url full normalised", ev{str: map[event.StrField]string{event.URLFull: "HTTPS://login.EVIL.example:443/o365?x=1#a"}},
			[]string{"ioc.domain login.EVIL.example@url.full medium plain.txt", "ioc.url HTTPS://login.EVIL.example:443/o365?x=1#a@url.full low bundle.stix.json"}},
		{"url parts from http log", ev{str: map[event.StrField]string{event.URLDomain: "drop.evil.example", event.URLOriginal: "/wp-content/x.php"}},
			[]string{"ioc.domain drop.evil.example@url.domain high event.misp.json", "ioc.url /wp-content/x.php@url.original high event.misp.json"}},
		{"url host ip", ev{str: map[event.StrField]string{event.URLFull: "http://198.51.100.7/x"}},
			[]string{"ioc.ip 198.51.100.7@url.full medium plain.txt"}},
		{"hashes", ev{str: map[event.StrField]string{event.ProcessHashSHA256: "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", event.ProcessHashMD5: "44d88612fea8a8f36de82e1278abb02f"}},
			[]string{"ioc.md5 44d88612fea8a8f36de82e1278abb02f@process.hash.md5 medium plain.txt", "ioc.sha256 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855@process.hash.sha256 high feed.csv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range run(t, d, tc.ev.build(1)) {
				got = append(got, brief(s))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestSignalShape(t *testing.T) {
	d := New(loadFixtures(t), Options{})
	e := ev{str: map[event.StrField]string{event.DNSQuestionName: "a.cs.evil.example", event.UserName: "alice", event.HostName: "ws-1"},
		ip: map[event.IPField]string{event.SourceIP: "10.0.0.5", event.DestinationIP: "198.51.100.9"}}.build(7)
	sigs := run(t, d, e)
	if len(sigs) != 2 { // ip (stix), domain (stix cs.evil.example, more specific than plain evil.example)
		t.Fatalf("%d signals, want 2: %v", len(sigs), sigs)
	}
	ids := map[string]bool{}
	for _, s := range sigs {
		ids[s.ID] = true
		if s.Entities[0].Kind != detect.EntityIP && s.Entities[0].Kind != detect.EntityDomain {
			t.Errorf("first entity %v", s.Entities[0])
		}
		if !strings.Contains(s.Explanation.Summary, "from feed") || len(s.Evidence) != 1 || s.Time != ts {
			t.Errorf("signal %+v", s)
		}
	}
	if len(ids) != 2 {
		t.Errorf("signal ids not distinct: %v", ids)
	}
	s := sigs[0]
	if s.RuleID != "ioc.ip" || s.Confidence != 0.85 || s.Severity != detect.SeverityCritical ||
		!slices.Equal(s.Tactics, []string{"command-and-control"}) || s.Entities[0].Value != "198.51.100.9" {
		t.Errorf("stix ip signal: %+v", s)
	}
	if sigs[1].Entities[0] != (detect.Entity{Kind: detect.EntityDomain, Value: "a.cs.evil.example"}) {
		t.Errorf("domain entity %v", sigs[1].Entities[0])
	}
	// Replaying gives the same ids.
	again := run(t, d, e)
	for i := range again {
		if again[i].ID != sigs[i].ID {
			t.Errorf("replay id %d differs", i)
		}
	}
}

func TestSeverity(t *testing.T) {
	for _, tc := range []struct {
		conf   float64
		labels []string
		want   detect.Severity
	}{
		{0.9, nil, detect.SeverityHigh},
		{0.9, []string{"c2"}, detect.SeverityCritical},
		{0.6, nil, detect.SeverityMedium},
		{0.6, []string{"ransomware"}, detect.SeverityHigh},
		{0.3, nil, detect.SeverityLow},
		{0.1, nil, detect.SeverityInfo},
		{0.95, []string{"tor"}, detect.SeverityLow},
		{0.95, []string{"c2", "scanner"}, detect.SeverityLow},
	} {
		if got := Severity(tc.conf, tc.labels); got != tc.want {
			t.Errorf("Severity(%v, %v) = %v, want %v", tc.conf, tc.labels, got, tc.want)
		}
	}
}

func TestReloadBetweenBatches(t *testing.T) {
	s := intel.NewStore(intel.StoreOptions{})
	d := New(s, Options{})
	e := ev{str: map[event.StrField]string{event.DNSQuestionName: "new.example"}}.build(1)
	if n := len(run(t, d, e)); n != 0 {
		t.Fatalf("empty store: %d signals", n)
	}
	x, err := intel.Build([]*intel.Feed{{Name: "f", Indicators: []intel.Indicator{{Kind: intel.KindDomain, Value: "new.example", Confidence: -1}}}}, intel.IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Swap(x)
	if n := len(run(t, d, e)); n != 1 {
		t.Fatalf("after swap: %d signals", n)
	}
}

func TestNoMatchAllocs(t *testing.T) {
	s := intel.NewStore(intel.StoreOptions{})
	s.Swap(syntheticIndex(t, 100_000))
	d := New(s, Options{})
	batch := benignBatch(256)
	emit := func(detect.Signal) { t.Fatal("unexpected signal") }
	ctx := context.Background()
	allocs := testing.AllocsPerRun(20, func() {
		if err := d.Detect(ctx, batch, emit); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 { // the per-batch matcher and its scratch slices
		t.Errorf("%.0f allocations per batch of %d non-matching events", allocs, len(batch))
	}
}

// TestConcurrentReload runs Detect from several goroutines while the index is
// swapped (run with -race): each batch sees one whole index.
func TestConcurrentReload(t *testing.T) {
	s := intel.NewStore(intel.StoreOptions{})
	d := New(s, Options{})
	small, big := syntheticIndex(t, 10), syntheticIndex(t, 1000)
	batch := benignBatch(64)
	batch[0].SetStr(event.DNSQuestionName, "h1.bad1.example") // in big only (j=1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if i%2 == 0 {
				s.Swap(small)
			} else {
				s.Swap(big)
			}
		}
	}()
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			var err error
			for range 50 {
				if err = d.Detect(context.Background(), batch, func(detect.Signal) {}); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	<-done
}

// TestURLOriginalCarryingURL: an HTTP log's relative url.original whose query holds
// another URL (an open redirect, "/r?to=http://...") is matched in parts with
// url.domain; it was taken for an absolute URL because it contains "://" and
// matched nothing (FuzzDetectParsed finding, seed 5f1ad43fab2c87b5), and its
// embedded host was looked up as if it were the request's.
func TestURLOriginalCarryingURL(t *testing.T) {
	feed, err := intel.ParsePlain("p", strings.NewReader("http://a.example/r?to=http://b.example/\nb.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := intel.Build([]*intel.Feed{feed}, intel.IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := intel.NewStore(intel.StoreOptions{})
	s.Swap(x)
	d := New(s, Options{})
	for _, tc := range []struct {
		name string
		ev   ev
		want []string
	}{
		{"relative with url.domain", ev{str: map[event.StrField]string{event.URLDomain: "A.example", event.URLOriginal: "/r?to=http://b.example/"}},
			[]string{"ioc.url /r?to=http://b.example/@url.original medium p"}},
		{"relative without url.domain", ev{str: map[event.StrField]string{event.URLOriginal: "/r?to=http://b.example/"}}, nil},
		{"absolute", ev{str: map[event.StrField]string{event.URLOriginal: "http://a.example/r?to=http://b.example/"}},
			[]string{"ioc.url http://a.example/r?to=http://b.example/@url.original medium p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range run(t, d, tc.ev.build(1)) {
				got = append(got, brief(s))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
