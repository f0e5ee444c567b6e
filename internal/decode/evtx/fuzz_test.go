package evtx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
)

// FuzzDecode checks the decoder contract on mutated EVTX files: seeds are
// small real files, one real chunk alone (carved), and the synthetic fixture
// (a file and its chunk alone). Run it with minimization off: minimizing 64 KiB
// inputs stalls the workers for minutes.
//
//	go test -run='^$' -fuzz='^FuzzDecode$' -fuzztime=60s -fuzzminimizetime=0 ./internal/decode/evtx/
func FuzzDecode(f *testing.F) {
	for _, seed := range syntheticSeeds() {
		f.Add(seed)
	}
	if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" || corporaPresent() {
		dir := decodetest.Corpora(f, attackSamples)
		for _, name := range []string{
			"Privilege Escalation/System_7045_namedpipe_privesc.evtx",
			"Defense Evasion/DE_104_system_log_cleared.evtx",
		} {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
			f.Add(data[fileHeaderSize : fileHeaderSize+chunkSize])
		}
	}
	d := New()
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, d, data)
	})
}

func corporaPresent() bool {
	_, err := os.Stat(filepath.Join("..", "..", "..", "..", "shared", "corpora", attackSamples))
	return err == nil
}
