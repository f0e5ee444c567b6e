package eval

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/detect"
)

const goodTruth = `{
  "version": 1, "generator": "test", "seed": 1,
  "start": "2026-01-05T00:00:00Z", "end": "2026-01-19T00:00:00Z",
  "campaigns": [{"id": "c1", "name": "spray", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T20:00:00Z",
    "techniques": ["T1110.003"], "entities": [{"kind": "user", "value": "alice@corp.example"}],
    "events": [{"file": "windows/security.json", "offset": 10, "line": 2, "time": "2026-01-05T10:00:00Z", "technique": "T1110.003"}]}],
  "benign": [{"id": "b1", "kind": "new_laptop", "start": "2026-01-06T00:00:00Z", "end": "2026-01-06T01:00:00Z", "entities": []}]
}`

func TestParseTruth(t *testing.T) {
	tr, err := ParseTruth([]byte(goodTruth), "t.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Campaigns) != 1 || tr.Campaigns[0].Events[0].Offset != 10 || tr.Seed != "1" || tr.Benign[0].Kind != "new_laptop" {
		t.Errorf("%+v", tr)
	}
	bad := []struct{ in, want string }{
		{"", "line 1"},
		{"{\n\"version\": 1,\n\"campaigns\": 3}", "t.json: line 3"},
		{`{"version": 2}`, "version 2"},
		{`{"version": 1, "campaign": []}`, "unknown field"},
		{`{"version": 1} {}`, "data after"},
		{`{"version": 1, "campaigns": [{"id": "c", "start": "2026-01-05T10:00:00Z"}]}`, "missing start or end"},
		{`{"version": 1, "campaigns": [{"id": "c", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T09:00:00Z"}]}`, "end is before start"},
		{`{"version": 1, "campaigns": [{"id": "c", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T11:00:00Z"}, {"id": "c", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T11:00:00Z"}]}`, "duplicate id"},
		{`{"version": 1, "campaigns": [{"id": "c", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T11:00:00Z", "events": [{"file": "f", "offset": -1}]}]}`, "negative offset"},
		{`{"version": 1, "campaigns": [{"id": "c", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T11:00:00Z", "entities": [{"kind": "user"}]}]}`, "kind and value"},
		{`{"version": 1, "campaigns": [{"id": "c", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T11:00:00Z", "entities": [{"kind": "user", "value": "a@b", "aliases": ["CORP\\a", " "]}]}]}`, "entities[0]: aliases[1] is empty"},
		{`{"version": 1, "start": "yesterday"}`, "line 1"},
	}
	for _, b := range bad {
		_, err := ParseTruth([]byte(b.in), "t.json")
		if err == nil || !strings.Contains(err.Error(), b.want) || !strings.Contains(err.Error(), "t.json") {
			t.Errorf("%q: error %v, want %q", b.in, err, b.want)
		}
	}
	if _, err := ReadTruth(strings.NewReader(goodTruth), "t.json"); err != nil {
		t.Error(err)
	}
}

const sig1 = `{"id":"s1","time":"2026-01-05T11:00:00Z","detector_id":"sigma","rule_id":"r1","title":"x","severity":"high","confidence":0.5,"explanation":{"summary":"x"},"evidence":[{"event_id":"e","time":"2026-01-05T11:00:00Z","source":"d/windows/security.json","offset":10}]}`

func collect(t *testing.T, in string) (ResultsFormat, []detect.Signal, []Incident, error) {
	t.Helper()
	var sigs []detect.Signal
	var incs []Incident
	f, err := ReadResults(strings.NewReader(in), "r.json", ResultsHandler{
		Signal:   func(s *detect.Signal) error { sigs = append(sigs, *s); return nil },
		Incident: func(i *Incident) error { incs = append(incs, *i); return nil },
	})
	return f, sigs, incs, err
}

func TestReadResults(t *testing.T) {
	good := []struct {
		in         string
		format     ResultsFormat
		sigs, incs int
	}{
		{sig1 + "\n\n" + sig1 + "\n", ResultsJSONL, 2, 0},
		{"\n" + sig1, ResultsJSONL, 1, 0},
		{"{\n  \"signals\": [\n" + sig1 + "," + sig1 + "],\n  \"summary\": {\"events\": 3, \"x\": [1, {\"y\": null}]}\n}\n", ResultsJSON, 2, 0},
		{`{"signals":[` + sig1 + `],"incidents":[{"id":"i1","start":"2026-01-05T11:00:00Z","end":"2026-01-05T12:00:00Z","signal_ids":["s1"],"severity":"high"}]}`, ResultsJSON, 1, 1},
		{`{"summary": {}, "signals": null}`, ResultsJSON, 0, 0},
		{`{"signals": []}`, ResultsJSON, 0, 0},
		{"", ResultsJSONL, 0, 0}, // hunt --output jsonl with no signal
		{"  \n \n", ResultsJSONL, 0, 0},
	}
	for _, g := range good {
		f, sigs, incs, err := collect(t, g.in)
		if err != nil || f != g.format || len(sigs) != g.sigs || len(incs) != g.incs {
			t.Errorf("%.60q: %s %d signals %d incidents, err %v", g.in, f, len(sigs), len(incs), err)
		}
	}
	_, sigs, _, _ := collect(t, sig1)
	if len(sigs) == 1 && (sigs[0].Evidence[0].Offset != 10 || sigs[0].Severity != detect.SeverityHigh) {
		t.Errorf("%+v", sigs[0])
	}
	bad := []struct{ in, want string }{
		{sig1 + "\n{\"id\": 3}\n", "r.json:2"},
		{sig1 + "\nnot json\n", "r.json:2"},
		{`{"id":"x","time":"2026-01-05T11:00:00Z"}`, "without detector_id"},
		{`{"id":"x","detector_id":"d"}`, "without time"},
		{"{\n\"signals\": [\n" + sig1 + ", 3]}", "signals[1]"},
		{"{\n\"signals\": {}}", "want an array"},
		{"{\n\"signals\": [", "offset"},
		{"[1, 2]", "want hunt's JSON document"},
		{"{\n\"incidents\": [{\"id\": \"i\", \"start\": \"2026-01-05T11:00:00Z\"}]}", "missing start or end"},
		{"{\n\"signals\": []} x", "after the document"},
	}
	for _, b := range bad {
		_, _, _, err := collect(t, b.in)
		if err == nil || !strings.Contains(err.Error(), b.want) || !strings.Contains(err.Error(), "r.json") {
			t.Errorf("%.60q: error %v, want %q", b.in, err, b.want)
		}
	}
}

func TestResultsBounded(t *testing.T) {
	long := `{"id":"` + strings.Repeat("a", MaxRecordBytes+10) + `"}`
	_, _, _, err := collect(t, sig1+"\n"+long+"\n")
	if err == nil || !strings.Contains(err.Error(), "r.json:2: line longer") {
		t.Errorf("long JSONL line: %v", err)
	}
	// The document's bound counts what the decoder read since the element began,
	// so it is exact only to its read-ahead: go well past it.
	huge := `{"id":"` + strings.Repeat("a", MaxRecordBytes+1<<20) + `"}`
	_, _, _, err = collect(t, "{\n\"signals\": ["+huge+"]}")
	if err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("huge document element: %v", err)
	}
}

func FuzzParseTruth(f *testing.F) {
	f.Add([]byte(goodTruth))
	f.Add([]byte(`{"version": 1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := ParseTruth(data, "f")
		if err != nil {
			return
		}
		// A valid truth must be scorable.
		s := NewScorer(tr, DefaultSlack)
		s.AddSignal(&detect.Signal{DetectorID: "d"})
		_ = s.Report()
	})
}

func FuzzReadResults(f *testing.F) {
	f.Add([]byte(sig1 + "\n" + sig1))
	f.Add([]byte(`{"signals":[` + sig1 + `],"incidents":[{"id":"i1","start":"2026-01-05T11:00:00Z","end":"2026-01-05T12:00:00Z","signal_ids":["s1"]}],"summary":{"a":[1,2]}}`))
	tr, err := ParseTruth([]byte(goodTruth), "t")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScorer(tr, DefaultSlack)
		_, err := ReadResults(bytes.NewReader(data), "f", ResultsHandler{
			Signal:   func(sig *detect.Signal) error { s.AddSignal(sig); return nil },
			Incident: func(in *Incident) error { s.AddIncident(in); return nil },
		})
		if err != nil && !strings.Contains(err.Error(), "f") {
			t.Errorf("error does not name the file: %v", err)
		}
		r := s.Report()
		if r.CampaignRecall.N > r.CampaignRecall.D || r.IncidentPrecision.N > r.IncidentPrecision.D {
			t.Errorf("ratio above 1: %+v", r)
		}
	})
}
