package governance

import (
	"cmp"
	"math"
	"slices"
)

// binomTest is the two-sided exact binomial test of x successes in n trials
// against success probability p: twice the smaller tail, capped at 1 (the
// "central" p-value, the one consistent with the Clopper-Pearson interval).
// It returns 1 for n == 0 and for arguments it cannot test (x out of 0..n, p
// outside [0, 1] or NaN), so a malformed cell is never significant.
func binomTest(x, n int64, p float64) float64 {
	if n <= 0 || x < 0 || x > n || !(p >= 0 && p <= 1) {
		return 1
	}
	lo := binomCDF(x, n, p)      // P(X <= x)
	hi := binomSurvival(x, n, p) // P(X >= x)
	v := 2 * math.Min(lo, hi)
	if v > 1 || math.IsNaN(v) {
		return 1
	}
	return v
}

// binomSurvival is P(X >= x) for X ~ Binomial(n, p): the regularized incomplete
// beta I_p(x, n-x+1).
func binomSurvival(x, n int64, p float64) float64 {
	switch {
	case x <= 0:
		return 1
	case x > n:
		return 0
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	return betaInc(float64(x), float64(n-x+1), p)
}

// binomCDF is P(X <= x) for X ~ Binomial(n, p): I_{1-p}(n-x, x+1), computed on
// the complement's own terms so small lower tails keep their precision.
func binomCDF(x, n int64, p float64) float64 {
	switch {
	case x < 0:
		return 0
	case x >= n:
		return 1
	case p <= 0:
		return 1
	case p >= 1:
		return 0
	}
	return betaInc(float64(n-x), float64(x+1), 1-p)
}

// betaInc is the regularized incomplete beta function I_x(a, b) for a, b > 0 and
// 0 <= x <= 1, by Lentz's continued fraction (Numerical Recipes' betai/betacf)
// on whichever side converges fast.
func betaInc(a, b, x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return clamp01(front * betaCF(a, b, x) / a)
	}
	return clamp01(1 - front*betaCF(b, a, 1-x)/b)
}

func clamp01(v float64) float64 {
	switch {
	case math.IsNaN(v):
		return 1
	case v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}

// betaCF evaluates the continued fraction of the incomplete beta function. It
// needs O(sqrt(max(a, b))) terms; the bound leaves room for that and stops with
// the best estimate rather than looping on hostile input.
func betaCF(a, b, x float64) float64 {
	const (
		eps   = 1e-15
		tiny  = 1e-300
		extra = 200
	)
	maxIter := extra + int(10*math.Sqrt(math.Max(a, b)))
	qab, qap, qam := a+b, a+1, a-1
	c := 1.0
	d := 1 - qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= maxIter; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}

// benjaminiHochberg returns the BH-adjusted p-values (q-values) of ps, in the
// same order: q_(i) = min over j >= i of p_(j) * m / j, capped at 1.
func benjaminiHochberg(ps []float64) []float64 {
	m := len(ps)
	q := make([]float64, m)
	if m == 0 {
		return q
	}
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	// Stable sort by p, ties by input order, so equal p-values get equal q.
	slices.SortStableFunc(idx, func(i, j int) int { return cmp.Compare(ps[i], ps[j]) })
	running := 1.0
	for r := m - 1; r >= 0; r-- {
		i := idx[r]
		v := ps[i] * float64(m) / float64(r+1)
		if v < running {
			running = v
		}
		// q >= p always holds (p_j >= p_i and m/j >= 1 for j >= i); the max
		// only undoes rounding in p*m/j.
		q[i] = max(running, ps[i])
	}
	return q
}
