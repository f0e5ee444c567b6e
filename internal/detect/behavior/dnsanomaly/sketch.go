package dnsanomaly

import (
	"math"
	"math/bits"
)

// distinct counts distinct 64-bit hashes: exactly while it holds at most
// exactMax of them, then with a HyperLogLog of 2^p one-byte registers (Flajolet et
// al. 2007, with the small-range linear-counting correction). p=8 gives about 6.5%
// standard error in 256 bytes. The zero value is an empty exact set.
type distinct struct {
	exact []uint64
	regs  []uint8
}

const exactMax = 16

// add inserts h and reports whether the count may have grown.
func (d *distinct) add(h uint64, p uint8) bool {
	if d.regs == nil {
		for _, x := range d.exact {
			if x == h {
				return false
			}
		}
		if len(d.exact) < exactMax {
			d.exact = append(d.exact, h)
			return true
		}
		d.regs = make([]uint8, 1<<p)
		for _, x := range d.exact {
			d.addHLL(x, p)
		}
		d.exact = nil
	}
	return d.addHLL(h, p)
}

func (d *distinct) addHLL(h uint64, p uint8) bool {
	idx := h >> (64 - p)
	rho := uint8(bits.LeadingZeros64(h<<p|1<<(p-1)) + 1)
	if rho > d.regs[idx] {
		d.regs[idx] = rho
		return true
	}
	return false
}

// count estimates the number of distinct hashes added.
func (d *distinct) count() float64 {
	if d.regs == nil {
		return float64(len(d.exact))
	}
	m := float64(len(d.regs))
	var sum float64
	zeros := 0
	for _, r := range d.regs {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return e
}

func (d *distinct) reset() {
	d.exact = d.exact[:0]
	d.regs = nil
}

// hash64 is FNV-1a followed by a murmur3 finaliser, so HyperLogLog sees well-mixed bits.
func hash64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
