package okta

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
)

// TestCorpusNegatives checks the decoder on real JSON of other formats: Sniff gives 0
// for the 202 evtx_dump-style samples of SigmaHQ's regression data and for the OTRF
// CloudTrail records (which carry an "eventType" key), and decoding the CloudTrail
// records rejects each of the 103 with a reason instead of emitting anything.
func TestCorpusNegatives(t *testing.T) {
	root := decodetest.Corpora(t, "sigma/regression_data")
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".json" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if got := Sniff(b[:min(len(b), decode.SniffSize)]); got != 0 {
			t.Errorf("%s: Sniff = %d, want 0", p, got)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 202 {
		t.Errorf("walked %d regression JSON files, want 202", n)
	}

	zr, err := zip.OpenReader(decodetest.Corpora(t, "cloud/aws/ec2_proxy_s3_exfiltration.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var ct bytes.Buffer
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(&ct, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := Sniff(ct.Bytes()); got != 0 {
		t.Errorf("CloudTrail: Sniff = %d, want 0", got)
	}
	s, err := decodetest.Decode(t, NewDecoder(), "ct.json", ct.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 0 || s.Reasons()[decode.ReasonBadTimestamp] != 103 {
		t.Errorf("CloudTrail: %d events, rejects %v; want 0 events, 103 %s", len(s.Events), s.Reasons(), decode.ReasonBadTimestamp)
	}
}
