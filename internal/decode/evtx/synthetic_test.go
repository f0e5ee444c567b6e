package evtx

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

var (
	synthTime    = time.Date(2024, 5, 2, 10, 11, 12, 345678900, time.UTC)
	synthWritten = time.Date(2024, 5, 2, 10, 11, 13, 0, time.UTC)
	providerGUID = []byte{0x5f, 0x38, 0x70, 0x57, 0x2a, 0xc2, 0xe0, 0x43, 0xbf, 0x4c, 0x06, 0xf5, 0x69, 0x8f, 0xfb, 0xd9}
	userSID      = []byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xe9, 3, 0, 0}
)

func sb(i uint16, typ byte) subst     { return subst{idx: i, typ: typ} }
func optSub(i uint16, typ byte) subst { return subst{idx: i, typ: typ, optional: true} }
func data(name string, c ...any) node {
	return node{name: "Data", attrs: []attr{{"Name", name}}, children: c}
}

// eventTemplate is a Windows-like Event template: System from substitutions
// 0-10 and 12, the payload (EventData or UserData) as BinXML in substitution 11.
var eventTemplate = node{name: "Event", attrs: []attr{{"xmlns", "http://schemas.microsoft.com/win/2004/08/events/event"}}, children: []any{
	node{name: "System", children: []any{
		node{name: "Provider", attrs: []attr{{"Name", "Test-Provider"}, {"Guid", sb(0, typGUID)}}},
		node{name: "EventID", attrs: []attr{{"Qualifiers", optSub(12, typUint16)}}, children: []any{sb(1, typUint16)}},
		node{name: "Level", children: []any{sb(2, typUint8)}},
		node{name: "Keywords", children: []any{sb(3, typHexInt64)}},
		node{name: "TimeCreated", attrs: []attr{{"SystemTime", sb(4, typFileTime)}}},
		node{name: "EventRecordID", children: []any{sb(5, typUint64)}},
		node{name: "Correlation", attrs: []attr{{"ActivityID", optSub(6, typGUID)}}},
		node{name: "Execution", attrs: []attr{{"ProcessID", sb(7, typUint32)}, {"ThreadID", sb(8, typUint32)}}},
		node{name: "Channel", children: []any{"Test/Operational"}},
		node{name: "Computer", children: []any{sb(9, typString)}},
		node{name: "Security", attrs: []attr{{"UserID", optSub(10, typSID)}}},
	}},
	sb(11, typBinXML),
}}

var eventDataTemplate = node{name: "EventData", children: []any{
	data("TargetUserName", sb(0, typString)),
	data("Tags", sb(1, typString|typArray)),
	data("Elevated", sb(2, typBool)),
	data("Blob", sb(3, typBinary)),
	data("Empty", optSub(4, typString)),
	node{name: "Data", children: []any{sb(5, typString)}},
	node{name: "Data", children: []any{sb(6, typString)}},
	data("Mixed", "pre-", sb(7, typUint32), "-post"),
	data("When", sb(8, typSystemTime)),
	data("Ratio", sb(9, typReal64)),
	data("Signed", sb(10, typInt32)),
	data("Ansi", sb(11, typAnsi)),
	node{name: "Binary", children: []any{sb(12, typBinary)}},
	data("Ünïcode", sb(13, typString)),
	data("Amp", "a", "&", "b"),
	data("", sb(14, typString)), // an empty Name is unnamed Data
}}

var userDataTemplate = node{name: "UserData", children: []any{
	node{name: "LogFileCleared", attrs: []attr{{"xmlns", "http://manifests.microsoft.com/win/2004/08/windows/eventlog"}}, children: []any{
		node{name: "SubjectUserName", children: []any{sb(0, typString)}},
		node{name: "BackupPath"},
		node{name: "Nested", children: []any{node{name: "Leaf", attrs: []attr{{"kind", "x"}}, children: []any{sb(1, typUint64)}}}},
	}},
}}

var deepTemplate = node{name: "Deep", children: []any{sb(0, typBinXML)}}

// systemValues returns the substitutions of eventTemplate.
func systemValues(id uint16, rec uint64, created time.Time, payload func(*chunkBuilder)) []value {
	ft := uint64(0)
	if !created.IsZero() {
		ft = toFiletime(created)
	}
	return []value{
		{typ: typGUID, data: providerGUID},
		{typ: typUint16, data: le16b(id)},
		{typ: typUint8, data: []byte{4}},
		{typ: typHexInt64, data: le64b(0x8020000000000000)},
		{typ: typFileTime, data: le64b(ft)},
		{typ: typUint64, data: le64b(rec)},
		{typ: typNull},
		{typ: typUint32, data: le32b(612)},
		{typ: typUint32, data: le32b(700)},
		{typ: typString, data: utf16le("WS-042.corp.example.com")},
		{typ: typSID, data: userSID},
		{typ: typBinXML, fn: payload},
		{typ: typNull},
	}
}

func systemTime(t time.Time) []byte {
	var b []byte
	for _, v := range []int{t.Year(), int(t.Month()), int(t.Weekday()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond() / 1e6} {
		b = append(b, le16b(uint16(v))...)
	}
	return b
}

// synthetic builds a file of one chunk holding:
//
//	100: EventData of many value types (template defined inline, twice nested)
//	101: the same templates referenced by offset, other values
//	102: UserData
//	103: elements written without a template (TimeCreated as text)
//	104: BinXML nested 12 levels deep: rejected (malformed)
//	105: TimeCreated zero: the record's written time is used
//	106: no EventID: rejected (missing-field)
func synthetic() []byte {
	c := newChunk(100)
	var evDef, edDef, udDef, deepDef int
	edValues := func(user string) []value {
		return []value{
			{typ: typString, data: utf16le(user + "\x00")},
			{typ: typString | typArray, data: utf16le("a\x00b\x00c\x00")},
			{typ: typBool, data: le32b(1)},
			{typ: typBinary, data: []byte{0xde, 0xad, 0xbe, 0xef}},
			{typ: typNull},
			{typ: typString, data: utf16le("first")},
			{typ: typString, data: utf16le("second")},
			{typ: typUint32, data: le32b(7)},
			{typ: typSystemTime, data: systemTime(synthTime)},
			{typ: typReal64, data: le64b(0x3fe0000000000000)},
			{typ: typInt32, data: le32b(0xfffffffb)},
			{typ: typAnsi, data: []byte("h\xe9llo\x00")},
			{typ: typBinary, data: []byte{1, 2}},
			{typ: typString, data: utf16le("日本語 😀")},
			{typ: typString, data: utf16le("third")},
		}
	}
	for i, user := range []string{"alice", "bob"} {
		c.record(synthWritten, func(c *chunkBuilder) {
			evDef = c.instance(eventTemplate, evDef, systemValues(4624, uint64(100+i), synthTime, func(c *chunkBuilder) {
				edDef = c.instance(eventDataTemplate, edDef, edValues(user))
			}))
		})
	}
	c.record(synthWritten, func(c *chunkBuilder) {
		c.instance(eventTemplate, evDef, systemValues(104, 102, synthTime, func(c *chunkBuilder) {
			udDef = c.instance(userDataTemplate, udDef, []value{
				{typ: typString, data: utf16le("carol")},
				{typ: typUint64, data: le64b(1 << 40)},
			})
		}))
	})
	c.record(synthWritten, func(c *chunkBuilder) {
		c.u8(tokFragmentStart)
		c.u8(1)
		c.u8(1)
		c.u8(0)
		c.element(node{name: "Event", children: []any{node{name: "System", children: []any{
			node{name: "EventID", children: []any{"42"}},
			node{name: "TimeCreated", attrs: []attr{{"SystemTime", "2024-01-02T03:04:05.1234567Z"}}},
			node{name: "Channel", children: []any{"Raw"}},
		}}}}, false)
	})
	var deep func(level int) func(*chunkBuilder)
	deep = func(level int) func(*chunkBuilder) {
		return func(c *chunkBuilder) {
			if level == 0 {
				c.instance(eventDataTemplate, edDef, edValues("deep"))
				return
			}
			deepDef = c.instance(deepTemplate, deepDef, []value{{typ: typBinXML, fn: deep(level - 1)}})
		}
	}
	c.record(synthWritten, func(c *chunkBuilder) {
		c.instance(eventTemplate, evDef, systemValues(1, 104, synthTime, deep(12)))
	})
	c.record(synthWritten, func(c *chunkBuilder) {
		c.instance(eventTemplate, evDef, systemValues(1, 105, time.Time{}, func(c *chunkBuilder) {
			c.instance(userDataTemplate, udDef, []value{{typ: typString, data: utf16le("dave")}, {typ: typNull}})
		}))
	})
	c.record(synthWritten, func(c *chunkBuilder) {
		c.u8(tokFragmentStart)
		c.u8(1)
		c.u8(1)
		c.u8(0)
		c.element(node{name: "Event", children: []any{node{name: "System", children: []any{
			node{name: "Channel", children: []any{"Raw"}},
		}}}}, false)
	})
	return fileOf(c.bytes())
}

func syntheticSeeds() [][]byte {
	f := synthetic()
	return [][]byte{f, f[fileHeaderSize:]}
}

func raws(e *event.Event, name string) []string {
	var out []string
	k := event.MakeKey(name)
	for _, r := range e.Raw {
		if r.Key == k {
			out = append(out, r.Value)
		}
	}
	return out
}

func TestSynthetic(t *testing.T) {
	s := decodeBytes(t, synthetic())
	wantRejects(t, s, map[string]int{decode.ReasonMalformed: 1, decode.ReasonMissingField: 1})
	byRec := map[int64]*event.Event{}
	for _, e := range s.Events {
		byRec[e.Origin.Record] = e
	}
	if len(byRec) != 5 {
		t.Fatalf("%d events, want 5: %s", len(s.Events), s.JSONL())
	}
	for _, tc := range []struct {
		rec  int64
		want map[string][]string
		ts   time.Time
	}{
		{100, map[string][]string{
			"Provider_Name": {"Test-Provider"}, "Provider_Guid": {"{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"},
			"EventID": {"4624"}, "Qualifiers": nil, "Level": {"4"}, "Keywords": {"0x8020000000000000"},
			"TimeCreated": {"2024-05-02T10:11:12.3456789Z"}, "EventRecordID": {"100"},
			"Correlation_ActivityID": nil, "ProcessID": {"612"}, "ThreadID": {"700"},
			"Channel": {"Test/Operational"}, "Computer": {"WS-042.corp.example.com"},
			"Security_UserID": {"S-1-5-21-1-2-3-1001"}, "xmlns": nil,
			"TargetUserName": {"alice"}, "Tags": {"a", "b", "c"}, "Elevated": {"true"},
			"Blob": {"DEADBEEF"}, "Empty": {""}, "Data": {"first", "second", "third"}, "Mixed": {"pre-7-post"},
			"When": {"2024-05-02T10:11:12.3450000Z"}, "Ratio": {"0.5"}, "Signed": {"-5"},
			"Ansi": {"héllo"}, "Binary": {"0102"}, "Ünïcode": {"日本語 😀"}, "Amp": {"a&b"},
		}, synthTime},
		{101, map[string][]string{"TargetUserName": {"bob"}, "EventRecordID": {"101"}, "Tags": {"a", "b", "c"}}, synthTime},
		{102, map[string][]string{
			"EventID": {"104"}, "SubjectUserName": {"carol"}, "BackupPath": {""}, "Leaf": {"1099511627776"},
			"kind": nil, "LogFileCleared": nil, "Nested": nil, "TargetUserName": nil,
		}, synthTime},
		{103, map[string][]string{"EventID": {"42"}, "Channel": {"Raw"}, "TimeCreated": {"2024-01-02T03:04:05.1234567Z"}},
			time.Date(2024, 1, 2, 3, 4, 5, 123456700, time.UTC)},
		{105, map[string][]string{"SubjectUserName": {"dave"}, "Leaf": {""}}, synthWritten},
	} {
		e := byRec[tc.rec]
		if e == nil {
			t.Errorf("record %d missing", tc.rec)
			continue
		}
		for k, v := range tc.want {
			if got := raws(e, k); !slices.Equal(got, v) {
				t.Errorf("record %d: %s = %q, want %q", tc.rec, k, got, v)
			}
		}
		if !e.Timestamp.Equal(tc.ts) {
			t.Errorf("record %d: timestamp %v, want %v", tc.rec, e.Timestamp, tc.ts)
		}
	}
	for _, r := range s.Rejects {
		t.Logf("reject: %v", r)
	}
}

// TestSyntheticCarved decodes the chunk alone, then with a tail cut.
func TestSyntheticCarved(t *testing.T) {
	f := synthetic()
	s := decodeBytes(t, f[fileHeaderSize:])
	if len(s.Events) != 5 {
		t.Errorf("carved chunk: %d events, want 5", len(s.Events))
	}
	free := int(le32(f, fileHeaderSize+48))
	s = decodeBytes(t, f[:fileHeaderSize+free-10])
	if len(s.Events) != 5 || s.Reasons()[decode.ReasonTruncated] != 1 {
		t.Errorf("cut in the last record: %d events, rejects %v", len(s.Events), s.Reasons())
	}
	if !bytes.Equal(f[:8], fileMagic) {
		t.Fatal("bad fixture")
	}
}

func TestSyntheticGolden(t *testing.T) {
	s, err := decodetest.Decode(t, New(), "synthetic.evtx", synthetic())
	if err != nil {
		t.Fatal(err)
	}
	decodetest.Golden(t, "synthetic", s.JSONL())
}

// TestValueSizes renders every value type at every size from 0 to 17 bytes:
// values whose size does not fit their type must not panic (hex fallback).
func TestValueSizes(t *testing.T) {
	b := New().bx
	data := bytes.Repeat([]byte{0xff, 0x01}, 16)
	for typ := 0; typ < 0x100; typ++ {
		for n := 0; n <= 17; n++ {
			_ = appendValue(nil, byte(typ), data[:n])
			if n > 0 && typ&typArray == 0 {
				_ = b.render(byte(typ), data[:n])
			}
			eachItem(byte(typ)&^typArray, data[:n], func(item []byte) { _ = appendValue(nil, byte(typ)&^typArray, item) })
		}
	}
	for _, tc := range []struct {
		typ  byte
		data []byte
		want string
	}{
		{typUint16, []byte{7}, "07"},
		{typUint32, []byte{1, 0, 0, 0}, "1"},
		{typInt64, le64b(uint64(1) << 63), "-9223372036854775808"},
		{typHexInt32, le32b(0xabc), "0xabc"},
		{typSizeT, le64b(16), "0x10"},
		{typFileTime, le64b(0), "1601-01-01T00:00:00.0000000Z"},
		{typSID, []byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}, "S-1-5-18"},
		{typSID, []byte{1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}, "010200000000000512000000"},
		{typBool, le32b(0), "false"},
	} {
		if got := string(appendValue(nil, tc.typ, tc.data)); got != tc.want {
			t.Errorf("type 0x%02x % x: %q, want %q", tc.typ, tc.data, got, tc.want)
		}
	}
}
