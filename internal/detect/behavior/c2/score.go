package c2

import (
	"math"
	"slices"
)

// The statistics below follow RITA v5 (activecm/rita, analysis/beacons.go):
// calculateBowleySkewness, calculateMedianAbsoluteDeviation,
// calculateStatisticalScore, calculateCoefficientOfVariationScore,
// getFrequencyCounts, calculateBimodalFitScore and getDurationScore, with
// RITA's default parameters.

const (
	histModeSensitivity = 0.05 // RITA histogram_mode_sensitivity
	bimodalOutliers     = 1    // RITA histogram_bimodal_outlier_removal
	bimodalMinHours     = 11   // RITA histogram_bimodal_min_hours_seen
	durMinHours         = 6    // RITA duration_min_hours_seen
	durIdealHours       = 12   // RITA duration_consistency_ideal_hours_seen
)

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// median of sorted data.
func median(s []float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// quartiles of sorted data as montanaflynn/stats.Quartile computes them (the
// library RITA uses): Q1 and Q3 are the medians of the lower and upper halves,
// the middle value excluded when the count is odd.
func quartiles(s []float64) (q1, q2, q3 float64) {
	n := len(s)
	c1 := n / 2
	c2 := n / 2
	if n%2 == 1 {
		c2 = n/2 + 1
	}
	return median(s[:c1]), median(s), median(s[c2:])
}

// bowleyScore returns Bowley's skewness of sorted data (0 under RITA's guards)
// and 1-|skewness|.
func bowleyScore(s []float64) (skew, score float64) {
	if len(s) < 3 {
		return 0, 0
	}
	q1, q2, q3 := quartiles(s)
	if den := q3 - q1; den >= 10 && q2 != q1 && q2 != q3 {
		skew = (q1 + q3 - 2*q2) / den
	}
	return skew, 1 - math.Abs(skew)
}

// madScore returns the median absolute deviation of sorted data and
// (median-MAD)/median, def when the median is below 1, never negative.
func madScore(s []float64, def float64, scratch *[]float64) (mad, score float64) {
	m := median(s)
	dev := (*scratch)[:0]
	for _, v := range s {
		dev = append(dev, math.Abs(v-m))
	}
	slices.Sort(dev)
	*scratch = dev
	mad = median(dev)
	score = def
	if m >= 1 {
		score = (m - mad) / m
	}
	if score < 0 || math.IsNaN(score) {
		score = 0
	}
	return mad, score
}

// statScore is RITA's calculateStatisticalScore over sorted data.
func statScore(s []float64, def float64, scratch *[]float64) (score, skew, mad float64) {
	skew, ss := bowleyScore(s)
	mad, ms := madScore(s, def, scratch)
	return round3((ss + ms) / 2), skew, mad
}

// cvScore is RITA's calculateCoefficientOfVariationScore over the connection
// counts per bin.
func cvScore(freq []uint32) float64 {
	var total float64
	for _, f := range freq {
		total += float64(f)
	}
	if total <= 0 || len(freq) == 0 {
		return 0
	}
	mean := total / float64(len(freq))
	var sd float64
	for _, f := range freq {
		d := float64(f) - mean
		sd += d * d
	}
	cv := math.Sqrt(sd/float64(len(freq))) / mean
	if cv > 1 {
		return 0
	}
	return min(round3(1-cv), 1)
}

// freqStats is RITA's getFrequencyCounts: the non-empty bins, the longest run
// of non-empty bins (wrapping), and the bimodal fit of the bar heights.
func freqStats(freq []uint32) (bars, longestRun int, bimodal float64) {
	var largest uint32
	for _, f := range freq {
		if f > 0 {
			bars++
		}
		largest = max(largest, f)
	}
	run := 0
	for i := range 2 * len(freq) {
		if freq[i%len(freq)] > 0 {
			run++
		} else {
			longestRun, run = max(longestRun, run), 0
		}
	}
	longestRun = min(max(longestRun, run), len(freq))
	if bars < bimodalMinHours || largest == 0 {
		return bars, longestRun, 0
	}
	binSize := math.Ceil(float64(largest) * histModeSensitivity)
	counts := map[int]int{}
	for _, f := range freq {
		if f > 0 {
			counts[int(math.Floor(float64(f)/binSize)*binSize)]++
		}
	}
	var first, second int
	for _, c := range counts { // order-free: only the two largest values matter
		if c > first {
			first, second = c, first
		} else if c > second {
			second = c
		}
	}
	fit := float64(first+second) / math.Max(float64(bars-bimodalOutliers), 1)
	return bars, longestRun, min(round3(fit), 1)
}

// durationScore is RITA's getDurationScore.
func durationScore(spanFrom, spanTo, first, last int64, bars, longestRun int) float64 {
	if bars < durMinHours || spanTo <= spanFrom {
		return 0
	}
	coverage := min(math.Ceil(float64(last-first)/float64(spanTo-spanFrom)*1000)/1000, 1)
	consistency := min(math.Ceil(float64(longestRun)/durIdealHours*1000)/1000, 1)
	return max(coverage, consistency)
}

// bucketedScore is RITA's calculateBucketedScore with its category scores
// (none 0.2, low 0.4, medium 0.6, high 0.8).
func bucketedScore(v, base, low, med, high float64) float64 {
	switch {
	case v < base:
		return 0
	case v < low:
		return 0.2 + (v-base)/(low-base)*0.2
	case v < med:
		return 0.4 + (v-low)/(med-low)*0.2
	default:
		return 0.6 + (min(v, high)-med)/(high-med)*0.2
	}
}
