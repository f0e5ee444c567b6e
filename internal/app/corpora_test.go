package app

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
)

// TestHuntCorpora is the known answer: hunting the EVTX attack samples, both
// Zeek data sets and the AWS CloudTrail data decodes every readable record, rejects
// none, and reports each file it cannot read and why. The figures were measured and
// cross-checked per decoder (see each decoder's corpus test).
func TestHuntCorpora(t *testing.T) {
	root := decodetest.Corpora(t, "")
	code, sum, errs := huntJSON(t, filepath.Join(root, "evtx-attack-samples"), filepath.Join(root, "zeek"), filepath.Join(root, "cloud", "aws"))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := map[string]int64{
		"evtx":       8255,   // 277 .evtx files
		"zeek-tsv":   170915, // RITA missing-host, 3 days, 983 logs
		"zeek-json":  4924,   // APT29 day 1 and 2, 93 logs
		"w3c":        4298,   // Tunna IIS log
		"access-log": 2661,   // Tomcat access log
		"cloudtrail": 103,    // ec2_proxy_s3_exfiltration.zip
		"csv":        301,    // aws_s3_honeybucketlogs.zip (CloudTrail alert export)
	}
	var total int64
	for f, n := range want {
		total += n
		if sum.EventsByFormat[f] != n {
			t.Errorf("%s: %d events, want %d", f, sum.EventsByFormat[f], n)
		}
	}
	if sum.Events != total || len(sum.EventsByFormat) != len(want) {
		t.Errorf("events %d by format %v, want %d", sum.Events, sum.EventsByFormat, total)
	}
	if sum.Rejected != 0 {
		t.Errorf("rejected %d records: %v %v", sum.Rejected, sum.RejectedByReason, sum.RejectExamples)
	}
	// What is not decoded is not a log: text reports, script listings without event
	// time, documentation, images, captures, code.
	kinds := map[string]int{}
	for _, s := range sum.Skipped {
		if s.Reason != "unknown-format" {
			t.Errorf("%s skipped as %s: %s", s.Name, s.Reason, s.Error)
		}
		base := filepath.Base(s.Name)
		switch {
		case strings.HasPrefix(base, "conn-summary."):
			kinds["zeek conn-summary report"]++
		case strings.HasSuffix(base, "_loaded_scripts.log"):
			kinds["zeek loaded_scripts listing"]++
		default:
			kinds["other"]++
		}
	}
	if kinds["zeek conn-summary report"] != 72 || kinds["zeek loaded_scripts listing"] != 6 || len(sum.Skipped) != 116 {
		t.Errorf("skipped %d: %v", len(sum.Skipped), kinds)
	}
}
