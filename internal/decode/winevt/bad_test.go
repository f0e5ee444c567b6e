package winevt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
)

const (
	goodDump = `{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-05-02T10:11:12.345Z"}},"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"WS01"},"EventData":{"Image":"C:\\a.exe"}}}`
	goodWLB  = `{"@timestamp":"2024-05-02T10:11:12.345Z","winlog":{"channel":"Security","event_id":"4624","computer_name":"DC01","provider_name":"Microsoft-Windows-Security-Auditing","event_data":{"TargetUserName":"alice"}}}`
	goodFlat = `{"@timestamp":"2024-05-02T10:11:12.345Z","EventID":4688,"Channel":"Security","Hostname":"WS01","SourceName":"Microsoft-Windows-Security-Auditing","NewProcessName":"C:\\a.exe"}`
)

func TestBadInput(t *testing.T) {
	huge := `{"EventID":1,"x":"` + strings.Repeat("A", 5000) + `"}`
	for _, tc := range []struct {
		name    string
		dec     *Decoder
		good    string
		bad     string
		reasons map[string]int
	}{
		{"dump-garbage", NewEvtxDump(), goodDump, "this is not json", map[string]int{decode.ReasonMalformed: 1}},
		{"dump-broken-object", NewEvtxDump(), goodDump, `{"Event":{"System":}`, map[string]int{decode.ReasonMalformed: 1}},
		{"dump-no-system", NewEvtxDump(), goodDump, `{"Event":{"EventData":{"a":1}}}`, map[string]int{decode.ReasonMissingField: 1}},
		{"dump-no-eventid", NewEvtxDump(), goodDump, `{"Event":{"System":{"Channel":"x","TimeCreated":{"#attributes":{"SystemTime":"2024-05-02T10:11:12Z"}}}}}`, map[string]int{decode.ReasonMissingField: 1}},
		{"dump-bad-time", NewEvtxDump(), goodDump, `{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"yesterday"}}}}}`, map[string]int{decode.ReasonBadTimestamp: 1}},
		{"dump-no-time", NewEvtxDump(), goodDump, `{"Event":{"System":{"EventID":1}}}`, map[string]int{decode.ReasonBadTimestamp: 1}},
		{"dump-1601", NewEvtxDump(), goodDump, `{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"1601-01-01T00:00:00Z"}}}}}`, map[string]int{decode.ReasonBadTimestamp: 1}},
		{"dump-not-object", NewEvtxDump(), goodDump, `{"Event":{"System":[1,2]}}`, map[string]int{decode.ReasonMissingField: 1}},
		{"wlb-no-winlog", NewWinlogbeat(), goodWLB, `{"@timestamp":"2024-05-02T10:11:12Z","message":"x"}`, map[string]int{decode.ReasonMissingField: 1}},
		{"wlb-bad-time", NewWinlogbeat(), goodWLB, `{"@timestamp":"2024-13-45","winlog":{"event_id":1}}`, map[string]int{decode.ReasonBadTimestamp: 1}},
		{"wlb-truncated", NewWinlogbeat(), goodWLB, `{"@timestamp":"2024-05-02T10:11:12Z","winlog":{"event_id":1`, map[string]int{decode.ReasonMalformed: 1}},
		{"flat-no-eventid", NewFlat(), goodFlat, `{"@timestamp":"2024-05-02T10:11:12Z","Channel":"Security"}`, map[string]int{decode.ReasonMissingField: 1}},
		{"flat-null-time", NewFlat(), goodFlat, `{"@timestamp":null,"EventID":1}`, map[string]int{decode.ReasonBadTimestamp: 1}},
		{"flat-array-record", NewFlat(), goodFlat, `[1,2,3]`, map[string]int{decode.ReasonMalformed: 1}},
		{"flat-huge-line", NewFlat(), goodFlat, huge, map[string]int{decode.ReasonLineTooLong: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.good + "\n" + tc.bad + "\n" + tc.good + "\n"
			s := &decodetest.Sink{}
			err := tc.dec.Decode(context.Background(), decode.Input{R: strings.NewReader(data), Source: "bad",
				Limits: decode.Limits{MaxLine: 4096, MaxRecord: 4096}}, s)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(s.Events) != 2 {
				t.Errorf("%d events around the bad record, want 2; rejects %v", len(s.Events), s.Rejects)
			}
			got := s.Reasons()
			for r, n := range tc.reasons {
				if got[r] != n {
					t.Errorf("reasons %v, want %v", got, tc.reasons)
				}
			}
			for _, r := range s.Rejects {
				if r.Format != tc.dec.shape.id() || r.Source != "bad" || r.Line == 0 || r.Err == nil {
					t.Errorf("reject lacks location or cause: %+v", r)
				}
			}
		})
	}
}

func TestPrettyTruncated(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "cross_evtxdump.json"))
	if err != nil {
		t.Fatal(err)
	}
	data := append(good[:len(good):len(good)], "{\n  \"Event\": {\n    \"System\": {\n"...)
	s, err := decodetest.Decode(t, NewEvtxDump(), "cut.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 2 || s.Reasons()[decode.ReasonTruncated] != 1 {
		t.Fatalf("%d events, reasons %v", len(s.Events), s.Reasons())
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewFlat().Decode(ctx, decode.Input{R: strings.NewReader(goodFlat + "\n"), Source: "x"}, &decodetest.Sink{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestReadError(t *testing.T) {
	err := NewEvtxDump().Decode(context.Background(), decode.Input{R: failReader{}, Source: "x"}, &decodetest.Sink{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
}

func TestSniff(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	inputs := map[string][]byte{
		FormatEvtxDump:   read("evtxdump_more.json"),
		FormatWinlogbeat: read("winlogbeat8.ndjson"),
		FormatFlat:       read("flat_otrf.ndjson"),
	}
	for id, head := range inputs {
		best, bestScore := "", 0
		for _, f := range Formats() {
			if s := f.Sniff(head); s > bestScore {
				best, bestScore = f.ID, s
			}
		}
		if best != id || bestScore < 60 {
			t.Errorf("%s sniffed as %s (%d)", id, best, bestScore)
		}
		// A head cut inside its first object (a record larger than the head) still scores.
		cut := head[:bytes.IndexByte(head[2:], '\n')-3]
		for _, f := range Formats() {
			if f.ID == id && f.Sniff(cut) < 50 {
				t.Errorf("%s: truncated head scores %d", id, f.Sniff(cut))
			}
		}
	}
	for _, junk := range [][]byte{nil, []byte("{"), []byte(`{"a":1}`), []byte("\xff\xfe"), bytes.Repeat([]byte("["), 100)} {
		for _, f := range Formats() {
			if s := f.Sniff(junk); s != 0 {
				t.Errorf("%s scores %d on %q", f.ID, s, junk)
			}
		}
	}
}
