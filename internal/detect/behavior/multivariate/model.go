package multivariate

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Limits on Config, so that a configuration (or a snapshot) cannot ask for an
// unbounded amount of memory.
const (
	MaxDims        = 256
	MaxProjections = 4096
	MaxBins        = 4096
	MaxWindow      = 1 << 20
	// MaxStateBytes caps MemoryBytes of any accepted Config (256 MiB).
	MaxStateBytes = 256 << 20
)

// warmCalibration is the number of calibration scores (capped by
// Config.Calibration) Trained waits for: enough to resolve p = 0.001.
const warmCalibration = 1000

// pseudo is the Laplace pseudo-count added to every histogram bin.
const pseudo = 1.0

// maxZ bounds a compressed z (asinh of the largest float is about 710), so
// that an overflow to ±Inf cannot make a projection NaN.
const maxZ = 1000

// Errors returned for hostile vectors; match them with errors.Is.
var (
	ErrDims      = errors.New("vector length differs from Config.Dims")
	ErrNonFinite = errors.New("vector holds NaN or Inf")
)

// Config sizes a Model. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Dims is the number of features per vector (required, 1..MaxDims).
	Dims int
	// Projections is k, the number of sparse random projections (default 100).
	Projections int
	// Bins is the number of equal-width histogram bins per projection (default 32).
	Bins int
	// Range is the half-width of every histogram, in compressed robust-z
	// units (asinh of the robust z, projected); values beyond fall in the edge
	// bins and, past what the reference spanned, in the exponential tail
	// (default 8).
	Range float64
	// Window is the number of most recent vectors the reference describes
	// (default 4096).
	Window int
	// Refit is the number of updates between two re-fits of the reference
	// from the window (default Window/4, at least 1).
	Refit int
	// Calibration is the number of recent prequential scores PValue ranks
	// against (default Window).
	Calibration int
	// Seed seeds the PCG generator that draws the projections.
	Seed uint64
}

// DefaultConfig returns the defaults for vectors of dims features.
func DefaultConfig(dims int) Config {
	return Config{Dims: dims, Projections: 100, Bins: 32, Range: 8, Window: 4096}.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.Projections == 0 {
		c.Projections = 100
	}
	if c.Bins == 0 {
		c.Bins = 32
	}
	if c.Range == 0 {
		c.Range = 8
	}
	if c.Window == 0 {
		c.Window = 4096
	}
	if c.Refit == 0 {
		c.Refit = max(1, c.Window/4)
	}
	if c.Calibration == 0 {
		c.Calibration = c.Window
	}
	return c
}

// Validate reports the first field out of its bounds (after defaults).
func (c Config) Validate() error {
	switch {
	case c.Dims < 1 || c.Dims > MaxDims:
		return fmt.Errorf("dims %d outside 1..%d", c.Dims, MaxDims)
	case c.Projections < 1 || c.Projections > MaxProjections:
		return fmt.Errorf("projections %d outside 1..%d", c.Projections, MaxProjections)
	case c.Bins < 2 || c.Bins > MaxBins:
		return fmt.Errorf("bins %d outside 2..%d", c.Bins, MaxBins)
	case !(c.Range > 0) || math.IsInf(c.Range, 0):
		return fmt.Errorf("range %v is not a positive finite number", c.Range)
	case c.Window < 2 || c.Window > MaxWindow:
		return fmt.Errorf("window %d outside 2..%d", c.Window, MaxWindow)
	case c.Refit < 1 || c.Refit > c.Window:
		return fmt.Errorf("refit %d outside 1..window (%d)", c.Refit, c.Window)
	case c.Calibration < 1 || c.Calibration > MaxWindow:
		return fmt.Errorf("calibration %d outside 1..%d", c.Calibration, MaxWindow)
	}
	if b := c.MemoryBytes(); b > MaxStateBytes {
		return fmt.Errorf("state of %d bytes exceeds %d", b, MaxStateBytes)
	}
	return nil
}

// perProjection is the number of features each projection uses: ceil(sqrt(d)).
func perProjection(dims int) int {
	return int(math.Ceil(math.Sqrt(float64(dims))))
}

// MemoryBytes is the size of the arrays a Model with this (defaulted,
// valid) Config holds; a Model allocates nothing after New.
func (c Config) MemoryBytes() int {
	m := perProjection(c.Dims)
	pb := c.Projections * c.Bins
	return c.Window*c.Dims*8 + // window ring
		c.Window*8 + // sort scratch
		c.Projections*m*(4+8) + // projection indices and weights
		pb*4 + pb*8 + // counts and surprise table
		c.Projections*8*6 + // expected surprise, lo, hi, tau, fit sums
		c.Dims*8*5 + // median, scale, z, feature sums, 1/use
		c.Calibration*8*2 // calibration ring and its sorted copy
}

// Model is a LODA detector over a sliding window. It is not safe for
// concurrent use, not even Score with Score: they share a scratch vector.
type Model struct {
	cfg   Config
	m     int       // features per projection
	idx   []int32   // Projections*m feature indices
	w     []float64 // Projections*m weights, unit length per projection
	width float64   // bin width

	win      []float64 // Window*Dims ring of raw vectors
	head     int       // next row written
	fill     int       // rows held
	seen     uint64    // vectors learnt
	sinceFit int       // updates since the last fit (or since New)
	fitted   bool

	med, scale []float64 // per-feature robust scaling of the reference
	counts     []uint32  // Projections*Bins
	table      []float64 // Projections*Bins surprise -log p
	base       []float64 // Projections: expected surprise under the reference
	lo, hi     []float64 // Projections: range of the reference's projections
	tau        []float64 // Projections: tail scale (standard deviation, at least a bin)
	sum, sumSq []float64 // Projections: fit scratch

	calib   []float64 // ring of prequential scores
	sorted  []float64 // the same scores, ascending (len calFill)
	calHead int
	calFill int

	scratch []float64 // Window
	zbuf    []float64 // Dims: compressed z of the vector at hand
	acc     []float64 // Dims: surprise summed over the projections using each feature
	invUse  []float64 // Dims: 1 / number of projections using each feature
}

// New returns an untrained model. The projections are drawn from a PCG
// generator seeded with cfg.Seed.
func New(cfg Config) (*Model, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring multivariate model: %w", err)
	}
	d, k := cfg.Dims, cfg.Projections
	m := perProjection(d)
	md := &Model{
		cfg:     cfg,
		m:       m,
		idx:     make([]int32, k*m),
		w:       make([]float64, k*m),
		width:   2 * cfg.Range / float64(cfg.Bins),
		win:     make([]float64, cfg.Window*d),
		med:     make([]float64, d),
		scale:   make([]float64, d),
		counts:  make([]uint32, k*cfg.Bins),
		table:   make([]float64, k*cfg.Bins),
		base:    make([]float64, k),
		lo:      make([]float64, k),
		hi:      make([]float64, k),
		tau:     make([]float64, k),
		sum:     make([]float64, k),
		sumSq:   make([]float64, k),
		calib:   make([]float64, cfg.Calibration),
		sorted:  make([]float64, 0, cfg.Calibration),
		scratch: make([]float64, cfg.Window),
		zbuf:    make([]float64, d),
		acc:     make([]float64, d),
		invUse:  make([]float64, d),
	}
	md.drawProjections()
	return md, nil
}

// drawProjections deals features to projections: each projection takes the m
// least-used features (ties broken by a random permutation), so every feature
// is used by k*m/d projections, ±1; weights are N(0,1), normalised.
func (md *Model) drawProjections() {
	d, m := md.cfg.Dims, md.m
	// Deterministic projections from the seed, not secrets: a PCG is what is wanted.
	rng := rand.New(rand.NewPCG(md.cfg.Seed, md.cfg.Seed^0x9e3779b97f4a7c15)) //nolint:gosec // G404: reproducible model, not security randomness

	used := make([]int, d)
	perm := make([]int, d)
	for i := range md.cfg.Projections {
		for j := range perm {
			perm[j] = j
		}
		rng.Shuffle(d, func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
		slices.SortStableFunc(perm, func(a, b int) int { return used[a] - used[b] })
		var norm float64
		for j := range m {
			f := perm[j]
			used[f]++
			md.idx[i*m+j] = int32(f)
			v := rng.NormFloat64()
			md.w[i*m+j] = v
			norm += v * v
		}
		norm = math.Sqrt(norm)
		if norm == 0 {
			norm = 1
		}
		for j := range m {
			md.w[i*m+j] /= norm
		}
	}
	for f, u := range used {
		if u > 0 {
			md.invUse[f] = 1 / float64(u)
		}
	}
}

// Config returns the model's configuration, defaults applied.
func (md *Model) Config() Config { return md.cfg }

// Seen returns the number of vectors learnt by Update.
func (md *Model) Seen() uint64 { return md.seen }

// Trained reports whether the reference has been fitted (Window vectors seen)
// and min(Calibration, 1000) prequential scores calibrate PValue. Before
// that the engine should not alert.
func (md *Model) Trained() bool {
	return md.fitted && md.calFill >= min(md.cfg.Calibration, warmCalibration)
}

func (md *Model) check(x []float64) error {
	if len(x) != md.cfg.Dims {
		return fmt.Errorf("checking vector of %d values for %d dims: %w", len(x), md.cfg.Dims, ErrDims)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("checking vector: feature %d is %v: %w", i, v, ErrNonFinite)
		}
	}
	return nil
}

// loadZ fills md.zbuf with the compressed robust z of every feature of x:
// asinh((x-median)/scale), about linear inside ±1 and logarithmic beyond, so
// heavy tails stay resolvable (z of 10 and of 100 land in different bins)
// without a hard clip.
func (md *Model) loadZ(x []float64) {
	for f, xv := range x {
		v := math.Asinh((xv - md.med[f]) / md.scale[f])
		switch {
		case v > maxZ:
			v = maxZ
		case v < -maxZ:
			v = -maxZ
		case v != v: // unreachable with finite x and scale; kept for safety
			v = 0
		}
		md.zbuf[f] = v
	}
}

// project returns projection i of the vector in md.zbuf.
func (md *Model) project(i int) float64 {
	var v float64
	for j := i * md.m; j < (i+1)*md.m; j++ {
		v += md.w[j] * md.zbuf[md.idx[j]]
	}
	return v
}

// binOf returns the histogram bin of a projected value.
func (md *Model) binOf(v float64) int {
	b := int((v + md.cfg.Range) / md.width)
	return min(max(b, 0), md.cfg.Bins-1)
}

// surprise is projection i's -log density at the vector in md.zbuf: the
// histogram's, plus an exponential tail beyond the range the reference
// spanned (one nat per standard deviation of the projection), so that far
// out stays farther than just out.
func (md *Model) surprise(i int) float64 {
	v := md.project(i)
	s := md.table[i*md.cfg.Bins+md.binOf(v)]
	if v > md.hi[i] {
		s += (v - md.hi[i]) / md.tau[i]
	} else if v < md.lo[i] {
		s += (md.lo[i] - v) / md.tau[i]
	}
	return s
}

// score is the largest, over features j, mean surprise of the projections
// that use j (see the package doc: the plain LODA mean over all projections
// dilutes a deviation in one feature by the projections that miss it).
func (md *Model) score(x []float64) float64 {
	md.loadZ(x)
	clear(md.acc)
	for i := range md.cfg.Projections {
		s := md.surprise(i)
		for j := i * md.m; j < (i+1)*md.m; j++ {
			md.acc[md.idx[j]] += s
		}
	}
	best := math.Inf(-1)
	for f, a := range md.acc {
		best = max(best, a*md.invUse[f])
	}
	return best
}

// Score returns how surprising x is under the current reference, in nats:
// the largest, over features, mean surprise of the projections that use the
// feature (higher is more anomalous; see the package doc). It is 0 before the
// first fit. It does not learn x.
func (md *Model) Score(x []float64) (float64, error) {
	if err := md.check(x); err != nil {
		return 0, fmt.Errorf("scoring: %w", err)
	}
	if !md.fitted {
		return 0, nil
	}
	return md.score(x), nil
}

// PValue ranks a score among the last Calibration prequential scores:
// (1 + #{scores >= s}) / (1 + n). It is 1 with no calibration scores yet.
func (md *Model) PValue(score float64) float64 {
	// First index whose score is >= score: everything from there counts.
	i, _ := slices.BinarySearch(md.sorted, score)
	return float64(1+len(md.sorted)-i) / float64(1+len(md.sorted))
}

// calibrate records a prequential score in the ring and the sorted copy:
// O(log C) searches and one memmove of at most C floats.
func (md *Model) calibrate(s float64) {
	if md.calFill == len(md.calib) {
		old := md.calib[md.calHead]
		i, _ := slices.BinarySearch(md.sorted, old)
		md.sorted = slices.Delete(md.sorted, i, i+1)
	}
	md.calib[md.calHead] = s
	md.calHead = (md.calHead + 1) % len(md.calib)
	md.calFill = min(md.calFill+1, len(md.calib))
	i, _ := slices.BinarySearch(md.sorted, s)
	md.sorted = slices.Insert(md.sorted, i, s)
}

// Update learns x: once fitted it first records x's score for calibration,
// then adds x to the window and re-fits every Refit updates.
func (md *Model) Update(x []float64) error {
	if err := md.check(x); err != nil {
		return fmt.Errorf("updating: %w", err)
	}
	if md.fitted {
		md.calibrate(md.score(x))
	}
	md.learn(x)
	return nil
}

// Observe is Score, PValue and Update in one pass (x is projected once): the
// score and p-value are those before x is learnt. Before the first fit they
// are 0 and 1.
func (md *Model) Observe(x []float64) (score, p float64, err error) {
	if err := md.check(x); err != nil {
		return 0, 1, fmt.Errorf("observing: %w", err)
	}
	p = 1
	if md.fitted {
		score = md.score(x)
		p = md.PValue(score)
		md.calibrate(score)
	}
	md.learn(x)
	return score, p, nil
}

func (md *Model) learn(x []float64) {
	d := md.cfg.Dims
	copy(md.win[md.head*d:(md.head+1)*d], x)
	md.head = (md.head + 1) % md.cfg.Window
	md.fill = min(md.fill+1, md.cfg.Window)
	md.seen++
	md.sinceFit++
	if (!md.fitted && md.fill == md.cfg.Window) || (md.fitted && md.sinceFit >= md.cfg.Refit) {
		md.fit()
	}
}

// fit re-computes the robust scaling and the histograms from the window.
func (md *Model) fit() {
	d, n := md.cfg.Dims, md.fill
	s := md.scratch[:n]
	for f := range d {
		for r := range n {
			s[r] = md.win[r*d+f]
		}
		slices.Sort(s)
		med := median(s)
		var abs float64
		for r := range s {
			s[r] = math.Abs(s[r] - med)
			abs += s[r]
		}
		slices.Sort(s)
		scale := 1.4826 * median(s)
		if !(scale > 1e-9) {
			// More than half the window equals the median (a count that is
			// mostly zero): fall back to the mean absolute deviation.
			scale = 1.2533 * abs / float64(n)
		}
		if !(scale > 1e-9) {
			scale = 1e-9 // constant so far: any change is far out
		}
		if math.IsInf(scale, 0) {
			scale = math.MaxFloat64
		}
		md.med[f], md.scale[f] = med, scale
	}
	clear(md.counts)
	clear(md.sum)
	clear(md.sumSq)
	for i := range md.lo {
		md.lo[i], md.hi[i] = math.Inf(1), math.Inf(-1)
	}
	B := md.cfg.Bins
	for r := range n {
		md.loadZ(md.win[r*d : (r+1)*d])
		for i := range md.cfg.Projections {
			v := md.project(i)
			md.counts[i*B+md.binOf(v)]++
			md.lo[i], md.hi[i] = min(md.lo[i], v), max(md.hi[i], v)
			md.sum[i] += v
			md.sumSq[i] += v * v
		}
	}
	for i := range md.tau {
		mean := md.sum[i] / float64(n)
		md.tau[i] = math.Max(math.Sqrt(math.Max(0, md.sumSq[i]/float64(n)-mean*mean)), md.width)
	}
	md.fitTable(n)
	md.sinceFit = 0
	md.fitted = true
}

// fitTable derives surprises and expected surprises from counts over n vectors.
func (md *Model) fitTable(n int) {
	B := md.cfg.Bins
	denom := (float64(n) + pseudo*float64(B)) * md.width
	for i := range md.cfg.Projections {
		var e float64
		for b := range B {
			c := md.counts[i*B+b]
			t := -math.Log((float64(c) + pseudo) / denom)
			md.table[i*B+b] = t
			e += float64(c) * t
		}
		md.base[i] = e / float64(n)
	}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Attribute explains x: dst[j] (len Dims, allocated when dst is nil) is
// feature j's share of the mean excess surprise of x over the reference, in
// nats, >= 0. The parts sum to mean_i max(0, s_i - E[s_i]); divide by the sum
// for fractions. All zero before the first fit or when nothing is in excess.
func (md *Model) Attribute(x, dst []float64) ([]float64, error) {
	if err := md.check(x); err != nil {
		return dst, fmt.Errorf("attributing: %w", err)
	}
	if dst == nil {
		dst = make([]float64, md.cfg.Dims)
	}
	if len(dst) != md.cfg.Dims {
		return dst, fmt.Errorf("attributing into %d values for %d dims: %w", len(dst), md.cfg.Dims, ErrDims)
	}
	clear(dst)
	if !md.fitted {
		return dst, nil
	}
	m, k := md.m, md.cfg.Projections
	md.loadZ(x)
	for i := range k {
		e := md.surprise(i) - md.base[i]
		if e <= 0 {
			continue
		}
		var tot float64
		for j := i * m; j < (i+1)*m; j++ {
			tot += math.Abs(md.w[j] * md.zbuf[md.idx[j]])
		}
		for j := i * m; j < (i+1)*m; j++ {
			part := 1 / float64(m)
			if tot > 0 {
				part = math.Abs(md.w[j]*md.zbuf[md.idx[j]]) / tot
			}
			dst[md.idx[j]] += e * part / float64(k)
		}
	}
	return dst, nil
}
