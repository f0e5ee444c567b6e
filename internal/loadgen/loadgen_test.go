package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

const exposition = `# HELP vigil_stream_records_total Log records the stream processed.
# TYPE vigil_stream_records_total counter
vigil_stream_records_total 1500
# TYPE vigil_stream_signals_total counter
vigil_stream_signals_total{detector="sigma"} 7
vigil_stream_signals_total{detector="behavior"} 3
# TYPE vigil_wal_backlog_bytes gauge
vigil_wal_backlog_bytes 4096
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.048576e+08
# TYPE vigil_stream_signal_latency_seconds histogram
vigil_stream_signal_latency_seconds_bucket{le="0.001"} 0
vigil_stream_signal_latency_seconds_bucket{le="0.002"} 50
vigil_stream_signal_latency_seconds_bucket{le="0.004"} 90
vigil_stream_signal_latency_seconds_bucket{le="0.008"} 100
vigil_stream_signal_latency_seconds_bucket{le="+Inf"} 100
vigil_stream_signal_latency_seconds_sum 0.25
vigil_stream_signal_latency_seconds_count 100
`

func TestParseMetrics(t *testing.T) {
	s, err := ParseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if s.Records != 1500 || s.Signals != 10 || s.Backlog != 4096 || s.RSS != 100<<20 {
		t.Errorf("sample %+v", s)
	}
	if s.Latency.Count != 100 || len(s.Latency.Bounds) != 4 || s.Latency.Counts[1] != 50 {
		t.Errorf("latency %+v (the +Inf bucket is left out of the bounds)", s.Latency)
	}
	for _, bad := range []string{"vigil_stream_records_total{", "# TYPE x counter\nx abc\n", "x{a=\"b} 1\n"} {
		if _, err := ParseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if s, err := ParseMetrics(strings.NewReader("")); err != nil || s.Records != 0 || s.Latency.Count != 0 {
		t.Errorf("empty exposition: %+v, %v", s, err)
	}
}

func TestHistogramQuantile(t *testing.T) {
	h := Histogram{Bounds: []float64{0.001, 0.002, 0.004, 0.008}, Counts: []uint64{0, 50, 90, 100}, Count: 100}
	for _, tc := range []struct {
		q, want float64
	}{
		{0.5, 0.002},   // the 50th observation is the last of (0.001, 0.002]
		{0.25, 0.0015}, // halfway through that bucket
		{0.9, 0.004},   // end of (0.002, 0.004]
		{0.99, 0.0076}, // 9 of 10 through (0.004, 0.008]
		{0, 0.001},     // the lower edge of the first non-empty bucket
		{1, 0.008},     //
		{1.5, 0.008},   // clamped
		{-1, 0.001},    // clamped
	} {
		if got := h.Quantile(tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("q%.2f = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := (Histogram{Bounds: h.Bounds, Counts: make([]uint64, 4)}).Quantile(0.5); !math.IsNaN(got) {
		t.Errorf("no observations: %v, want NaN", got)
	}
	// observations above the last bound (the +Inf bucket): the last bound
	over := Histogram{Bounds: []float64{1, 2}, Counts: []uint64{1, 2}, Count: 10}
	if got := over.Quantile(0.99); got != 2 {
		t.Errorf("+Inf bucket: %v, want 2", got)
	}
}

func TestHistogramSub(t *testing.T) {
	a := Histogram{Bounds: []float64{1, 2}, Counts: []uint64{3, 5}, Count: 6, Sum: 7}
	b := Histogram{Bounds: []float64{1, 2}, Counts: []uint64{10, 15}, Count: 16, Sum: 20}
	d, err := b.Sub(a)
	if err != nil || d.Count != 10 || d.Counts[0] != 7 || d.Counts[1] != 10 || d.Sum != 13 {
		t.Errorf("b-a = %+v, %v", d, err)
	}
	if d, err := b.Sub(Histogram{}); err != nil || d.Count != 16 {
		t.Errorf("b-nothing = %+v, %v", d, err)
	}
	if _, err := a.Sub(b); err == nil {
		t.Error("counts going down: no error")
	}
	if _, err := b.Sub(Histogram{Bounds: []float64{1, 3}, Counts: []uint64{0, 0}}); err == nil {
		t.Error("other buckets: no error")
	}
}

func TestGeneratorBatch(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name          string
		match, syslog float64
		format        string
	}{
		{"windows with hits", 0.5, 0, FormatWindows},
		{"windows without hits", 0, 0, FormatWindows},
		{"syslog", 0.5, 1, FormatSyslog},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGenerator(7, tc.match, tc.syslog)
			lines, format, matching := g.Batch(nil, 400, now)
			if format != tc.format {
				t.Errorf("format %s, want %s", format, tc.format)
			}
			sc := bufio.NewScanner(bytes.NewReader(lines))
			sc.Buffer(nil, 1<<20)
			n, hits := 0, 0
			for sc.Scan() {
				n++
				line := sc.Text()
				if strings.Contains(line, "delete shadows") {
					hits++
				}
				if format == FormatWindows {
					var v struct {
						Event struct{ System struct{ EventID int } }
					}
					if err := json.Unmarshal([]byte(line), &v); err != nil || v.Event.System.EventID == 0 {
						t.Fatalf("line %d not an evtx_dump event (%v): %s", n, err, line)
					}
				} else if !strings.HasPrefix(line, "2026-11-25T11:59:59.99") || !strings.Contains(line, " sshd[") {
					t.Fatalf("line %d not an sshd line at now: %s", n, line)
				}
			}
			if n != 400 || hits != matching {
				t.Errorf("%d lines, %d hits; Batch said %d matching", n, hits, matching)
			}
			if tc.match == 0.5 && tc.syslog == 0 && (matching < 120 || matching > 280) {
				t.Errorf("%d of 400 matching at 0.5", matching)
			}
			if (tc.match == 0 || tc.syslog == 1) && matching != 0 {
				t.Errorf("%d matching, want 0", matching)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"2", 2 * time.Second}, {"0", 0}, {"", time.Second}, {"soon", time.Second}, {"-3", time.Second},
		{"Mon, 02 Jan 2006 15:04:05 GMT", 0}} {
		if got := retryAfter(tc.in); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := DefaultOptions()
	ok.Target, ok.Token = "http://127.0.0.1:8088", "t"
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, f := range map[string]func(*Options){
		"no target": func(o *Options) { o.Target = "" }, "not a URL": func(o *Options) { o.Target = "127.0.0.1:8088" },
		"no token": func(o *Options) { o.Token = "" }, "rate 0": func(o *Options) { o.Rate = 0 },
		"clients 0": func(o *Options) { o.Clients = 0 }, "batch huge": func(o *Options) { o.Batch = 1 << 20 },
		"match > 1": func(o *Options) { o.Match = 2 }, "duration 0": func(o *Options) { o.Duration = 0 },
	} {
		o := ok
		f(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
}

// TestCheck: a rate short of the target by less than a batch per client (in
// flight when the load stopped) passes; more, a slow p99, an undrained stream
// or failed requests are misses.
func TestCheck(t *testing.T) {
	base := Report{Duration: 600 * time.Second, Clients: 4, Batch: 1000, AcceptedRate: 100_001, ProcessedRate: 100_000,
		Drained: true, LatencyCount: 10, LatencyP99: 0.15}
	targets := Targets{MinRate: 100_000, MaxP99: 200 * time.Millisecond}
	for _, tc := range []struct {
		name   string
		change func(*Report)
		want   string // the miss, "" for none
	}{
		{"met", func(*Report) {}, ""},
		{"last batches in flight", func(r *Report) { r.AcceptedRate, r.ProcessedRate = 99_995, 99_994 }, ""},
		{"processed short", func(r *Report) { r.ProcessedRate = 99_990 }, "processed 99990 records/s < 100000"},
		{"accepted short", func(r *Report) { r.AcceptedRate = 98_000 }, "accepted 98000 records/s < 100000"},
		{"short run: more slack", func(r *Report) { r.Duration, r.ProcessedRate = 60*time.Second, 99_950 }, ""},
		{"p99", func(r *Report) { r.LatencyP99 = 0.25 }, "p99 latency 250ms > 200ms"},
		{"no latency", func(r *Report) { r.LatencyCount = 0 }, "no signal latency observed"},
		{"not drained", func(r *Report) { r.Drained, r.Processed = false, 5 }, "not drained: processed 5 of 0 accepted records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			tc.change(&r)
			miss := r.Check(targets)
			switch {
			case tc.want == "" && len(miss) > 0:
				t.Errorf("missed %q", miss)
			case tc.want != "" && (len(miss) != 1 || miss[0] != tc.want):
				t.Errorf("missed %q, want [%q]", miss, tc.want)
			}
		})
	}
}
