package multivariate

import (
	"math"
	"math/rand/v2"
)

// Synthetic entity-hours shaped like the behavioral engine's raw features:
// one latent activity level (log-normal) drives correlated counts, bytes out
// are log-normal on a log scale, errors are zero-inflated with bursts, the
// off-hours share has a heavy (Student-t) tail.
const (
	fLogons = iota
	fFailed
	fHosts
	fProcs
	fBytesOut // log1p(bytes)
	fDNS
	fDests
	fOffHours
	fAPIErrors
	fFiles
	fAdmin
	fSrcIPs
	nFeatures
)

var featureNames = [nFeatures]string{
	"logons", "failed_logons", "hosts", "processes", "log_bytes_out", "dns_queries",
	"destinations", "off_hours_share", "api_errors", "files", "admin_actions", "source_ips",
}

type gen struct {
	r *rand.Rand
	// activity multiplies the latent level (concept drift: a busier role).
	activity float64
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, 7)), activity: 1}
}

func (g *gen) poisson(lambda float64) float64 {
	if lambda > 30 {
		return math.Max(0, math.Round(lambda+math.Sqrt(lambda)*g.r.NormFloat64()))
	}
	l, k, p := math.Exp(-lambda), 0.0, 1.0
	for {
		p *= g.r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// studentT draws a t variate with nu degrees of freedom.
func (g *gen) studentT(nu int) float64 {
	var chi float64
	for range nu {
		v := g.r.NormFloat64()
		chi += v * v
	}
	return g.r.NormFloat64() / math.Sqrt(chi/float64(nu))
}

// normal fills x with one ordinary entity-hour.
func (g *gen) normal(x []float64) {
	act := g.activity * math.Exp(0.6*g.r.NormFloat64())
	x[fLogons] = g.poisson(3 * act)
	x[fFailed] = g.poisson(0.2 + 0.05*x[fLogons])
	x[fHosts] = 1 + g.poisson(0.8*act)
	x[fProcs] = g.poisson(20 * act)
	x[fBytesOut] = math.Max(0, 10+math.Log(act)+0.8*g.studentT(4))
	x[fDNS] = g.poisson(50 * act)
	x[fDests] = g.poisson(4 + 0.1*x[fDNS])
	x[fOffHours] = math.Min(1, math.Abs(0.1+0.08*g.studentT(3)))
	x[fAPIErrors] = g.poisson(0.3)
	if g.r.Float64() < 0.02 {
		x[fAPIErrors] += g.poisson(5) // a flaky deployment hour
	}
	x[fFiles] = g.poisson(30 * act)
	x[fAdmin] = g.poisson(0.1)
	x[fSrcIPs] = 1 + g.poisson(0.2)
}

// outlier fills x with an attack-shaped entity-hour of one of several kinds.
func (g *gen) outlier(x []float64) {
	g.normal(x)
	g.inject(x, g.r.IntN(5))
}

// inject turns ordinary x into attack kind k (0..4).
func (g *gen) inject(x []float64, k int) {
	switch k {
	case 0: // password spraying from the account
		x[fFailed] = 25 + g.poisson(20)
		x[fLogons] += g.poisson(10)
	case 1: // lateral movement
		x[fHosts] = 12 + g.poisson(10)
		x[fAdmin] += 2 + g.poisson(2)
	case 2: // exfiltration
		x[fBytesOut] += 4 + g.r.Float64()*2
		x[fDests] += 20 + g.poisson(20)
	case 3: // DNS tunnelling at night
		x[fDNS] = 2000 + g.poisson(1000)
		x[fOffHours] = 0.8 + 0.2*g.r.Float64()
	case 4: // ransomware
		x[fFiles] = 800 + g.poisson(400)
		x[fProcs] += 30 + g.poisson(20)
	}
}
