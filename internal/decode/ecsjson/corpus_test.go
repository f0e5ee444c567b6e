package ecsjson

import (
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

// TestCorpusSniffNegatives checks that the ECS fallback does not claim real JSON of
// other formats: the 202 evtx_dump-style samples of SigmaHQ's regression data and the
// OTRF CloudTrail records (exported by Logstash, so they carry "@timestamp").
func TestCorpusSniffNegatives(t *testing.T) {
	decodetest.EachRegressionJSON(t, func(p string, head []byte) {
		if got := Sniff(head); got != 0 {
			t.Errorf("%s: Sniff = %d, want 0", p, got)
		}
	})

	ct := decodetest.ZipContents(t, "cloud/aws/ec2_proxy_s3_exfiltration.zip")
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
