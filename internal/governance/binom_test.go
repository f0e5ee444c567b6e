package governance

import (
	"math"
	"testing"
)

// directTails sums the binomial probabilities term by term (small n only).
func directTails(x, n int64, p float64) (lo, hi float64) {
	for k := int64(0); k <= n; k++ {
		lc, _ := math.Lgamma(float64(n + 1))
		l1, _ := math.Lgamma(float64(k + 1))
		l2, _ := math.Lgamma(float64(n - k + 1))
		var pk float64
		switch p {
		case 0:
			pk = b2f(k == 0)
		case 1:
			pk = b2f(k == n)
		default:
			pk = math.Exp(lc - l1 - l2 + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
		}
		if k <= x {
			lo += pk
		}
		if k >= x {
			hi += pk
		}
	}
	return lo, hi
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestBinomTailsMatchDirectSum(t *testing.T) {
	for _, n := range []int64{1, 2, 5, 12, 40, 150, 400} {
		for _, p := range []float64{0, 0.001, 0.05, 0.2, 1.0 / 3, 0.5, 0.77, 0.999, 1} {
			for x := int64(0); x <= n; x += 1 + n/37 {
				lo, hi := directTails(x, n, p)
				if got := binomCDF(x, n, p); math.Abs(got-lo) > 1e-9*math.Max(1, lo) && math.Abs(got-lo) > 1e-12 {
					t.Errorf("P(X<=%d | n=%d, p=%v) = %v, direct sum %v", x, n, p, got, lo)
				}
				if got := binomSurvival(x, n, p); math.Abs(got-hi) > 1e-9*math.Max(1, hi) && math.Abs(got-hi) > 1e-12 {
					t.Errorf("P(X>=%d | n=%d, p=%v) = %v, direct sum %v", x, n, p, got, hi)
				}
			}
		}
	}
}

func TestBinomTestKnownAnswers(t *testing.T) {
	tests := []struct {
		name    string
		x, n    int64
		p, want float64
	}{
		// P(X>=7 | 10, 0.2) = 8.643584e-4 by hand (120*.2^7*.8^3 + 45*.2^8*.8^2 + 10*.2^9*.8 + .2^10).
		{"upper tail doubled", 7, 10, 0.2, 2 * 8.643584e-4},
		// Symmetric: P(X>=10 | 12, .5) = (66+12+1)/4096.
		{"fair coin", 10, 12, 0.5, 2 * 79.0 / 4096},
		{"at expectation", 5, 10, 0.5, 1},
		{"no trials", 0, 0, 0.3, 1},
		{"x above n is untestable", 11, 10, 0.5, 1},
		{"NaN p is untestable", 1, 10, math.NaN(), 1},
		{"impossible under p=0", 1, 10, 0, 0},
		{"zero of many when a third expected", 0, 60, 1.0 / 3, 2 * math.Pow(2.0/3, 60)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := binomTest(tt.x, tt.n, tt.p)
			if math.Abs(got-tt.want) > 1e-6*math.Max(tt.want, 1e-300) && math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("binomTest(%d, %d, %v) = %v, want %v", tt.x, tt.n, tt.p, got, tt.want)
			}
		})
	}
}

func TestBinomTestLargeCounts(t *testing.T) {
	// Normal approximation check at n = 10^7: x four standard deviations over
	// the mean gives a two-sided p near 6.3e-5.
	n := int64(10_000_000)
	p := 0.1
	sd := math.Sqrt(float64(n) * p * (1 - p))
	x := int64(float64(n)*p + 4*sd)
	got := binomTest(x, n, p)
	if got < 4e-5 || got > 9e-5 {
		t.Errorf("binomTest(%d, %d, %v) = %v, want about 6.3e-5", x, n, p, got)
	}
}

func TestBenjaminiHochberg(t *testing.T) {
	got := benjaminiHochberg([]float64{0.01, 0.04, 0.03, 0.005})
	want := []float64{0.02, 0.04, 0.04, 0.02}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("BH = %v, want %v", got, want)
		}
	}
	if q := benjaminiHochberg([]float64{0.9, 0.8}); q[0] != 0.9 || q[1] != 0.9 {
		t.Errorf("BH of large p-values = %v, want [0.9 0.9] (monotone, capped)", q)
	}
	if q := benjaminiHochberg(nil); len(q) != 0 {
		t.Errorf("BH(nil) = %v", q)
	}
}

func FuzzBinomTest(f *testing.F) {
	f.Add(int64(7), int64(10), 0.2)
	f.Add(int64(0), int64(0), 0.5)
	f.Add(int64(3), int64(1_000_000_000), 1e-9)
	f.Add(int64(-1), int64(5), 1.5)
	f.Fuzz(func(t *testing.T, x, n int64, p float64) {
		got := binomTest(x, n, p)
		if !(got >= 0 && got <= 1) {
			t.Fatalf("binomTest(%d, %d, %v) = %v, outside [0, 1]", x, n, p, got)
		}
		if n >= 0 && n <= 300 && x >= 0 && x <= n && p >= 0 && p <= 1 {
			lo, hi := directTails(x, n, p)
			want := math.Min(1, 2*math.Min(lo, hi))
			if math.Abs(got-want) > 1e-7 {
				t.Fatalf("binomTest(%d, %d, %v) = %v, direct sum %v", x, n, p, got, want)
			}
		}
	})
}
