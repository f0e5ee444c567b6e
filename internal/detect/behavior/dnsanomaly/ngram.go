package dnsanomaly

import "math"

// charModel is an interpolated character trigram model over registered-domain
// labels, smoothed hierarchically (Dirichlet/MacKay-Peto backoff: trigram to
// bigram to add-one unigram, each with pseudo-count smoothK), in the spirit of the
// n-gram DGA detectors (Yadav et al., "Detecting algorithmically generated
// malicious domain names", IMC 2010). It is learned from the stream only.
type charModel struct {
	c1   [alpha]float64
	c2   [alpha * alpha]float64
	c3   [alpha * alpha * alpha]float32
	ctx2 [alpha]float64         // sum over c of c2[b c]
	ctx3 [alpha * alpha]float64 // sum over c of c3[a b c]
	n1   float64
}

const (
	alpha    = 39 // a-z, 0-9, '-' (and '_'), start, end
	symStart = 37
	symEnd   = 38
	smoothK  = 4.0
)

func sym(c byte) int {
	switch {
	case c >= 'a' && c <= 'z':
		return int(c - 'a')
	case c >= '0' && c <= '9':
		return 26 + int(c-'0')
	}
	return 36
}

// each calls fn with every (a, b, c) trigram of ^^label$.
func each(label string, fn func(a, b, c int)) {
	a, b := symStart, symStart
	for i := 0; i <= len(label); i++ {
		c := symEnd
		if i < len(label) {
			c = sym(label[i])
		}
		fn(a, b, c)
		a, b = b, c
	}
}

func (m *charModel) add(label string, w float64) {
	each(label, func(a, b, c int) {
		m.c1[c] += w
		m.n1 += w
		m.c2[b*alpha+c] += w
		m.ctx2[b] += w
		m.c3[(a*alpha+b)*alpha+c] += float32(w)
		m.ctx3[a*alpha+b] += w
	})
}

// score is the mean log2-probability per symbol of label (end marker included).
func (m *charModel) score(label string) float64 {
	var s float64
	n := 0
	each(label, func(a, b, c int) {
		p1 := (m.c1[c] + 1) / (m.n1 + alpha)
		p2 := (m.c2[b*alpha+c] + smoothK*p1) / (m.ctx2[b] + smoothK)
		p3 := (float64(m.c3[(a*alpha+b)*alpha+c]) + smoothK*p2) / (m.ctx3[a*alpha+b] + smoothK)
		s += math.Log2(p3)
		n++
	})
	return s / float64(n)
}
