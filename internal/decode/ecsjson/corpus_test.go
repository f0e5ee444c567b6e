package ecsjson

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
	"github.com/vigilsec/vigil/internal/event"
)

// TestCorpusSniffNegatives checks that the ECS fallback does not claim real JSON of
// other formats: the 202 evtx_dump-style samples of SigmaHQ's regression data and the
// OTRF CloudTrail records (exported by Logstash, so they carry "@timestamp").
func TestCorpusSniffNegatives(t *testing.T) {
	root := decodetest.Corpora(t, "sigma/regression_data")
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".json" {
			return err
		}
		b := readHead(t, p)
		if got := Sniff(b); got != 0 {
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

	ct := cloudTrail(t)
	if got := Sniff(ct); got != 0 {
		t.Errorf("CloudTrail (Logstash export): Sniff = %d, want 0", got)
	}
	// Forced through the fallback, every record still decodes, raw fields intact.
	s, err := decodetest.Decode(t, NewDecoder(), "ec2_proxy_s3_exfiltration.json", ct)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 103 || len(s.Rejects) != 0 {
		t.Fatalf("got %d events, %d rejects; want 103, 0", len(s.Events), len(s.Rejects))
	}
	eventName := event.Lookup("eventName")
	for _, e := range s.Events {
		if _, ok := eventName.String(e); !ok || e.Timestamp.IsZero() {
			t.Fatalf("event without eventName or time: %s", e.AppendJSON(nil))
		}
	}
}

func readHead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > decode.SniffSize {
		b = b[:decode.SniffSize]
	}
	return b
}

func cloudTrail(t *testing.T) []byte {
	t.Helper()
	zr, err := zip.OpenReader(decodetest.Corpora(t, "cloud/aws/ec2_proxy_s3_exfiltration.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(&buf, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}
