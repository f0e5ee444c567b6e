package evtx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

// TestSigmaRegressionMatchesEvtxDump decodes every SigmaHQ regression sample
// (.evtx) and checks that each System, EventData and UserData field of the
// evtx_dump JSON written next to it (.json) is one of our raw fields with the
// same value, modulo the renderings where evtx_dump differs from Windows XML
// (see sameValue).
func TestSigmaRegressionMatchesEvtxDump(t *testing.T) {
	root := decodetest.Corpora(t, "sigma/regression_data")
	var files []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".evtx") {
			files = append(files, p)
		}
		return err
	})
	sort.Strings(files)
	var samples, samplesOK, fields, fieldsOK int
	for _, f := range files {
		want, err := os.ReadFile(strings.TrimSuffix(f, ".evtx") + ".json")
		if err != nil {
			continue
		}
		samples++
		s, err := decodetest.DecodeFile(t, New(), f)
		if err != nil || len(s.Rejects) > 0 {
			t.Errorf("%s: err %v, rejects %v", f, err, s.Rejects)
			continue
		}
		if len(s.Events) == 0 {
			t.Errorf("%s: no event", f)
			continue
		}
		exp, err := expectedFields(want)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		e := eventByRecord(s.Events, exp)
		ok := true
		for _, w := range exp {
			fields++
			got := rawValues(e, w.name)
			if matchValues(got, w.values) {
				fieldsOK++
				continue
			}
			ok = false
			if why, known := knownDiffs[filepath.Base(f)+" "+w.name]; known {
				t.Logf("%s: %s = %q, evtx_dump has %q: known: %s", filepath.Base(f), w.name, got, w.values, why)
				continue
			}
			t.Errorf("%s: %s = %q, evtx_dump has %q", filepath.Base(f), w.name, got, w.values)
		}
		if ok {
			samplesOK++
		}
	}
	t.Logf("sigma regression samples: %d of %d match fully; fields %d of %d", samplesOK, samples, fieldsOK, fields)
	if samplesOK < samples-len(knownDiffs) {
		t.Errorf("%d samples match fully, want %d", samplesOK, samples-len(knownDiffs))
	}
	if samples < 200 {
		t.Errorf("found %d samples, want >= 200", samples)
	}
}

// knownDiffs lists the fields where the .json disagrees with its own .evtx.
var knownDiffs = map[string]string{
	// The .evtx bytes hold "C:\Windows\Explorer.EXE"; the .json was edited or
	// exported from another copy of the event.
	"ad691d92-15f2-4181-9aa4-723c74f9ddc3.evtx ParentCommandLine": "the .evtx holds Explorer.EXE",
}

// wantField is one field of the evtx_dump JSON under our raw field name.
type wantField struct {
	name   string
	values []any // nil element: JSON null
}

// expectedFields flattens evtx_dump's JSON of one event into our raw field names.
func expectedFields(data []byte) ([]wantField, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var doc struct {
		Event map[string]any `json:"Event"`
	}
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parsing evtx_dump JSON: %w", err)
	}
	var out []wantField
	add := func(name string, v any) {
		if arr, ok := v.([]any); ok {
			out = append(out, wantField{name, arr})
			return
		}
		out = append(out, wantField{name, []any{v}})
	}
	sys, _ := doc.Event["System"].(map[string]any)
	for elem, v := range sys {
		obj, ok := v.(map[string]any)
		if !ok {
			if v != nil {
				add(elem, v)
			}
			continue
		}
		if text, ok := obj["#text"]; ok {
			add(elem, text)
		}
		attrs, _ := obj["#attributes"].(map[string]any)
		for a, av := range attrs {
			switch {
			case elem == "TimeCreated" && a == "SystemTime":
				add("TimeCreated", av)
			case elem == "Execution" && (a == "ProcessID" || a == "ThreadID"),
				elem == "EventID" && a == "Qualifiers":
				add(a, av)
			default:
				add(elem+"_"+a, av)
			}
		}
	}
	switch ed := doc.Event["EventData"].(type) {
	case map[string]any:
		for name, v := range ed {
			if name == "#attributes" {
				continue
			}
			if obj, ok := v.(map[string]any); ok {
				if text, ok := obj["#text"]; ok {
					v = text
				}
			}
			add(name, v)
		}
	}
	if ud, ok := doc.Event["UserData"].(map[string]any); ok {
		var leaves func(m map[string]any)
		leaves = func(m map[string]any) {
			for k, v := range m {
				if k == "#attributes" {
					continue
				}
				if obj, ok := v.(map[string]any); ok {
					leaves(obj)
					continue
				}
				add(k, v)
			}
		}
		for _, v := range ud {
			if obj, ok := v.(map[string]any); ok {
				leaves(obj)
			}
		}
	}
	return out, nil
}

// eventByRecord picks the event whose EventRecordID the JSON names.
func eventByRecord(evs []*event.Event, exp []wantField) *event.Event {
	for _, w := range exp {
		if w.name != "EventRecordID" {
			continue
		}
		for _, e := range evs {
			if v, _ := e.RawValue(event.MakeKey("EventRecordID")); matchValue(v, w.values[0]) {
				return e
			}
		}
	}
	return evs[0]
}

func rawValues(e *event.Event, name string) []string {
	var out []string
	k := event.MakeKey(name)
	for _, r := range e.Raw {
		if r.Key == k {
			out = append(out, r.Value)
		}
	}
	return out
}

func matchValues(got []string, want []any) bool {
	if len(want) == 1 && want[0] == nil { // null: absent or empty
		return len(got) == 0 || len(got) == 1 && got[0] == ""
	}
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !matchValue(got[i], want[i]) {
			return false
		}
	}
	return true
}

// matchValue compares our rendering with evtx_dump's. The documented differences:
// evtx_dump writes GUID values without braces, FILETIMEs with 6 fractional
// digits, and trims trailing spaces of strings; Windows (and we) write {GUID},
// 7 digits, and keep the spaces.
func matchValue(got string, want any) bool {
	var w string
	switch v := want.(type) {
	case nil:
		return got == ""
	case string:
		w = v
	case json.Number:
		w = v.String()
	case bool:
		w = fmt.Sprint(v)
	default:
		return false
	}
	if got == w || strings.TrimRight(got, " ") == w {
		return true
	}
	if len(got) == 38 && got[0] == '{' && strings.EqualFold(got[1:37], w) {
		return true
	}
	if tg, err := time.Parse(time.RFC3339Nano, got); err == nil {
		if tw, err := time.Parse(time.RFC3339Nano, w); err == nil {
			return tg.Truncate(time.Microsecond).Equal(tw.Truncate(time.Microsecond))
		}
	}
	return false
}
