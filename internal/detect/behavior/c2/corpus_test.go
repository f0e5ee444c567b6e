package c2

import (
	"compress/gzip"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/zeek"
	"github.com/vigilsec/vigil/internal/event"
)

// corpusLogs holds the records of the RITA "missing host" capture mapped to the
// tracker's inputs, in the order Zeek wrote them.
type corpusLogs struct {
	conns []Conn
	http  []HTTPRequest
	end   time.Time // last event time
}

var keyDuration = event.MakeKey("duration")

// loadRITA decodes the conn, open_conn, http and ssl logs of the given days with
// the project's Zeek decoder and joins the HTTP Host / TLS SNI onto connections
// by uid.
func loadRITA(t testing.TB, days ...string) *corpusLogs {
	t.Helper()
	root := decodetest.Corpora(t, "zeek/rita-missing-host")
	var files []string
	for _, d := range days {
		for _, lt := range []string{"conn", "open_conn", "http", "ssl"} {
			fs, err := filepath.Glob(filepath.Join(root, d, lt+".*.log.gz"))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, fs...)
		}
	}
	if len(files) != 4*24*len(days) {
		t.Fatalf("found %d log files for %v, want %d", len(files), days, 4*24*len(days))
	}
	type rec struct {
		c     Conn
		write time.Time
	}
	var recs []rec
	hosts := map[string]string{}
	out := &corpusLogs{}
	for _, f := range files {
		base := filepath.Base(f)
		s, err := decodetest.Decode(t, zeek.NewTSV(), base, gunzip(t, f))
		if err != nil {
			t.Fatalf("decoding %s: %v", base, err)
		}
		if len(s.Rejects) > 0 {
			t.Fatalf("%s: %d rejects, first %v", base, len(s.Rejects), s.Rejects[0])
		}
		for _, e := range s.Events {
			switch e.Str(event.EventDataset) {
			case "zeek.conn", "zeek.open_conn":
				c := Conn{
					Time: e.Timestamp, Src: e.IP(event.SourceIP), Dst: e.IP(event.DestinationIP),
					Proto: e.Str(event.NetworkTransport), UID: e.Str(event.EventID),
					Open: e.Str(event.EventDataset) == "zeek.open_conn",
				}
				if p, ok := e.Num(event.DestinationPort); ok {
					c.DstPort = uint16(p)
				}
				c.OrigBytes, _ = e.Num(event.SourceBytes)
				c.RespBytes, _ = e.Num(event.DestinationBytes)
				if ns, ok := e.Num(event.EventDurationNS); ok {
					c.Duration = time.Duration(ns)
				} else if v, ok := e.RawValue(keyDuration); ok {
					// open_conn.log is not normalized like conn.log: read the raw column.
					if sec, err := strconv.ParseFloat(v, 64); err == nil {
						c.Duration = time.Duration(sec * float64(time.Second))
					}
				}
				recs = append(recs, rec{c, c.Time.Add(c.Duration)})
			case "zeek.http":
				hosts[e.Str(event.EventID)] = e.Str(event.URLDomain)
				out.http = append(out.http, HTTPRequest{
					Time: e.Timestamp, Src: e.IP(event.SourceIP), Dst: e.IP(event.DestinationIP),
					Host: e.Str(event.URLDomain), UserAgent: e.Str(event.UserAgentOriginal),
					Method: e.Str(event.HTTPRequestMethod), URI: e.Str(event.URLOriginal), EventID: e.Str(event.EventID),
				})
			case "zeek.ssl":
				if sni := e.Str(event.TLSServerName); sni != "" {
					hosts[e.Str(event.EventID)] = sni
				}
			}
		}
	}
	// Zeek writes a connection when it ends (open_conn when the log rotates).
	slices.SortStableFunc(recs, func(a, b rec) int { return a.write.Compare(b.write) })
	for _, r := range recs {
		r.c.Host = hosts[r.c.UID]
		out.conns = append(out.conns, r.c)
		if r.write.After(out.end) {
			out.end = r.write
		}
	}
	slices.SortStableFunc(out.http, func(a, b HTTPRequest) int { return a.Time.Compare(b.Time) })
	return out
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

func feed(t testing.TB, tr *Tracker, l *corpusLogs) {
	t.Helper()
	for _, c := range l.conns {
		if err := tr.Observe(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range l.http {
		if err := tr.ObserveHTTP(r); err != nil {
			t.Fatal(err)
		}
	}
}

func ofKind(fs []Finding, k Kind) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Kind == k {
			out = append(out, f)
		}
	}
	return out
}

// TestRITAMissingHost: the known answers of RITA's "missing host" sample
// (README of the corpus folder): the HTTP beacon from 73.54.23.243 to
// 64.225.56.201 every 200-350 s is the top beacon, the SSH session open the
// whole time is the top long connection, and the "Modzilla/0.0001 (Atari 7800)"
// agent with a blank Host header is the top rare user agent.
func TestRITAMissingHost(t *testing.T) {
	days := []string{"2024-04-19", "2024-04-20", "2024-04-21"}
	if raceEnabled {
		days = days[2:]
	}
	l := loadRITA(t, days...)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		// RITA's default internal subnets: every host here is public, so no
		// prevalence population and no prevalence modifier.
		{"default", Config{}},
		// The README: "The zeek sensor was running on 64.225.56.201": the
		// monitored network is that one host, a population of one.
		{"sensor internal", Config{Internal: []netip.Prefix{netip.MustParsePrefix("64.225.56.201/32")}}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkRITA(t, l, tc.cfg) })
	}
}

func checkRITA(t *testing.T, l *corpusLogs, cfg Config) {
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, tr, l)
	fs := tr.Evaluate(l.end)
	for i, f := range fs[:min(len(fs), 12)] {
		t.Logf("%2d %-16s %.3f conf %.2f  %s", i+1, f.Kind, f.Score, f.Confidence, f.Summary)
	}

	beacons := ofKind(fs, KindBeacon)
	if len(beacons) == 0 {
		t.Fatal("no beacons")
	}
	b := beacons[0]
	if b.Src.String() != "73.54.23.243" || b.Dst.String() != "64.225.56.201" || b.DstPort != 80 {
		t.Errorf("top beacon %s -> %s:%d, want 73.54.23.243 -> 64.225.56.201:80", b.Src, b.Dst, b.DstPort)
	}
	// The README's 200-350 s jitter: the median interval sits inside it.
	if b.MedianInterval < 200*time.Second || b.MedianInterval > 350*time.Second {
		t.Errorf("beacon median interval %v, want within 200-350 s", b.MedianInterval)
	}
	if b.BlankHostRequests == 0 || b.MissingHostModifier == 0 {
		t.Errorf("beacon blank Host requests %d, modifier %v: want flagged", b.BlankHostRequests, b.MissingHostModifier)
	}
	if len(b.Evidence) == 0 || b.Confidence < 0.9 {
		t.Errorf("beacon evidence %v confidence %v", b.Evidence, b.Confidence)
	}

	longs := ofKind(fs, KindLongConnection)
	if len(longs) == 0 {
		t.Fatal("no long connections")
	}
	lc := longs[0]
	if lc.Src.String() != "73.54.23.243" || lc.DstPort != 22 || !slices.Contains(lc.Evidence, "C3ZW8c1wDLCz4w18d8") {
		t.Errorf("top long connection %s -> %s:%d %v, want the SSH session C3ZW8c1wDLCz4w18d8", lc.Src, lc.Dst, lc.DstPort, lc.Evidence)
	}
	if lc.OpenDuration < 24*time.Hour {
		t.Errorf("SSH session open for %v, want more than a day", lc.OpenDuration)
	}

	uas := ofKind(fs, KindRareUserAgent)
	if len(uas) == 0 {
		t.Fatal("no rare user agents")
	}
	u := uas[0]
	if u.UserAgent != "Modzilla/0.0001 (Atari 7800)" || u.BlankHostRequests != u.Requests || u.Src.String() != "73.54.23.243" {
		t.Errorf("top rare user agent %q from %v, %d of %d blank Host; want Modzilla from 73.54.23.243, all blank",
			u.UserAgent, u.UAHosts, u.BlankHostRequests, u.Requests)
	}
	if !strings.Contains(u.Summary, "blank Host") {
		t.Errorf("summary %q does not mention the blank Host header", u.Summary)
	}
}
