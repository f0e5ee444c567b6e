package ioc

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/enrich/intel"
	"github.com/vigilsec/vigil/internal/event"
)

// syntheticIndex builds n distinct indicators of mixed kinds (ip, cidr, domain, url,
// sha256) in the ranges benignBatch avoids, plus a few the batch does hit.
func syntheticIndex(t testing.TB, n int) *intel.Index {
	t.Helper()
	f := &intel.Feed{Name: "synthetic"}
	for i := range n {
		j := i / 5
		var in intel.Indicator
		switch i % 5 {
		case 0:
			in = intel.Indicator{Kind: intel.KindIP, Value: netip.AddrFrom4([4]byte{100, byte(j >> 16), byte(j >> 8), byte(j)}).String()}
		case 1:
			in = intel.Indicator{Kind: intel.KindDomain, Value: fmt.Sprintf("h%d.bad%d.example", j, j%97)}
		case 2:
			in = intel.Indicator{Kind: intel.KindURL, Value: fmt.Sprintf("http://u%d.example/p/%d", j%1000, j)}
		case 3:
			in = intel.Indicator{Kind: intel.KindSHA256, Value: fmt.Sprintf("%064x", j)}
		case 4:
			in = intel.Indicator{Kind: intel.KindCIDR, Value: netip.PrefixFrom(netip.AddrFrom4([4]byte{101, byte(j >> 8), byte(j), 0}), 24).String()}
		}
		in.Confidence = 0.7
		f.Indicators = append(f.Indicators, in)
	}
	x, err := intel.Build([]*intel.Feed{f}, intel.IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// benignBatch is a mix of connection, DNS, HTTP and process events that match nothing.
func benignBatch(n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		e := &event.Event{Timestamp: ts, Origin: event.Origin{Source: "bench", Offset: int64(i)}}
		e.SetIP(event.SourceIP, netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}))
		e.SetIP(event.DestinationIP, netip.AddrFrom4([4]byte{93, 184, byte(i >> 8), byte(i)}))
		switch i % 4 {
		case 0:
			e.SetStr(event.DNSQuestionName, fmt.Sprintf("Host%d.Corp.Example.COM", i))
		case 1:
			e.SetStr(event.URLDomain, fmt.Sprintf("cdn%d.example.net", i))
			e.SetStr(event.URLOriginal, fmt.Sprintf("/assets/%d.js?v=3", i))
			e.SetStr(event.TLSServerName, fmt.Sprintf("cdn%d.example.net", i))
		case 2:
			e.SetStr(event.URLFull, fmt.Sprintf("https://www.example.org:443/search?q=%d", i))
		case 3:
			e.SetStr(event.ProcessHashSHA256, fmt.Sprintf("%064x", 1<<40+i))
			e.SetStr(event.ProcessHashMD5, fmt.Sprintf("%032x", i))
		}
		out[i] = e
	}
	return out
}

// BenchmarkDetect runs non-matching events through the detector with 100,000
// indicators; one in 1,000 events of the second benchmark matches.
func BenchmarkDetect(b *testing.B) {
	s := intel.NewStore(intel.StoreOptions{})
	s.Swap(syntheticIndex(b, 100_000))
	d := New(s, Options{})
	batch := benignBatch(1024)
	ctx := context.Background()
	for _, withHits := range []bool{false, true} {
		name := "nomatch"
		if withHits {
			name = "match1in1000"
			batch[0].SetStr(event.DNSQuestionName, "www.h7.bad7.example")
		}
		b.Run(name, func(b *testing.B) {
			signals := 0
			emit := func(detect.Signal) { signals++ }
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Detect(ctx, batch, emit); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
			if withHits && signals == 0 {
				b.Fatal("no signal from the matching event")
			}
		})
	}
}
