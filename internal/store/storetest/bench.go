package storetest

import (
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

var benchT0 = time.Date(2024, 3, 1, 12, 0, 0, 999999999, time.UTC)

// BenchSignal is the n-th signal of the implementations' PutSignals
// benchmarks: a realistic Sigma signal (two entities, two evidence refs, field
// matches; about 900 bytes of JSON), the same in every implementation's
// benchmark so their figures compare side by side.
func BenchSignal(n int) detect.Signal {
	tm := benchT0.Add(time.Duration(n) * time.Millisecond)
	user := detect.Entity{Kind: detect.EntityUser, Value: fmt.Sprintf(`corp\user%d`, n%500)}
	host := detect.Entity{Kind: detect.EntityHost, Value: fmt.Sprintf("ws-%d.corp.example", n%200)}
	ev := []detect.EvidenceRef{
		{EventID: fmt.Sprintf("%032x", 2*n), Time: tm.Add(-time.Second), Source: "/var/log/Security.evtx", Offset: int64(n) * 2048},
		{EventID: fmt.Sprintf("%032x", 2*n+1), Time: tm, Source: "/var/log/Security.evtx", Offset: int64(n)*2048 + 1024},
	}
	return detect.Signal{
		ID:              detect.SignalID("sigma", "5af54681-df95-4c26-854f-2565e13cfab0", ev),
		Time:            tm,
		DetectorID:      "sigma",
		DetectorVersion: "1.0.0",
		RuleID:          "5af54681-df95-4c26-854f-2565e13cfab0",
		Title:           "Suspicious Encoded PowerShell Command Line",
		Severity:        detect.SeverityHigh,
		Confidence:      0.7,
		Tactics:         []string{"execution"},
		Techniques:      []string{"T1059.001"},
		Entities:        []detect.Entity{user, host},
		Explanation: detect.Explanation{
			Summary: "powershell.exe started with -EncodedCommand",
			Matches: []detect.FieldMatch{
				{Field: "Image", Value: `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`},
				{Field: "CommandLine", Value: "powershell.exe -NoP -W Hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA"},
			},
		},
		Evidence: ev,
	}
}
