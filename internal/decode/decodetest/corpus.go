package decodetest

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/decode"
)

// RegressionJSONFiles is how many evtx_dump JSON samples SigmaHQ's regression data holds.
const RegressionJSONFiles = 202

// EachRegressionJSON calls fn with the path and the sniff head (at most
// decode.SniffSize bytes) of every evtx_dump JSON sample in SigmaHQ's regression
// data, and fails the test unless all RegressionJSONFiles were seen.
func EachRegressionJSON(t *testing.T, fn func(path string, head []byte)) {
	t.Helper()
	root := Corpora(t, "sigma/regression_data")
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".json" {
			return err
		}
		b, err := os.ReadFile(p) //nolint:gosec // G122: a read-only walk of the test corpus
		if err != nil {
			return err
		}
		fn(p, b[:min(len(b), decode.SniffSize)])
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != RegressionJSONFiles {
		t.Errorf("walked %d regression JSON files, want %d", n, RegressionJSONFiles)
	}
}

// ZipContents returns the members of the corpus zip at rel, concatenated in order.
func ZipContents(t *testing.T, rel string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(Corpora(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close() //nolint:errcheck // read-only archive: closing cannot lose data
	var buf bytes.Buffer
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(&buf, rc) //nolint:gosec // G110: the corpus archive is trusted test data
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}
