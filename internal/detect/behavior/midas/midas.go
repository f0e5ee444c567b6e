package midas

import (
	"fmt"
	"math"
	"math/bits"
)

// Limits on Config. They bound the memory New and Restore can be asked for:
// at most 3 sketches x MaxRows x MaxBuckets x 5 fields x 8 bytes (640 MiB).
const (
	MaxRows    = 16
	MaxBuckets = 1 << 20
)

// Config sizes and tunes a Model. The zero value is not valid: start from
// DefaultConfig.
type Config struct {
	// Rows is the number of hash functions (rows) of every count-min sketch,
	// 1..MaxRows. More rows make over-estimates from collisions rarer.
	Rows int
	// Buckets is the number of counters per row, 1..MaxBuckets. More buckets
	// make collisions rarer; memory grows linearly.
	Buckets int
	// Alpha is the MIDAS-R temporal decay: at each tick change the current
	// counts are multiplied by Alpha, so recent ticks still weigh on the
	// score. 0 gives the original MIDAS (current counts reset each tick);
	// must be in [0, 1].
	Alpha float64
	// Seed keys the sketch hash functions. Equal seeds give equal scores
	// across processes and machines.
	Seed uint64
	// Filter turns on MIDAS-F: at each tick change, a counter whose score
	// in the closing tick reached Threshold does not add its (anomalous)
	// count to the totals; it adds the mean of the earlier ticks instead, so
	// an attack does not teach the model that attacks are normal.
	Filter bool
	// Threshold is the MIDAS-F score above which a counter is not merged
	// into the totals. Used only with Filter; must be > 0 then.
	Threshold float64
}

// DefaultConfig returns the reference implementation's settings: 2 rows x
// 1024 buckets, decay 0.5, MIDAS-F filtering with threshold 1e3. Clear
// Filter for plain MIDAS-R (ROC-AUC on DARPA 0.949 against 0.986).
func DefaultConfig() Config {
	return Config{Rows: 2, Buckets: 1024, Alpha: 0.5, Seed: 0x9e3779b97f4a7c15, Filter: true, Threshold: 1e3}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Rows < 1 || c.Rows > MaxRows:
		return fmt.Errorf("midas config: rows %d outside 1..%d", c.Rows, MaxRows)
	case c.Buckets < 1 || c.Buckets > MaxBuckets:
		return fmt.Errorf("midas config: buckets %d outside 1..%d", c.Buckets, MaxBuckets)
	case !(c.Alpha >= 0 && c.Alpha <= 1): // also rejects NaN
		return fmt.Errorf("midas config: alpha %v outside [0, 1]", c.Alpha)
	case c.Filter && !(c.Threshold > 0 && !math.IsInf(c.Threshold, 0)):
		return fmt.Errorf("midas config: filter threshold %v must be positive and finite", c.Threshold)
	}
	return nil
}

// MemoryBytes is the size of the sketches a Model with this configuration
// holds (the Model adds a few hundred bytes of fixed fields).
func (c Config) MemoryBytes() int {
	return 3 * c.Rows * c.Buckets * c.stride() * 8
}

// Fields of one counter cell. Cells are stored interleaved so that one
// update touches one cache line per row and sketch.
const (
	fCur    = iota // decayed count of the current tick (MIDAS-R "a")
	fTot           // total the score compares with (MIDAS-R "s"; filtered for MIDAS-F)
	fRaw           // raw count of the current tick, for explanations
	fScore         // MIDAS-F: last score of the cell in the current tick
	fRawTot        // MIDAS-F: unfiltered total, for explanations
)

func (c Config) stride() int {
	if c.Filter {
		return 5
	}
	return 3
}

// Kind names what a score is about.
type Kind uint8

// The three things MIDAS counts.
const (
	KindEdge        Kind = iota // the (source, destination) pair
	KindSource                  // the source node, all destinations
	KindDestination             // the destination node, all sources
)

func (k Kind) String() string {
	switch k {
	case KindEdge:
		return "edge"
	case KindSource:
		return "source"
	case KindDestination:
		return "destination"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Part is what the model knows about one of the edge, its source or its
// destination at the moment an edge is scored. Counts are count-min sketch
// estimates: never below the truth, above it when other keys collide.
type Part struct {
	// Count is how many times it was seen in the current tick, this edge
	// included.
	Count float64
	// MeanBefore is its mean count per tick over the earlier ticks (empty
	// ticks included); 0 in the first tick.
	MeanBefore float64
	// Decayed is the decayed current count the score uses: Count plus
	// Alpha times the previous tick's Decayed.
	Decayed float64
	// Total is the total the score compares Decayed with: all counts for
	// MIDAS-R, the filtered sum of decayed counts for MIDAS-F.
	Total float64
	// Score is the chi-squared statistic of Decayed against Total.
	Score float64
}

// Result is a scored edge with the pieces an analyst needs to read the score.
type Result struct {
	// Score is the anomaly score: the largest of Edge.Score, Source.Score
	// and Destination.Score (higher is more anomalous, 0 is no evidence).
	Score float64
	// Driver says which of the three gave Score (the first on ties, in the
	// order edge, source, destination).
	Driver Kind
	// Tick is the tick the edge was counted in: the tick given, or the
	// model's current tick when an older one was given.
	Tick int64
	// Elapsed is the number of ticks since the first edge the model saw,
	// counting both ends (1 during the first tick).
	Elapsed int64
	// Edge, Source and Destination are the three underlying parts.
	Edge, Source, Destination Part
}

// Part returns the part of the given kind.
func (r *Result) Part(k Kind) Part {
	switch k {
	case KindSource:
		return r.Source
	case KindDestination:
		return r.Destination
	}
	return r.Edge
}

// Model scores a stream of edges. It is not safe for concurrent use.
// Its memory is fixed at New: Config.MemoryBytes.
type Model struct {
	cfg     Config
	stride  int
	buckets uint64
	seeds   [3][MaxRows]uint64
	cells   [3][]float64 // per kind: Rows*Buckets cells of stride fields
	started bool
	first   int64 // tick of the first edge
	cur     int64 // current tick
	edges   uint64
}

// New returns an empty model.
func New(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := newShell(cfg)
	n := cfg.Rows * cfg.Buckets * m.stride
	for k := range m.cells {
		m.cells[k] = make([]float64, n)
	}
	return m, nil
}

// newShell builds everything but the cells.
func newShell(cfg Config) *Model {
	m := &Model{cfg: cfg, stride: cfg.stride(), buckets: uint64(cfg.Buckets)}
	s := cfg.Seed
	for k := range m.seeds {
		for r := range m.seeds[k] {
			s += 0x9e3779b97f4a7c15
			m.seeds[k][r] = mix(s)
		}
	}
	return m
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Edges returns the number of edges scored so far.
func (m *Model) Edges() uint64 { return m.edges }

// Score counts the edge src->dst at tick and returns its anomaly score (see
// Result.Score). Ticks are the unit of "now" (for example minutes of event
// time) and must not decrease: an edge with a tick older than the current
// one is counted in the current tick. It never allocates.
func (m *Model) Score(src, dst uint64, tick int64) float64 {
	r := m.Observe(src, dst, tick)
	return r.Score
}

// Observe is Score returning the explanation with the score. It updates
// the model exactly as Score does.
func (m *Model) Observe(src, dst uint64, tick int64) Result {
	// An older tick counts in the current one.
	switch {
	case !m.started:
		m.started, m.first, m.cur = true, tick, tick
	case tick > m.cur:
		m.advance(tick)
	}
	m.edges++
	// Ticks elapsed, 1-based. The subtraction cannot overflow as unsigned
	// because cur >= first.
	t := float64(uint64(m.cur)-uint64(m.first)) + 1

	var res Result
	res.Tick = m.cur
	res.Elapsed = math.MaxInt64
	if d := uint64(m.cur) - uint64(m.first); d < math.MaxInt64 {
		res.Elapsed = int64(d + 1)
	}
	res.Edge = m.count(KindEdge, mix(src^mix(dst^0x5bd1e9955bd1e995)), t)
	res.Source = m.count(KindSource, src, t)
	res.Destination = m.count(KindDestination, dst, t)
	res.Score, res.Driver = res.Edge.Score, KindEdge
	if res.Source.Score > res.Score {
		res.Score, res.Driver = res.Source.Score, KindSource
	}
	if res.Destination.Score > res.Score {
		res.Score, res.Driver = res.Destination.Score, KindDestination
	}
	return res
}

// count adds one to key in the sketch of kind k and returns its part.
func (m *Model) count(k Kind, key uint64, t float64) Part {
	cells := m.cells[k]
	st := m.stride
	rows := m.cfg.Rows
	var idx [MaxRows]int
	curMin, totMin, rawMin := math.Inf(1), math.Inf(1), math.Inf(1)
	rawTotMin := math.Inf(1)
	for r := range rows {
		hi, _ := bits.Mul64(mix(key^m.seeds[k][r]), m.buckets)
		i := (r*int(m.buckets) + int(hi)) * st
		idx[r] = i
		c := cells[i : i+st : i+st]
		c[fCur]++
		c[fRaw]++
		curMin = min(curMin, c[fCur])
		rawMin = min(rawMin, c[fRaw])
		if st == 3 {
			c[fTot]++
		} else {
			c[fRawTot]++
			rawTotMin = min(rawTotMin, c[fRawTot])
		}
		totMin = min(totMin, c[fTot])
	}
	p := Part{Count: rawMin, Decayed: curMin, Total: totMin}
	if st == 3 {
		// MIDAS-R: the total includes the current tick; expected count per
		// tick is s/t.
		if t > 1 {
			p.MeanBefore = (totMin - rawMin) / (t - 1)
			if totMin > 0 {
				d := (curMin - totMin/t) * t
				p.Score = d * d / (totMin * (t - 1))
			}
		}
		return p
	}
	// MIDAS-F: the total covers the earlier ticks only.
	if t > 1 {
		p.MeanBefore = (rawTotMin - rawMin) / (t - 1)
		if totMin > 0 {
			d := totMin - curMin*(t-1)
			p.Score = d * d / (totMin * (t - 1))
		}
	}
	for r := range rows {
		cells[idx[r]+fScore] = p.Score
	}
	return p
}

// advance closes the current tick and opens tick (> m.cur). As in the
// reference implementation, totals are merged once however many empty
// ticks lie between, and the elapsed tick count (t) includes them.
func (m *Model) advance(tick int64) {
	closing := float64(uint64(m.cur)-uint64(m.first)) + 1
	// Decay by Alpha per elapsed tick: empty ticks decay the current
	// counts too (the reference decays once per change).
	a := m.cfg.Alpha
	if gap := uint64(tick) - uint64(m.cur); gap > 1 {
		a = math.Pow(a, float64(gap))
	}
	st := m.stride
	for k := range m.cells {
		cells := m.cells[k]
		if st == 3 {
			for i := 0; i+3 <= len(cells); i += 3 {
				c := cells[i : i+3 : i+3]
				c[fCur] *= a
				c[fRaw] = 0
			}
			continue
		}
		// MIDAS-F conditional merge: normal cells add their decayed count;
		// cells that scored at or above the threshold add the mean of the
		// earlier ticks instead.
		var recip float64
		if closing > 1 {
			recip = 1 / (closing - 1)
		}
		thr := m.cfg.Threshold
		for i := 0; i+5 <= len(cells); i += 5 {
			c := cells[i : i+5 : i+5]
			if c[fScore] < thr {
				c[fTot] += c[fCur]
			} else {
				c[fTot] += c[fTot] * recip
			}
			c[fCur] *= a
			c[fRaw] = 0
			// As in the reference, fScore is kept: a cell not seen in
			// the next tick is merged by the last score it had.
		}
	}
	m.cur = tick
}

// mix is the splitmix64 finalizer: a fixed, seedless bijection with full
// avalanche, so it gives the same value in every process.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
