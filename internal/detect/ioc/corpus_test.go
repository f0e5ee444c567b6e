package ioc

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/zeek"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/enrich/intel"
	"github.com/vigilsec/vigil/internal/event"
)

// TestRITABeaconIOC is a known-answer test on real Zeek logs: the RITA "missing host"
// capture's README names the beaconing host 73.54.23.243 (HTTP every 200-350 s to the
// sensor 64.225.56.201, which is in every log line, with the UA "Modzilla/0.0001
// (Atari 7800)"; 317 requests on 2024-04-19). A one-line feed naming the beacon's
// address must flag exactly those 317 HTTP requests, and in conn.log exactly the
// connections whose log line names the address (counted on the raw text).
func TestRITABeaconIOC(t *testing.T) {
	dir := decodetest.Corpora(t, "zeek/rita-missing-host/2024-04-19")
	feed, err := intel.ParsePlain("rita-readme", strings.NewReader("# beacon host from the capture's README\n73.54.23.243\n"))
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
		glob string
		want int // -1: the raw line count
	}{{"http.*.log.gz", 317}, {"conn.*.log.gz", -1}} {
		files, err := filepath.Glob(filepath.Join(dir, tc.glob))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %d files, %v", tc.glob, len(files), err)
		}
		signals, raw, modzilla := 0, 0, 0
		for _, f := range files {
			data := gunzip(t, f)
			for line := range bytes.SplitSeq(data, []byte("\n")) {
				if !bytes.HasPrefix(line, []byte("#")) && bytes.Contains(line, []byte("\t73.54.23.243\t")) {
					raw++
				}
			}
			sink, err := decodetest.Decode(t, zeek.NewTSV(), filepath.Base(f), data)
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]*event.Event{}
			for _, e := range sink.Events {
				byID[e.ID()] = e
			}
			err = d.Detect(context.Background(), sink.Events, func(sig detect.Signal) {
				signals++
				if sig.Entities[0].Value != "73.54.23.243" || sig.RuleID != "ioc.ip" {
					t.Errorf("signal on %v", sig.Entities[0])
				}
				if e := byID[sig.Evidence[0].EventID]; e != nil && e.Str(event.UserAgentOriginal) == "Modzilla/0.0001 (Atari 7800)" {
					modzilla++
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		want := tc.want
		if want < 0 {
			want = raw
		}
		t.Logf("%s: %d signals, %d raw lines naming the beacon host, %d with the beacon UA", tc.glob, signals, raw, modzilla)
		if signals != want || signals != raw || signals == 0 {
			t.Errorf("%s: %d signals, want %d (raw lines %d)", tc.glob, signals, want, raw)
		}
		if tc.want == 317 && modzilla != 317 {
			t.Errorf("%d of the HTTP signals carry the beacon UA, want 317", modzilla)
		}
	}
}

func gunzip(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return b
}
