package c2

import (
	"math"
	"testing"
)

// TestStatistics checks the RITA statistics on hand-computed inputs.
func TestStatistics(t *testing.T) {
	var scratch []float64
	cases := []struct {
		name            string
		in              []float64
		q1, q2, q3      float64
		skew, mad, stat float64
	}{
		// Even count: halves [10 20 30] [40 50 100].
		{"even", []float64{10, 20, 30, 40, 50, 100}, 20, 35, 50, 0, 15, 0.5 * (1 + 20/35.0)},
		// Odd count: the median is left out of both halves.
		{"odd", []float64{100, 110, 120, 200, 400}, 105, 120, 300, (105 + 300 - 240) / 195.0, 20, 0.5*(1-165/195.0) + 0.5*(100/120.0)},
		// Q3-Q1 below 10: skewness is taken as 0.
		{"narrow", []float64{300, 300, 301, 305, 306}, 300, 301, 305.5, 0, 1, 0.998},
	}
	for _, tc := range cases {
		q1, q2, q3 := quartiles(tc.in)
		if q1 != tc.q1 || q2 != tc.q2 || q3 != tc.q3 {
			t.Errorf("%s: quartiles %v %v %v, want %v %v %v", tc.name, q1, q2, q3, tc.q1, tc.q2, tc.q3)
		}
		score, skew, mad := statScore(tc.in, 1, &scratch)
		if math.Abs(skew-tc.skew) > 1e-9 || mad != tc.mad || math.Abs(score-round3(tc.stat)) > 1e-9 {
			t.Errorf("%s: score %v skew %v mad %v, want %v %v %v", tc.name, score, skew, mad, round3(tc.stat), tc.skew, tc.mad)
		}
	}
	if got := cvScore([]uint32{10, 10, 10, 10}); got != 1 {
		t.Errorf("flat histogram cv score %v", got)
	}
	if got := cvScore([]uint32{40, 0, 0, 0}); got != 0 {
		t.Errorf("one-bar histogram cv score %v", got) // cv = sqrt(3) > 1
	}
	// Alternating 4 and 12 connections an hour: CV 0.5, bimodal fit 24/23 capped at 1.
	alt := make([]uint32, 24)
	for i := range alt {
		alt[i] = 4 + 8*uint32(i%2)
	}
	if cv := cvScore(alt); cv != 0.5 {
		t.Errorf("alternating cv score %v", cv)
	}
	bars, run, bimodal := freqStats(alt)
	if bars != 24 || run != 24 || bimodal != 1 {
		t.Errorf("alternating: bars %d run %d bimodal %v", bars, run, bimodal)
	}
	// Wrapping run: hours 20-23 and 0-3 are one run of 8.
	wrap := make([]uint32, 24)
	for _, h := range []int{0, 1, 2, 3, 20, 21, 22, 23, 10} {
		wrap[h] = 1
	}
	if _, run, _ := freqStats(wrap); run != 8 {
		t.Errorf("wrapping run %d, want 8", run)
	}
	if got := durationScore(0, 86400, 0, 43200, 6, 3); got != 0.5 {
		t.Errorf("duration score %v, want coverage 0.5", got)
	}
	if got := durationScore(0, 86400, 0, 86400, 5, 24); got != 0 {
		t.Errorf("duration score with 5 hours %v, want 0", got)
	}
	for _, c := range []struct{ v, want float64 }{{3599, 0}, {3600, 0.2}, {4 * 3600, 0.4}, {6 * 3600, 0.5}, {12 * 3600, 0.8}, {100 * 3600, 0.8}} {
		if got := bucketedScore(c.v, 3600, 4*3600, 8*3600, 12*3600); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("bucketed(%v) = %v, want %v", c.v, got, c.want)
		}
	}
	if group(1034) != "1,034" || group(12) != "12" || group(1234567) != "1,234,567" {
		t.Error("group")
	}
}
