package winevt

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

// treeEvtxDump is the evtx_dump decoder without its fast path.
func treeEvtxDump() *Decoder { return &Decoder{shape: shapeEvtxDump, treeOnly: true} }

// sameAsTree checks that the evtx_dump fast path and the tree path decode data
// alike: events, rejects and the returned error.
func sameAsTree(t *testing.T, name string, data []byte) {
	t.Helper()
	sameShapeAsTree(t, shapeEvtxDump, name, data)
}

// sameShapeAsTree is sameAsTree for the decoder of shape sh.
func sameShapeAsTree(t *testing.T, sh shape, name string, data []byte) {
	t.Helper()
	d := &Decoder{shape: sh}
	fast, ferr := decodetest.Decode(t, d, name, data)
	tree, terr := decodetest.Decode(t, &Decoder{shape: sh, treeOnly: true}, name, data)
	// The same decoder again: what it keeps between streams changes nothing.
	if again, aerr := decodetest.Decode(t, d, name, data); !bytes.Equal(again.JSONL(), fast.JSONL()) || (aerr == nil) != (ferr == nil) {
		t.Fatalf("%s: a reused decoder differs\ninput: %q\nfirst:\n%s\nagain:\n%s", name, data, fast.JSONL(), again.JSONL())
	}
	if (ferr == nil) != (terr == nil) || ferr != nil && ferr.Error() != terr.Error() {
		t.Fatalf("%s: fast path error %v, tree path error %v", name, ferr, terr)
	}
	if f, tr := fast.JSONL(), tree.JSONL(); !bytes.Equal(f, tr) {
		t.Fatalf("%s: fast path and tree path differ\ninput: %q\nfast:\n%s\ntree:\n%s", name, data, f, tr)
	}
	for i := range fast.Events {
		if fast.Events[i].RawTruncated != tree.Events[i].RawTruncated {
			t.Fatalf("%s: event %d: RawTruncated differs", name, i)
		}
	}
}

// fastCases are documents of the shapes the fast path takes or gives up on.
var fastCases = []string{
	goodDump,
	`{"Event":{"System":{"EventID":{"#text":1},"TimeCreated_attributes":{"SystemTime":"2024-01-01T00:00:00Z"}},"EventData":{"Data":[{"#attributes":{"Name":"X"},"#text":"y"},"z"]},"UserData":{"W":{"A":{"#text":"1"},"B":[1,2]}}}}`,
	`{"Event":{"System":{"EventID":{"#text":4625,"#attributes":{"Qualifiers":16384}},"Provider":{"#attributes":{"Name":"P","Guid":"5770385f-c22a-43e0-bf4c-06f5698ffbd9"}},"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}},"Correlation":{"#attributes":{"ActivityID":"5770385F-C22A-43E0-BF4C-06F5698FFBD9","RelatedActivityID":null}},"Extra":"x","Extra2":true,"Extra3":null,"Extra4":-1.5e3}}}`,
	`{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}},"EventData":{"#attributes":{"Name":"x"},"SubjectUserSid":"S-1-5-18","Empty":null,"Flag":false,"TargetLogonGuid":"00000000-0000-0000-0000-000000000000","TargetLogonGUID":"{00000000-0000-0000-0000-000000000000}","Attr":{"#attributes":{"a":1}},"Txt":{"#text":["a",["b"],{"#text":"c"}]},"Binary":"00FF","Esc":"C:\\a\\u00e9\"\u0041"}}}`,
	`{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}},"EventData":{"Data":["a",null,1,["b",["c",["d"]]],{"#text":["e","f"]},{"#attributes":{"Name":"N"}},{"#attributes":{"Name":"G_Guid"},"#text":"5770385f-c22a-43e0-bf4c-06f5698ffbd9"},{"#attributes":{"Name":1},"#text":"q"},{"x":1}],"Binary":{"#text":"AB"}}}}`,
	`{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"u"},"SubjectUserName":"bob","SubjectDomainName":{"#text":"CORP"},"List":[{"Item":"a"},{"Item":"b"}],"ClientProcessGuid":"5770385f-c22a-43e0-bf4c-06f5698ffbd9","N":null,"#text":"t"}}}}`,
	// Layouts the fast path gives up on.
	`{"Event":{"EventData":{"A":"1"},"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}}}}`,
	`{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}},"System":{"EventID":2}}}`,
	`{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}},"UserData":{"A":"1"},"EventData":{"B":"2"}}}`,
	`{"Ev\u0065nt":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}}}}`,
	`{"Event":{"System":{"Event\u0049D":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}}}}`,
	`{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}},"EventData":{"A\u0042":"1","C":{"x":1},"D":[1,{"y":2}]}}}`,
	`{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}}}`,
	`{"Event":{"System":{"EventID":[1],"Level":{"a":1},"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}}}}`,
	`{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":{"x":1}}}}}}`,
	`{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}},"EventData":["a","b"]}}`,
	`{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}},"EventData":"x"}}`,
	`{"Event":{"System":{"EventID":nan,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}}}}`,
	`{"Event":{"System":{"EventID":-Inf,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}}}}`,
	`{"Event":{"System":{"EventID":1-2,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}}}}`,
	`{"Event":"x"}`,
	`{"Event":{"System":{"EventID":1,}}}`,
	`{"Event":{"System":{"EventID":1}},}`,
	`{"Event":{"System":{"EventID":1}}} x`,
	`{"Event":{"System":{"EventID":"1\"}}}`,
	`[{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}}}}]`,
	"{\"Event\":{\"System\":{\"EventID\":1,\"TimeCreated\":{\"#attributes\":{\"SystemTime\":\"2024-01-01T00:00:00Z\"}}},\"EventData\":{\"A\":" + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}}}",
	"{\"Event\":{\"System\":{\"EventID\":1,\"TimeCreated\":{\"#attributes\":{\"SystemTime\":\"2024-01-01T00:00:00Z\"}}},\"EventData\":{\"A\":" + strings.Repeat("[", 400) + strings.Repeat("]", 400) + "}}}",
	"{\"Event\":{\"System\":{\"EventID\":1,\"TimeCreated\":{\"#attributes\":{\"SystemTime\":\"2024-01-01T00:00:00Z\"}}},\"EventData\":{\"A\":" + strings.Repeat(`{"#text":`, 400) + "1" + strings.Repeat("}", 400) + "}}}",
}

func TestEvtxDumpFastPathMatchesTree(t *testing.T) {
	for i, c := range fastCases {
		sameAsTree(t, "case", []byte(c))
		// The same documents in one stream, after a first record, and repeated, so
		// the per-stream caches are exercised.
		sameAsTree(t, "stream", []byte(goodDump+"\n"+c+"\n"+c+"\n"+fastCases[(i+1)%len(fastCases)]+"\n"+c))
	}
	for _, name := range []string{"cross_evtxdump.json", "evtxdump_more.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		sameAsTree(t, name, data)
		sameAsTree(t, name+" compact", compactLines(t, name))
	}
}

// TestEvtxDumpFastPathTaken checks that the fixtures' records, all of the common
// layouts, take the fast path.
func TestEvtxDumpFastPathTaken(t *testing.T) {
	for _, name := range []string{"cross_evtxdump.json", "evtxdump_more.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if fast, n := fastRecords(data); fast != n {
			t.Errorf("%s: %d of %d records took the fast path", name, fast, n)
		}
	}
}

// fastRecords counts the records of data and those the evtx_dump fast path takes.
func fastRecords(data []byte) (fast, n int) { return fastShapeRecords(shapeEvtxDump, data) }

// fastShapeRecords is fastRecords for the decoder of shape sh.
func fastShapeRecords(sh shape, data []byte) (fast, n int) {
	s := &stream{shape: sh, norm: NewNormalizer()}
	jr := decode.NewJSONReader(bytes.NewReader(data), decode.Limits{})
	for {
		rec, err := jr.Next()
		if err != nil {
			return fast, n
		}
		s.resetRecord()
		var e event.Event
		if s.fastRecord(&e, rec.Bytes) {
			fast++
		}
		n++
	}
}

// TestRegressionSamplesFastPath compares both paths on every SigmaHQ regression
// sample.
func TestRegressionSamplesFastPath(t *testing.T) {
	root := decodetest.Corpora(t, "sigma/regression_data")
	files, fast, records := 0, 0, 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		sameAsTree(t, filepath.Base(path), data)
		f, n := fastRecords(data)
		fast, records = fast+f, records+n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 202 || records != 238 || fast != records {
		t.Errorf("compared %d files, %d records, %d on the fast path; want 202, 238, all", files, records, fast)
	}
}

// FuzzEvtxDumpFastPath checks that the fast path decodes any input as the tree
// path does.
func FuzzEvtxDumpFastPath(f *testing.F) {
	addSeeds(f, "evtxdump_more.json", "cross_evtxdump.json")
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameAsTree(t, "fuzz", data) })
}

// regressionNDJSON returns the SigmaHQ regression samples as one NDJSON stream: 238
// mostly distinct events, a less repetitive input than the cross_* fixtures.
func regressionNDJSON(b *testing.B) []byte {
	root := decodetest.Corpora(b, "sigma/regression_data")
	var out []byte
	var p fastjson.Parser
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		jr := decode.NewJSONReader(bytes.NewReader(data), decode.Limits{})
		for {
			rec, err := jr.Next()
			if err != nil {
				return nil
			}
			v, err := p.ParseBytes(rec.Bytes)
			if err != nil {
				return err
			}
			out = append(v.MarshalTo(out), '\n')
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkDecodeEvtxDumpCorpus decodes the regression samples, fast path and tree
// path.
func BenchmarkDecodeEvtxDumpCorpus(b *testing.B) {
	data := regressionNDJSON(b)
	b.Run("fast", func(b *testing.B) { benchDecodeN(b, NewEvtxDump(), data, 20) })
	b.Run("tree", func(b *testing.B) { benchDecodeN(b, treeEvtxDump(), data, 20) })
}
