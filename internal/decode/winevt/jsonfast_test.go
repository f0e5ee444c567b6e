package winevt

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

const tsWLB = `"@timestamp":"2024-05-02T10:11:12.345Z"`

// wlbCases are Winlogbeat documents of the layouts the fast path takes (wlbTaken)
// or gives up on.
var wlbCases = append(wlbTaken[:len(wlbTaken):len(wlbTaken)], wlbGiveUp...)

var wlbTaken = []string{
	goodWLB,
	// Every winlog member the tree path maps, with unusual values.
	`{` + tsWLB + `,"winlog":{"channel":"Security","event_id":4624,"provider_name":"P","provider_guid":"54849625-5478-4994-a5ba-3e3b0328c30d","computer_name":"DC01","record_id":12,"version":2,"activity_id":"{5770385F-C22A-43E0-BF4C-06F5698FFBD9}","related_activity_id":null,"time_created":"2024-05-02T10:11:12.3450000Z","event_data":{"A":"1","B":2,"C":true,"D":null,"E":{"#text":"x"},"F":["a","b",["c"]],"TargetLogonGuid":"00000000-0000-0000-0000-000000000000","G":{"#attributes":{"x":1}},"H":"C:\\a\\b \"q\" \u00e9","EventID":"7","Computer":"X","I":-1.5e3,"J":false},"user_data":{"xml_name":"LogFileCleared","SubjectUserName":"bob","Nested":{"Inner":"v","#attributes":{"a":"b"}},"L":[{"M":"1"},{"M":"2"}]},"process":{"thread":{"id":7,"id":8},"pid":5,"name":"x","pid":6},"user":{"identifier":"S-1-5-18","name":"SYSTEM","domain":"NT AUTHORITY","extra":{"a":[1,2]}},"keywords":["Audit Failure",1,null,{"x":"y"},"Audit Success"],"opcode":"Info","task":"Logon","api":"wineventlog","logon":{"type":"Network","id":"0x1"},"level":null,"event_id":"9"}}`,
	// event.code and event.provider fallbacks, ECS fields, nesting, empty names.
	`{` + tsWLB + `,"event":{"code":"4688","provider":"Microsoft-Windows-Security-Auditing","kind":"event","category":["process","x"],"type":["start"],"code":"9","outcome":"success"},"winlog":{"channel":"Security","event_data":{"NewProcessName":"C:\\x.exe"}},"process":{"command_line":"x.exe /q","pid":12,"parent":{"pid":"3"},"executable":null},"user":{"name":"bob","domain":""},"host":{"name":"h","ip":["1.2.3.4","::1"]},"log":{"level":"information"},"message":"m\n\"q\"","related":{"ip":["1.2.3.4"]},"":{"x":1},"a":{"":2},"":3,"tags":[],"labels":{},"source":{"ip":"10.1.2.3","port":443}}`,
	`{"@timestamp":1714644672,"event":{"provider":null,"code":null},"winlog":{"event_id":"","channel":"System","process":{"pid":null},"user":{"identifier":null},"computer_name":null}}`,
	`{"@timestamp":"2024-05-02T10:11:12Z","event":{"code":"4","provider":"P"},"winlog":{"channel":"System","event_data":{"Provider_Name":"Q"}}}`,
	`{"@timestamp":"2024-05-02T10:11:12Z","event":{"code":"4","provider":"P"},"event":{"kind":"x"},"winlog":{"channel":"System"}}`,
	`{"event":"x","winlog":{"event_id":1,"time_created":"2024-05-02T10:11:12Z"},"winlog":null,"winlog":{"event_id":2,"channel":"C"},"@timestamp":null}`,
	`{"winlog":{"event_id":1,"process":[1],"user":"u","event_data":"x","user_data":[1],"keywords":"Audit Success","time_created":"2024-05-02T10:11:12Z"},"event":[{"code":"5"}]}`,
	`{"winlog":{"event_id":1,"process":{"thread":5,"thread":{"id":6}},"keywords":[["Audit Success"]],"time_created":"2024-05-02T10:11:12Z","event_data":{},"user_data":null,"user":{}}}`,
	`{"winlog":{"event_id":1,"time_created":"bad"},"@timestamp":"2024-05-02T10:11:12Z"}`,
	`{"winlog":{"event_id":1,"time_created":true},"@timestamp":false}`,
	`{"winlog":{"channel":"Security"},"@timestamp":"2024-05-02T10:11:12Z"}`,
	`{"winlog":{"event_id":1}}`,
	" { \"winlog\" : { \"event_id\" : 1 , \"time_created\" : \"2024-05-02T10:11:12Z\" } , \"x\" : [ 1 , { \"y\" : 2 } ] } ",
	`{"winlog":{"event_id":1,"time_created":"2024-05-02T10:11:12Z"},"a":` + strings.Repeat(`{"b":`, 14) + `1` + strings.Repeat(`}`, 14) + `}`,
	`{"winlog":{"event_id":1,"time_created":"2024-05-02T10:11:12Z"},"a":` + strings.Repeat(`{"b":`, 15) + `1` + strings.Repeat(`}`, 15) + `}`,
	`{"winlog":{"event_id":1,"time_created":"2024-05-02T10:11:12Z"},"a":` + strings.Repeat(`[`, 15) + `1` + strings.Repeat(`]`, 15) + `}`,
	`{"winlog":{"event_id":1,"time_created":"2024-05-02T10:11:12Z","event_data":{"a":` + strings.Repeat(`{"b":`, 20) + `1` + strings.Repeat(`}`, 20) + `}}}`,
	`[{` + tsWLB + `,"winlog":{"event_id":1}}]`,
}

var wlbGiveUp = []string{
	`{` + tsWLB + `,"winlog":"x"}`,
	`{` + tsWLB + `,"message":"x"}`,
	`{"@timestamp":{"a":1},"winlog":{"event_id":1}}`,
	`{"@timestamp":["2024-05-02T10:11:12Z"],"winlog":{"event_id":1}}`,
	`{` + tsWLB + `,"winlog":{"channel":{"a":1},"event_id":1}}`,
	`{` + tsWLB + `,"winlog":{"channel":["a","b"],"event_id":1}}`,
	`{` + tsWLB + `,"winlog":{"channel":[],"event_id":1}}`,
	`{` + tsWLB + `,"winlog":{"time_created":{},"event_id":1}}`,
	`{` + tsWLB + `,"winlog":{"process":{"pid":{"x":1}},"event_id":1}}`,
	`{` + tsWLB + `,"winlog":{"process":{"thread":{"id":[1]}},"event_id":1}}`,
	`{` + tsWLB + `,"winlog":{"user":{"identifier":{}},"event_id":1}}`,
	`{` + tsWLB + `,"event":{"code":{"x":1}},"winlog":{}}`,
	`{` + tsWLB + `,"event":{"provider":[]},"winlog":{"event_id":1}}`,
	`{` + tsWLB + `,"winl\u006fg":{"event_id":1}}`,
	`{` + tsWLB + `,"winlog":{"event_d\u0061ta":{"a":1},"event_id":1}}`,
	`{` + tsWLB + `,"winlog":{"event_id":NaN}}`,
	`{` + tsWLB + `,"winlog":{"event_id":1},"x":-Inf}`,
	`{` + tsWLB + `,"winlog":{"event_id":1},"x":+1}`,
	`{` + tsWLB + `,"winlog":{"event_id":1},}`,
	`{` + tsWLB + `,"winlog":{"event_id":1}} x`,
	`{` + tsWLB + `,"winlog":{"event_id":"1\"}}`,
	`{}`, `"x"`, `null`,
	`{"winlog":{"event_id":1,"time_created":"2024-05-02T10:11:12Z"},"a":` + strings.Repeat(`{"b":`, 16) + `{}` + strings.Repeat(`}`, 16) + `}`,
	`{"winlog":{"event_id":1,"time_created":"2024-05-02T10:11:12Z"},"a":` + strings.Repeat(`[`, 16) + `1` + strings.Repeat(`]`, 16) + `}`,
	`{"winlog":{"event_id":1,"time_created":"2024-05-02T10:11:12Z"},"a":` + strings.Repeat(`[`, 400) + strings.Repeat(`]`, 400) + `}`,
}

// flatCases are flat documents of the layouts the fast path takes (flatTaken) or
// gives up on.
var flatCases = append(flatTaken[:len(flatTaken):len(flatTaken)], flatGiveUp...)

var flatTaken = []string{
	goodFlat,
	`{` + tsWLB + `,"EventTime":"2024-05-02 10:11:12","EventID":4624,"Channel":"Security","Computer":"C1","Hostname":"H1","ProviderName":"P","Provider_Guid":"54849625-5478-4994-a5ba-3e3b0328c30d","EventRecordID":"7","ExecutionProcessID":4,"ExecutionThreadID":5,"Correlation_ActivityID":"5770385f-c22a-43e0-bf4c-06f5698ffbd9","RelatedActivityID":null,"Security_UserID":"S-1-5-18","UserID":"S-1-5-19","Keywords":"0x8020000000000000","OpcodeValue":0,"Opcode":"Info","Severity":"WARNING","TimeCreated":"2024-05-02T10:11:12.3450000Z","Nested":{"a":[1,{"b":"c"}],"d":null,"e":[]},"Path":"C:\\a\\b","T":true,"F":false,"N":null,"ProcessGuid":"5770385f-c22a-43e0-bf4c-06f5698ffbd9"}`,
	`{"EventTime":"2024-05-02 10:11:12","EventID":"1","Keywords":-9214364837600034816,"Opcode":1,"Severity":"DEBUG","Hostname":"H","ActivityID":"{5770385F-C22A-43E0-BF4C-06F5698FFBD9}","Provider_Name":"Microsoft-Windows-Sysmon","Image":"C:\\a.exe"}`,
	`{` + tsWLB + `,"EventID":1,"Keywords":18446744073709551615,"Opcode":true,"Keywords":1.5,"Hostname":null,"Severity":"x","SourceName":1}`,
	`{` + tsWLB + `,"EventID":1,"Keywords":1e99,"Opcode":"Info","OpcodeValue":null,"Opcode":false}`,
	`{` + tsWLB + `,"EventID":1,"Keywords":true,"Opcode":"","Severity":"CRITICAL","Computer":"C","Hostname":"H","EventID":2}`,
	`{"":{"EventID":5,"Computer":"c"},"":1,` + tsWLB + `}`,
	`{"TimeCreated":"bad",` + tsWLB + `,"EventTime":"2024-05-02 10:11:13","EventID":1}`,
	`{"TimeCreated":12,"EventID":1}`,
	`{"Channel":"Security",` + tsWLB + `}`,
	`{"@timestamp":null,"EventID":1}`,
	" { \"EventID\" : 1 ,\n\t\"@timestamp\" : \"2024-05-02T10:11:12Z\" , \"x\" : [ 1 , { \"y\" : 2 } ] }\r\n",
	`{"EventID":1,` + tsWLB + `,"a":` + strings.Repeat(`{"b":`, 15) + `1` + strings.Repeat(`}`, 15) + `}`,
	`{}`,
}

var flatGiveUp = []string{
	`{"EventID":{"a":1},` + tsWLB + `}`,
	`{"EventID":[1],` + tsWLB + `}`,
	`{"EventID":1,"Channel":[],` + tsWLB + `}`,
	`{"EventID":1,"Keywords":{},` + tsWLB + `}`,
	`{"EventID":1,"Hostname":["h"],` + tsWLB + `}`,
	`{"@timestamp":["x"],"EventID":1}`,
	`{"EventID":NaN,` + tsWLB + `}`,
	`{"EventID":1,` + tsWLB + `,"x":nan}`,
	`{"Event\u0049D":1,` + tsWLB + `}`,
	`{"EventID":1,` + tsWLB + `,"a":{"b\u0041":1}}`,
	`{"EventID":1,` + tsWLB + `,}`,
	`{"EventID":1,` + tsWLB + `}}`,
	`{"EventID":1,` + tsWLB + `,"x":"\"}`,
	`[1,2,3]`, `1`,
	`{"EventID":1,` + tsWLB + `,"a":` + strings.Repeat(`{"b":`, 16) + `1` + strings.Repeat(`}`, 16) + `}`,
	`{"EventID":1,` + tsWLB + `,"a":` + strings.Repeat(`[`, 300) + strings.Repeat(`]`, 300) + `}`,
}

// shapeCases are each shape's cases and fixtures.
var shapeCases = []struct {
	sh           shape
	cases, taken []string
	fixtures     []string
}{
	{shapeWinlogbeat, wlbCases, wlbTaken, []string{"winlogbeat8.ndjson", "cross_winlogbeat.ndjson"}},
	{shapeFlat, flatCases, flatTaken, []string{"flat_otrf.ndjson", "cross_flat.ndjson"}},
}

func TestJSONFastPathMatchesTree(t *testing.T) {
	for _, sc := range shapeCases {
		t.Run(sc.sh.id(), func(t *testing.T) {
			for i, c := range sc.cases {
				sameShapeAsTree(t, sc.sh, "case", []byte(c))
				// In one stream, after a first record, and repeated, so the
				// per-stream caches are exercised.
				next := sc.cases[(i+1)%len(sc.cases)]
				sameShapeAsTree(t, sc.sh, "stream", []byte(sc.cases[0]+"\n"+c+"\n"+c+"\n"+next+"\n"+c))
			}
			for _, name := range sc.fixtures {
				data, err := os.ReadFile(filepath.Join("testdata", name))
				if err != nil {
					t.Fatal(err)
				}
				sameShapeAsTree(t, sc.sh, name, data)
				sameShapeAsTree(t, sc.sh, name+" twice", append(data[:len(data):len(data)], data...))
			}
		})
	}
}

// TestJSONFastPathTaken checks that the fixtures' records and the cases meant for
// the fast path take it, and that the others do not.
func TestJSONFastPathTaken(t *testing.T) {
	for _, sc := range shapeCases {
		for _, name := range sc.fixtures {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			if fast, n := fastShapeRecords(sc.sh, data); fast != n || n == 0 {
				t.Errorf("%s: %d of %d records took the fast path", name, fast, n)
			}
		}
		for i, c := range sc.cases {
			fast, n := fastShapeRecords(sc.sh, []byte(c))
			if taken := i < len(sc.taken); n != 1 || (fast == 1) != taken {
				t.Errorf("%s: %d of %d records took the fast path, want it taken: %v\n%s", sc.sh.id(), fast, n, taken, c)
			}
		}
	}
}

// TestRegressionSamplesJSONShapes converts every SigmaHQ regression sample to a
// Winlogbeat and a flat document and compares both paths on them.
func TestRegressionSamplesJSONShapes(t *testing.T) {
	wlb, flat, n := regressionShapes(t)
	if n != 238 {
		t.Errorf("converted %d events, want 238", n)
	}
	for _, tc := range []struct {
		sh   shape
		data []byte
	}{{shapeWinlogbeat, wlb}, {shapeFlat, flat}} {
		sameShapeAsTree(t, tc.sh, tc.sh.id(), tc.data)
		if fast, recs := fastShapeRecords(tc.sh, tc.data); fast != recs || recs != n {
			t.Errorf("%s: %d of %d records on the fast path; want all %d", tc.sh.id(), fast, recs, n)
		}
		s, err := decodetest.Decode(t, &Decoder{shape: tc.sh}, tc.sh.id(), tc.data)
		if err != nil || len(s.Rejects) != 0 || len(s.Events) != n {
			t.Errorf("%s: %d events, rejects %v, err %v", tc.sh.id(), len(s.Events), s.Rejects, err)
		}
	}
}

// regressionShapes decodes the SigmaHQ regression samples (evtx_dump JSON) and
// writes each event again as a Winlogbeat document and as a flat document, one per
// line, returning both streams and the number of events.
func regressionShapes(tb testing.TB) (wlb, flat []byte, n int) {
	tb.Helper()
	root := decodetest.Corpora(tb, "sigma/regression_data")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		s, err := decodetest.DecodeFile(tb, NewEvtxDump(), path)
		if err != nil {
			return err
		}
		for _, e := range s.Events {
			wlb = append(appendWinlogbeatDoc(wlb, e), '\n')
			flat = append(appendFlatDoc(flat, e), '\n')
			n++
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return wlb, flat, n
}

// winlogbeatSystem names the winlog members of the System raw fields.
var winlogbeatSystem = map[string]string{
	"Channel": "channel", "EventID": "event_id", "Provider_Name": "provider_name", "Provider_Guid": "provider_guid",
	"Computer": "computer_name", "EventRecordID": "record_id", "Version": "version",
	"Correlation_ActivityID": "activity_id", "Correlation_RelatedActivityID": "related_activity_id",
	"Task": "task", "Opcode": "opcode",
}

// appendWinlogbeatDoc appends e written as Winlogbeat would write it.
func appendWinlogbeatDoc(b []byte, e *event.Event) []byte {
	raw := func(k string) string { return rawOf(e, k) }
	b = append(b, `{"@timestamp":`...)
	b = event.AppendString(b, e.Timestamp.UTC().Format(time.RFC3339Nano))
	b = append(b, `,"agent":{"type":"winlogbeat","version":"8.13.2"},"ecs":{"version":"8.0.0"},"event":{"code":`...)
	b = event.AppendString(b, raw("EventID"))
	b = append(b, `,"kind":"event","provider":`...)
	b = event.AppendString(b, raw("Provider_Name"))
	b = append(b, `},"host":{"name":`...)
	b = event.AppendString(b, strings.ToLower(raw("Computer")))
	b = append(b, `},"log":{"level":"information"},"winlog":{"api":"wineventlog"`...)
	var data []byte
	for _, r := range e.Raw {
		name := r.Name()
		switch {
		case winlogbeatSystem[name] != "":
			b = append(b, `,"`+winlogbeatSystem[name]+`":`...)
			if n, err := strconv.Atoi(r.Value); err == nil && name == "EventRecordID" {
				b = strconv.AppendInt(b, int64(n), 10)
			} else {
				b = event.AppendString(b, r.Value)
			}
		case name == "TimeCreated":
			b = append(b, `,"time_created":`...)
			b = event.AppendString(b, r.Value)
		case name == "ProcessID" || name == "ThreadID" || name == "Level" || name == "Keywords" ||
			name == "Qualifiers" || name == "Provider_EventSourceName":
		case name == "Security_UserID":
			b = append(b, `,"user":{"identifier":`...)
			b = event.AppendString(b, r.Value)
			b = append(b, `,"type":"User"}`...)
		default:
			if len(data) > 0 {
				data = append(data, ',')
			}
			data = event.AppendString(data, name)
			data = append(data, ':')
			data = event.AppendString(data, r.Value)
		}
	}
	if pid := raw("ProcessID"); pid != "" {
		b = append(b, `,"process":{"pid":`+pid+`,"thread":{"id":`+raw("ThreadID")+`}}`...)
	}
	if raw("Keywords") == "0x8020000000000000" {
		b = append(b, `,"keywords":["Audit Success"]`...)
	}
	if len(data) > 0 {
		b = append(append(append(b, `,"event_data":{`...), data...), '}')
	}
	b = append(b, `},"message":`...)
	b = event.AppendString(b, renderedMessage(e))
	return append(b, '}')
}

// renderedMessage is a stand-in for the message Windows renders for e: its event
// data, one "Name: value" line each.
func renderedMessage(e *event.Event) string {
	var m strings.Builder
	m.WriteString("Event " + rawOf(e, "EventID") + ":")
	for _, r := range e.Raw {
		if _, ok := winlogbeatSystem[r.Name()]; !ok {
			m.WriteString("\n" + r.Name() + ": " + r.Value)
		}
	}
	return m.String()
}

func rawOf(e *event.Event, name string) string {
	v, _ := e.RawValue(event.MakeKey(name))
	return v
}

// appendFlatDoc appends e written as NXLog would write it.
func appendFlatDoc(b []byte, e *event.Event) []byte {
	b = append(b, `{"@timestamp":`...)
	b = event.AppendString(b, e.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z"))
	b = append(b, `,"EventTime":`...)
	b = event.AppendString(b, e.Timestamp.UTC().Format(time.DateTime))
	b = append(b, `,"Severity":"INFO","SeverityValue":2`...)
	for _, r := range e.Raw {
		name := r.Name()
		switch name {
		case "Computer":
			name = "Hostname"
		case "Provider_Name":
			name = "SourceName"
		case "EventRecordID":
			name = "RecordNumber"
		case "ProcessID":
			name = "ExecutionProcessID"
		case "ThreadID":
			name = "ExecutionThreadID"
		case "Security_UserID":
			name = "UserID"
		case "Opcode":
			name = "OpcodeValue"
		case "TimeCreated", "Qualifiers", "Provider_EventSourceName":
			continue
		}
		b = append(b, ',')
		b = event.AppendString(b, name)
		b = append(b, ':')
		switch n, err := strconv.ParseInt(r.Value, 10, 64); {
		case name == "Keywords":
			if u, err := strconv.ParseUint(strings.TrimPrefix(r.Value, "0x"), 16, 64); err == nil {
				b = strconv.AppendInt(b, int64(u), 10) // NXLog's signed decimal mask
				continue
			}
		case err == nil && name != "Data":
			b = strconv.AppendInt(b, n, 10)
			continue
		}
		b = event.AppendString(b, r.Value)
	}
	b = append(b, `,"Message":`...)
	b = event.AppendString(b, renderedMessage(e))
	return append(b, '}')
}

// FuzzWinlogbeatFastPath checks that the Winlogbeat fast path decodes any input as
// the tree path does.
func FuzzWinlogbeatFastPath(f *testing.F) {
	addSeeds(f, "winlogbeat8.ndjson", "cross_winlogbeat.ndjson")
	for _, c := range wlbCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameShapeAsTree(t, shapeWinlogbeat, "fuzz", data) })
}

// FuzzFlatFastPath checks that the flat fast path decodes any input as the tree path
// does.
func FuzzFlatFastPath(f *testing.F) {
	addSeeds(f, "flat_otrf.ndjson", "cross_flat.ndjson")
	for _, c := range flatCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameShapeAsTree(t, shapeFlat, "fuzz", data) })
}

// BenchmarkDecodeJSONShapesCorpus decodes the regression samples written as
// Winlogbeat and flat documents (238 mostly distinct events), fast path and tree path.
func BenchmarkDecodeJSONShapesCorpus(b *testing.B) {
	wlb, flat, _ := regressionShapes(b)
	for _, tc := range []struct {
		sh   shape
		data []byte
	}{{shapeWinlogbeat, wlb}, {shapeFlat, flat}} {
		b.Run(tc.sh.id()+"/fast", func(b *testing.B) { benchDecodeN(b, &Decoder{shape: tc.sh}, tc.data, 20) })
		b.Run(tc.sh.id()+"/tree", func(b *testing.B) { benchDecodeN(b, &Decoder{shape: tc.sh, treeOnly: true}, tc.data, 20) })
	}
}
