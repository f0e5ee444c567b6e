package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/loadgen"
)

// testVigilCommand runs this test binary as vigil (TestMain, VIGIL_TEST_MAIN).
func testVigilCommand(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	c.Env = append(os.Environ(), "VIGIL_TEST_MAIN=1")
	return c
}

// TestLoadtestSpawn runs a short, slow load against a spawned serve (another
// process) and checks the report adds up; the performance target is measured
// by hand (docs/BENCHMARKS.md), not here.
func TestLoadtestSpawn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil serve in a child process and loads it for a few seconds")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	o := loadtestOptions{load: loadgen.DefaultOptions(), output: "json", spawn: true, drain: 30 * time.Second,
		minRate: 1000, maxP99: 10 * time.Second, command: testVigilCommand}
	o.load.Rate, o.load.Duration, o.load.Clients, o.load.Batch, o.load.Match = 2000, 3*time.Second, 2, 200, 0.01
	var stdout, stderr bytes.Buffer
	err := loadtest(ctx, Env{Stdout: &stdout, Stderr: &stderr}, o)
	if err != nil {
		t.Fatalf("loadtest: %v\nstderr: %s\nstdout: %s", err, stderr.String(), stdout.String())
	}
	var r struct {
		Load struct {
			Offered, Accepted, Rejected, Errors, Throttled, Matching int64
		}
		Processed    int64   `json:"processed"`
		Drained      bool    `json:"drained"`
		Signals      int64   `json:"signals"`
		LatencyCount uint64  `json:"latency_count"`
		LatencyP99   float64 `json:"latency_p99_s"`
		PeakRSS      float64 `json:"peak_rss_bytes"`
		FinalRSS     float64 `json:"final_rss_bytes"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"offered 6000 records (2000/s for 3 s)", r.Load.Offered == 6000},
		{"every offered record accepted", r.Load.Accepted == r.Load.Offered && r.Load.Rejected == 0 && r.Load.Errors == 0},
		{"processed == accepted, drained", r.Processed == r.Load.Accepted && r.Drained},
		{"records built to match a rule were sent", r.Load.Matching > 0},
		{"at least one signal per matching record", r.Signals >= r.Load.Matching},
		{"latency observed for the matching records", r.LatencyCount >= uint64(r.Load.Matching)},
		{"p99 latency positive and below 10 s", r.LatencyP99 > 0 && r.LatencyP99 < 10},
		{"resident memory reported (1 MiB..4 GiB)", r.PeakRSS > 1<<20 && r.PeakRSS < 4<<30 && r.FinalRSS > 0 && r.FinalRSS <= r.PeakRSS},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: report %+v", c.name, r)
		}
	}
}

// TestLoadtestFlags covers the flag combinations refused before any load.
func TestLoadtestFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no metrics", []string{"--target", "http://127.0.0.1:1", "--token", "x"}},
		{"spawn with a target", []string{"--spawn", "--target", "http://127.0.0.1:1"}},
		{"serve-arg without spawn", []string{"--serve-arg=--behavior=false", "--metrics", "http://127.0.0.1:1/metrics"}},
		{"bad output", []string{"--spawn", "--output", "xml"}},
		{"bad rate", []string{"--target", "http://127.0.0.1:1", "--token", "x", "--metrics", "http://127.0.0.1:1/metrics", "--rate", "0"}},
		{"target not a URL", []string{"--target", "127.0.0.1:8088", "--token", "x", "--metrics", "http://127.0.0.1:1/metrics"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Main(t.Context(), Env{Stdout: &stdout, Stderr: &stderr}, append([]string{"loadtest"}, tc.args...)); code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, ExitUsage, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("a report was printed: %s", stdout.String())
			}
		})
	}
}
