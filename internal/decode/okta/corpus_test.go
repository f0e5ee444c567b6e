package okta

import (
	"testing"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
)

// TestCorpusNegatives checks the decoder on real JSON of other formats: Sniff gives 0
// for the 202 evtx_dump-style samples of SigmaHQ's regression data and for the OTRF
// CloudTrail records (which carry an "eventType" key), and decoding the CloudTrail
// records rejects each of the 103 with a reason instead of emitting anything.
func TestCorpusNegatives(t *testing.T) {
	decodetest.EachRegressionJSON(t, func(p string, head []byte) {
		if got := Sniff(head); got != 0 {
			t.Errorf("%s: Sniff = %d, want 0", p, got)
		}
	})
	ct := decodetest.ZipContents(t, "cloud/aws/ec2_proxy_s3_exfiltration.zip")
	if got := Sniff(ct); got != 0 {
		t.Errorf("CloudTrail: Sniff = %d, want 0", got)
	}
	s, err := decodetest.Decode(t, NewDecoder(), "ct.json", ct)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 0 || s.Reasons()[decode.ReasonBadTimestamp] != 103 {
		t.Errorf("CloudTrail: %d events, rejects %v; want 0 events, 103 %s", len(s.Events), s.Reasons(), decode.ReasonBadTimestamp)
	}
}
