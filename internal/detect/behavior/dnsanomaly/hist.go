package dnsanomaly

import "math"

// hist is a fixed-bin histogram of a learned quantity, from which the median and
// the median absolute deviation are read for a robust z-score. Counts are halved
// when their total passes halveAt, so old behaviour fades (deterministically, by
// the number of observations, not by the wall clock).
type hist struct {
	lo, width float64
	bins      []float64
	total     float64
}

const halveAt = 1 << 20

func newHist(lo, hi float64, n int) hist {
	return hist{lo: lo, width: (hi - lo) / float64(n), bins: make([]float64, n)}
}

func (h *hist) bin(x float64) int {
	i := int(math.Floor((x - h.lo) / h.width))
	if i < 0 || math.IsNaN(x) {
		return 0
	}
	if i >= len(h.bins) {
		return len(h.bins) - 1
	}
	return i
}

func (h *hist) add(x, w float64) {
	if w <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return
	}
	h.bins[h.bin(x)] += w
	h.total += w
	if h.total > halveAt {
		h.total = 0
		for i := range h.bins {
			h.bins[i] /= 2
			h.total += h.bins[i]
		}
	}
}

// quantile returns the q-quantile, interpolated inside its bin.
func (h *hist) quantile(q float64) float64 {
	if h.total <= 0 {
		return h.lo
	}
	target := q * h.total
	var acc float64
	for i, c := range h.bins {
		if c > 0 && acc+c >= target {
			return h.lo + h.width*(float64(i)+(target-acc)/c)
		}
		acc += c
	}
	return h.lo + h.width*float64(len(h.bins))
}

// median and MAD (scaled by 1.4826 so it estimates a normal sigma).
func (h *hist) robust() (med, sigma float64) {
	med = h.quantile(0.5)
	// MAD from the same bins: the weighted median of |bin centre - med|.
	type dv struct{ d, w float64 }
	ds := make([]dv, 0, len(h.bins))
	for i, c := range h.bins {
		if c > 0 {
			ds = append(ds, dv{math.Abs(h.lo + h.width*(float64(i)+0.5) - med), c})
		}
	}
	// insertion sort: at most len(bins) entries, usually a handful
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j].d < ds[j-1].d; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
	var acc float64
	for _, x := range ds {
		acc += x.w
		if acc >= h.total/2 {
			return med, 1.4826 * x.d
		}
	}
	return med, 0
}
