package winevt

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
)

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeEvtxDump(f *testing.F) {
	addSeeds(f, "evtxdump_more.json", "cross_evtxdump.json")
	f.Add([]byte(goodDump))
	f.Add([]byte(`{"Event":{"System":{"EventID":{"#text":1},"TimeCreated_attributes":{"SystemTime":"2024-01-01T00:00:00Z"}},"EventData":{"Data":[{"#attributes":{"Name":"X"},"#text":"y"},"z"]},"UserData":{"W":{"A":{"#text":"1"},"B":[1,2]}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) { decodetest.Fuzz(t, NewEvtxDump(), data) })
}

func FuzzDecodeWinlogbeat(f *testing.F) {
	addSeeds(f, "winlogbeat8.ndjson")
	f.Add([]byte(goodWLB))
	f.Fuzz(func(t *testing.T, data []byte) { decodetest.Fuzz(t, NewWinlogbeat(), data) })
}

func FuzzDecodeFlat(f *testing.F) {
	addSeeds(f, "flat_otrf.ndjson", "cross_flat.ndjson")
	f.Add([]byte(goodFlat))
	f.Fuzz(func(t *testing.T, data []byte) { decodetest.Fuzz(t, NewFlat(), data) })
}
