package zeek

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
)

func addSeeds(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeTSV(f *testing.F) {
	addSeeds(f, "*.log")
	f.Add([]byte(connHeader + "1713502795.5\tC\\x09\t10.0.0.1\t1\t::1\t2\ttcp\n#separator ,\n#fields,ts\n1.5\n"))
	f.Add([]byte("#separator \\x\n#set_separator\t\n#fields\tts\tanswers\n#types\ttime\tset[string]\n1.5\ta,b\\\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, NewTSV(), data)
	})
}

func FuzzDecodeJSON(f *testing.F) {
	addSeeds(f, "*.json")
	f.Add([]byte(`{"_path":"dns","ts":"2024-04-19T09:00:01Z","answers":[["x"],{"a":1}],"id.orig_h":{"x":1}}` + "\n"))
	f.Add([]byte(`[{"ts":1e9,"uid":"C"},{"ts":"1.5e3"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, NewJSON(), data)
	})
}
