package httpin

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

const fuzzMaxRecord = 64

func FuzzNDJSON(f *testing.F) {
	for _, s := range []string{"", "a\n", "a\r\nb\n\n  \nc", "\xff\n{\"a\":1}\r\n", string(bytes.Repeat([]byte("x"), 70)) + "\nok"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res := parseNDJSON(body, fuzzMaxRecord, "http:t", "", testNow)
		nonBlank := 0
		for _, l := range bytes.Split(body, []byte("\n")) {
			if !blank(bytes.TrimSuffix(l, []byte("\r"))) {
				nonBlank++
			}
		}
		if len(res.recs)+res.rejected != nonBlank {
			t.Fatalf("%d records + %d rejected, want %d non-blank lines", len(res.recs), res.rejected, nonBlank)
		}
		for _, r := range res.recs {
			if len(r.Data) == 0 || len(r.Data) > fuzzMaxRecord || bytes.IndexByte(r.Data, '\n') >= 0 || !utf8.Valid(r.Data) || cap(r.Data) != len(r.Data) {
				t.Fatalf("bad record %q", r.Data)
			}
		}
		if len(res.errors) > maxReportedErrors || len(res.errors) > res.rejected {
			t.Fatalf("%d errors reported for %d rejected", len(res.errors), res.rejected)
		}
	})
}

func FuzzHEC(f *testing.F) {
	for _, s := range []string{
		`{"event":"a"}`, `{"event":{"k":"v"},"sourcetype":"aws:cloudtrail"}{"event":1}`, " \n", `{"event":""}`,
		`{"event":"ok"} {"event":"bro`, `{"fields":{}}`, `[1]`, `{"event":"\u00e9\"}"}` + "\n" + `{"event":[1,{"a":"}"}]}`,
	} {
		f.Add([]byte(s))
	}
	var p fastjson.Parser
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, herr := parseHEC(&p, body, fuzzMaxRecord, "hec:t", "", testNow)
		if herr != nil {
			if herr.Code == hecNoData {
				if len(recs) != 0 || len(bytes.TrimSpace(body)) != 0 {
					t.Fatalf("no data with %d records for %q", len(recs), body)
				}
			} else if herr.Event != len(recs) {
				t.Fatalf("error at event %d after %d records", herr.Event, len(recs))
			}
		}
		for _, r := range recs {
			if len(r.Data) == 0 || len(r.Data) > fuzzMaxRecord {
				t.Fatalf("bad record %q", r.Data)
			}
		}
		if herr == nil {
			// Every value is an object with an event: encoding/json agrees on the count.
			dec := json.NewDecoder(bytes.NewReader(body))
			n := 0
			for dec.More() {
				var v map[string]json.RawMessage
				if err := dec.Decode(&v); err != nil {
					return // encoding/json is stricter about UTF-8 and numbers; not a finding
				}
				n++
			}
			if n != len(recs) {
				t.Fatalf("%d records, encoding/json reads %d objects", len(recs), n)
			}
		}
	})
}

func FuzzBulk(f *testing.F) {
	for _, s := range []string{
		"{\"create\":{\"_index\":\"a\"}}\n{\"m\":1}\n",
		"{\"index\":{\"_index\":\"a\",\"_id\":\"x\"}}\r\n{}\r\n{\"delete\":{\"_index\":\"a\",\"_id\":\"x\"}}\n",
		"{\"update\":{\"_index\":\"a\",\"_id\":1}}\n{\"doc\":{\"a\":[1,2]}}\n",
		"{\"create\":{}}\nnot json\n",
		"{\"create\":{\"_index\":\"A\"}}\n[]\n",
		"{\"nope\":{}}\n",
	} {
		f.Add([]byte(s))
	}
	var p fastjson.Parser
	var seq uint64
	newID := func(dst []byte) []byte { seq++; return append(dst, "id"...) }
	f.Fuzz(func(t *testing.T, body []byte) {
		// The action fast path agrees with the parser wherever it answers.
		for _, line := range bytes.Split(body, []byte("\n")) {
			if _, _, _, _, ok := fastAction(line); !ok {
				continue
			}
			fast := bulkParser{p: &p, defaultIndex: "dflt"}
			op1, idx1, id1, f1 := fast.action(line, 1)
			id1 = append([]byte(nil), id1...)
			slow := bulkParser{p: &p, defaultIndex: "dflt"}
			op2, idx2, id2, f2 := slow.slowAction(line, 1)
			if op1 != op2 || idx1 != idx2 || !bytes.Equal(id1, id2) || (f1 == nil) != (f2 == nil) {
				t.Fatalf("line %q: fast %q %q %q %v, parser %q %q %q %v", line, op1, idx1, id1, f1, op2, idx2, id2, f2)
			}
		}
		bp := bulkParser{p: &p, defaultIndex: "dflt", maxRecord: fuzzMaxRecord, sourcePrefix: "bulk:t:", now: testNow, newID: newID}
		res, fatal := bp.parse(body)
		if fatal != nil {
			if len(res.recs) != 0 || fatal.Type == "" || fatal.Reason == "" {
				t.Fatalf("fatal %+v with %d records", fatal, len(res.recs))
			}
			return
		}
		var items []map[string]struct {
			Status int    `json:"status"`
			Index  string `json:"_index"`
		}
		all := append(append([]byte("["), res.items...), ']')
		if err := json.Unmarshal(all, &items); err != nil {
			t.Fatalf("items are not JSON: %v: %s", err, all)
		}
		if len(items) != res.nItems {
			t.Fatalf("%d items, counted %d", len(items), res.nItems)
		}
		ok, failed := 0, 0
		for _, it := range items {
			for _, d := range it {
				if d.Status < 300 {
					ok++
				} else {
					failed++
				}
			}
		}
		if ok != len(res.recs) || (failed > 0) != res.failed {
			t.Fatalf("%d ok items for %d records; %d failed, errors=%v", ok, len(res.recs), failed, res.failed)
		}
		for _, r := range res.recs {
			if len(r.Data) > fuzzMaxRecord || !json.Valid(r.Data) || !utf8.Valid(r.Data) || r.Data[0] != '{' {
				t.Fatalf("bad record %q", r.Data)
			}
			if !validIndex(r.Source[len("bulk:t:"):]) {
				t.Fatalf("bad source %q", r.Source)
			}
		}
	})
}
