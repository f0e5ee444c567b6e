package behavior

import (
	"bytes"
	"cmp"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior/multivariate"
)

// Multivariate wires the LODA model (package multivariate) into the engine as
// "behavior.multivariate". Per user (Obs.User) and event-time hour it builds one
// vector of twelve features (log1p of counts):
//
//	logons, failed_logons, hosts (distinct logon targets), src_ips (distinct
//	source addresses), processes, programs (distinct executables), file_accesses,
//	directories (distinct), cloud_calls, cloud_errors, kube_requests, kube_denied
//
// When event time passes the hour, every closed vector is scored against the
// population of recent user-hours; once the model is trained, a p-value below
// MultivariateConfig.PValue is reported with the three features that carry most
// of the excess surprise (Attribute). Vectors that alerted are not learnt (neither
// by the population model nor by the user's own baseline), so an attack does not
// become the baseline. Users without activity in an hour produce no vector.
//
// Normalisation: the package author's intended use is one model per peer group;
// without a directory there is one global model, fed either the raw log1p vector
// or (PerUser) each feature minus the user's own decayed mean of it. Measured on
// the simulator (vigil simulate --seed 1 --users 60 --days 10, hunt, eval;
// signals / benign / precision / campaigns):
//
//	raw,      Window 2048, p < 0.001: 14 / 1 / 0.57 / 4 of 8 (rw1, insider1, k8s1, aws1)
//	raw,      Window 2048, p < 0.002: 28 / 1 / 0.46 / 5 of 8 (+ c1)
//	raw,      Window 1024, p < 0.001:  8 / 0 / 0.25 / 2 of 8
//	per-user, Window 1024, p < 0.001:  7 / 0 / 0.14 / 1 of 8
//	per-user, Window 2048: never trained in 10 days (a user needs 24 active
//	hours of its own before its deviations are fed)
//
// so the default is the raw vector, one global model, Window 2048, p < 0.001: the
// population's own spread already tells a 745-file night from a normal hour, and
// the per-user deviation throws away what a user's level says (an account that
// never used Kubernetes) while waiting a day per user. Per-user state still gives
// the "usually 0-12" of the explanations (mean +- 2 sd of log1p, decayed).
//
// Two guards keep withheld vectors from locking the model out of a new normal:
// an hour in which more than 5% of the vectors (and more than 2) alert is a
// population shift and is learnt without alerts (without it, Window 1024 gave 955
// signals); a user is reported at most once a day for the same leading feature.
//
// Memory (BenchmarkMultivariateMemory): about 220 bytes per user baseline (LRU,
// MaxUsers) and about 420 bytes per open user-hour with ten distinct values and
// three evidence refs (MaxOpen); the LODA model is fixed by its config (Window 2048:
// about 290 KB). Distinct counts saturate at 32 per user-hour ("32+").
//
// It does not know peer groups, does not learn correlations across hours (slow
// drifts are the seasonal model's business), does not look at network flows, DNS
// or HTTP (they rarely carry a user), and an attack spread thin over many hours
// looks like ordinary hours to it.
type Multivariate struct {
	cfg   MultivariateConfig
	model *multivariate.Model

	hour    int64 // event-time hour (Unix hours) of the open vectors
	open    map[Sym]*mvHour
	users   map[Sym]*mvUser
	lru     lruList[*mvUser]
	dropped uint64 // user-hours not opened because MaxOpen was reached
	shifts  uint64 // hours whose alerts the population shift guard withheld

	pend []mvPending

	x, attr []float64
	normal  normalSet
}

// MultivariateConfig configures the adapter. Zero fields take the defaults.
type MultivariateConfig struct {
	// PValue is the alert threshold on the calibrated p-value (default 0.001).
	PValue float64
	// Window is the number of recent user-hours the population model describes
	// (default 2048; at least a day of the population's active user-hours).
	Window int
	// PerUser feeds the model each feature minus the user's own decayed mean
	// instead of the raw log1p counts (after 24 active hours of the user's).
	// Measured on the simulator it found fewer campaigns at lower precision
	// than the raw vector (see the type's doc), so it is off by default.
	PerUser bool
	// MaxUsers caps the per-user baselines (LRU, default 100,000).
	MaxUsers int
	// MaxOpen caps the users with an open vector in one hour (default 100,000).
	MaxOpen int
	// Seed seeds the projections (default 1).
	Seed uint64
}

// Feature indices of a user-hour vector.
const (
	mvLogons = iota
	mvFailedLogons
	mvHosts
	mvSrcIPs
	mvProcesses
	mvPrograms
	mvFiles
	mvDirs
	mvCloudCalls
	mvCloudErrors
	mvKube
	mvKubeDenied
	mvDims
)

// mvDistinctCap bounds each distinct set of a user-hour; mvEvidence the evidence kept.
const (
	mvDistinctCap = 32
	mvEvidence    = 3
	mvMinHistory  = 24 // active hours before a user's own mean is trusted (PerUser)
	mvAlpha       = 1.0 / 48
	mvShiftMin    = 2    // alerts an hour may hold before the shift guard looks
	mvShiftShare  = 0.05 // share of an hour's vectors beyond which alerts are a shift
	mvRepeatHours = 24   // a user's reports led by the same feature are this far apart
)

// mvFeature says how a feature reads and which tactic it suggests.
type mvFeature struct {
	name, noun   string
	tactic, tech string
	sev          detect.Severity
}

var mvFeatures = [mvDims]mvFeature{
	{name: "logons", noun: "logons", tactic: "lateral-movement", tech: "T1021", sev: detect.SeverityLow},
	{name: "failed_logons", noun: "failed logons", tactic: "credential-access", tech: "T1110", sev: detect.SeverityMedium},
	{name: "hosts", noun: "hosts", tactic: "lateral-movement", tech: "T1021", sev: detect.SeverityMedium},
	{name: "src_ips", noun: "source addresses", tactic: "initial-access", tech: "T1078", sev: detect.SeverityLow},
	{name: "processes", noun: "process starts", tactic: "execution", tech: "T1059", sev: detect.SeverityLow},
	{name: "programs", noun: "programs", tactic: "execution", tech: "T1059", sev: detect.SeverityLow},
	{name: "file_accesses", noun: "file accesses", tactic: "collection", tech: "T1039", sev: detect.SeverityMedium},
	{name: "directories", noun: "directories", tactic: "collection", tech: "T1039", sev: detect.SeverityMedium},
	{name: "cloud_calls", noun: "cloud API calls", tactic: "discovery", tech: "T1580", sev: detect.SeverityLow},
	{name: "cloud_errors", noun: "cloud API errors", tactic: "discovery", tech: "T1580", sev: detect.SeverityMedium},
	{name: "kube_requests", noun: "Kubernetes requests", tactic: "discovery", tech: "T1613", sev: detect.SeverityLow},
	{name: "kube_denied", noun: "denied Kubernetes requests", tactic: "discovery", tech: "T1613", sev: detect.SeverityMedium},
}

// mvHour is one user's open hour.
type mvHour struct {
	counts [mvDims]uint32 // count features; distinct ones are filled from the sets
	hosts  []Sym
	progs  []Sym
	dirs   []Sym
	ips    []netip.Addr
	ev     []detect.EvidenceRef
}

// mvUser is one user's own baseline: decayed mean and variance of each log1p feature
// over the user's active hours.
type mvUser struct {
	key     Sym
	n       uint32
	mean, v [mvDims]float32
	alerted [mvDims]int32 // Unix hour of the last report led by each feature, 0: never
	node    lruNode[*mvUser]
}

// NewMultivariate builds the adapter.
func NewMultivariate(cfg MultivariateConfig) (*Multivariate, error) {
	if cfg.PValue == 0 {
		cfg.PValue = 0.001
	}
	if cfg.Window == 0 {
		cfg.Window = 2048
	}
	if cfg.MaxUsers == 0 {
		cfg.MaxUsers = 100_000
	}
	if cfg.MaxOpen == 0 {
		cfg.MaxOpen = 100_000
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if !(cfg.PValue > 0 && cfg.PValue < 1) || cfg.MaxUsers < 0 || cfg.MaxOpen < 0 {
		return nil, fmt.Errorf("configuring multivariate model: p-value %v, max users %d, max open %d out of range", cfg.PValue, cfg.MaxUsers, cfg.MaxOpen)
	}
	md, err := multivariate.New(cfg.loda())
	if err != nil {
		return nil, fmt.Errorf("building multivariate model: %w", err)
	}
	return &Multivariate{cfg: cfg, model: md, open: map[Sym]*mvHour{}, users: map[Sym]*mvUser{},
		x: make([]float64, mvDims), attr: make([]float64, mvDims)}, nil
}

// loda is the LODA configuration: the calibration ring holds at least 4/PValue
// scores, or the smallest p-value it can give, 1/(n+1), would stay above the
// threshold (and twice the window, for a week of scores at the default).
func (c MultivariateConfig) loda() multivariate.Config {
	return multivariate.Config{Dims: mvDims, Window: c.Window, Calibration: min(multivariate.MaxWindow, max(2*c.Window, int(math.Ceil(4/c.PValue)))), Seed: c.Seed}
}

// ID implements Model.
func (*Multivariate) ID() string { return "behavior.multivariate" }

// Version implements Model.
func (*Multivariate) Version() string { return "1" }

func unixHour(t int64) int64 {
	h := t / int64(time.Hour)
	if t < 0 && t%int64(time.Hour) != 0 {
		h--
	}
	return h
}

// Observe implements Model.
func (m *Multivariate) Observe(o *Obs, out *Emitter) {
	if o.User == (Sym{}) {
		return
	}
	switch o.Kind {
	case KindAuth, KindProcess, KindFile, KindCloud, KindKube:
	default:
		return
	}
	// A late observation (the engine never gives one) counts in the open hour.
	if h := unixHour(o.Time); h > m.hour || len(m.open) == 0 {
		m.close(out)
		m.hour = h
	}
	uh := m.open[o.User]
	if uh == nil {
		if len(m.open) >= m.cfg.MaxOpen {
			m.dropped++
			return
		}
		uh = &mvHour{}
		m.open[o.User] = uh
	}
	switch o.Kind {
	case KindAuth:
		if o.Fail {
			uh.counts[mvFailedLogons]++
		} else {
			uh.counts[mvLogons]++
			uh.hosts = addSym(uh.hosts, o.Host)
		}
		if o.SrcIP.IsValid() && len(uh.ips) < mvDistinctCap && !slices.Contains(uh.ips, o.SrcIP) {
			uh.ips = append(uh.ips, o.SrcIP)
		}
	case KindProcess:
		uh.counts[mvProcesses]++
		uh.progs = addSym(uh.progs, o.Process)
	case KindFile:
		uh.counts[mvFiles]++
		uh.dirs = addSym(uh.dirs, o.Target)
	case KindCloud:
		uh.counts[mvCloudCalls]++
		if o.Fail {
			uh.counts[mvCloudErrors]++
		}
	case KindKube:
		uh.counts[mvKube]++
		if o.Fail {
			uh.counts[mvKubeDenied]++
		}
	}
	if len(uh.ev) < mvEvidence {
		uh.ev = append(uh.ev, o.Evidence())
	}
}

func addSym(set []Sym, s Sym) []Sym {
	if s == (Sym{}) || len(set) >= mvDistinctCap || slices.Contains(set, s) {
		return set
	}
	return append(set, s)
}

// Advance implements Model: the open hour closes once event time has passed it.
func (m *Multivariate) Advance(now int64, out *Emitter) {
	if unixHour(now) > m.hour {
		m.close(out)
	}
}

// Flush implements Flusher: the open hour closes at the end of the input.
func (m *Multivariate) Flush(out *Emitter) { m.close(out) }

// raw fills x with the log1p features of uh.
func (uh *mvHour) raw(x []float64) {
	c := uh.counts
	c[mvHosts], c[mvPrograms], c[mvDirs], c[mvSrcIPs] = uint32(len(uh.hosts)), uint32(len(uh.progs)), uint32(len(uh.dirs)), uint32(len(uh.ips))
	for j := range mvDims {
		x[j] = math.Log1p(float64(c[j]))
	}
}

// close scores every open vector against the reference in force before the hour,
// reports the unusual ones and learns the others, in user-name order.
//
// Population shift guard: when more than mvShiftShare of the hour's vectors (and
// more than mvShiftMin) fall below the threshold, the population changed (a Monday
// morning after a quiet weekend, a new deployment), not one user: nothing is
// reported and everything is learnt. Without the guard, withholding alerted
// vectors from learning locks the model out of the new normal and it reports the
// same shift every hour (measured: 955 signals instead of 59 with Window 1024).
func (m *Multivariate) close(out *Emitter) {
	if len(m.open) == 0 {
		return
	}
	keys := sortedKeys(m.open)
	m.pend = m.pend[:0]
	var raw [mvDims]float64
	candidates := 0
	for _, user := range keys {
		uh := m.open[user]
		uh.raw(raw[:])
		u := m.user(user)
		pv := mvPending{user: user, uh: uh, u: u, raw: raw, x: raw, scored: true}
		if m.cfg.PerUser {
			pv.scored = u.n >= mvMinHistory
			for j := range mvDims {
				pv.x[j] = raw[j] - float64(u.mean[j])
			}
		}
		if pv.scored {
			s, err := m.model.Score(pv.x[:])
			if err != nil {
				continue // not finite: cannot happen with counts
			}
			pv.score, pv.p = s, m.model.PValue(s)
			if m.model.Trained() && pv.p < m.cfg.PValue {
				pv.alert = true
				candidates++
			}
		}
		m.pend = append(m.pend, pv)
	}
	shift := candidates > mvShiftMin && float64(candidates) > mvShiftShare*float64(len(m.pend))
	for i := range m.pend {
		pv := &m.pend[i]
		if pv.alert && !shift {
			copy(m.x, pv.x[:])
			m.report(pv.user, pv.uh, pv.u, pv.raw[:], pv.score, pv.p, out)
			continue // reported or not, neither the population nor the user learns it
		}
		if pv.scored {
			_ = m.model.Update(pv.x[:]) // finite by construction
		}
		pv.u.learn(pv.raw[:])
	}
	if shift {
		m.shifts++
	}
	clear(m.pend)
	m.pend = m.pend[:0]
	if cap(m.pend) > 1024 {
		m.pend = nil // a busy hour's scratch is not kept for the quiet ones
	}
	m.open = map[Sym]*mvHour{} // a cleared map would keep its buckets
}

// mvPending is one closed vector between scoring and learning.
type mvPending struct {
	user          Sym
	uh            *mvHour
	u             *mvUser
	raw, x        [mvDims]float64
	score, p      float64
	scored, alert bool
}

// user returns the baseline of key, creating it and evicting the coldest when full.
func (m *Multivariate) user(key Sym) *mvUser {
	if u := m.users[key]; u != nil {
		m.lru.moveToFront(&u.node)
		return u
	}
	if m.cfg.MaxUsers > 0 && len(m.users) >= m.cfg.MaxUsers {
		if b := m.lru.back(); b != nil {
			m.lru.remove(b)
			delete(m.users, b.v.key)
		}
	}
	u := &mvUser{key: key}
	u.node.v = u
	m.users[key] = u
	m.lru.pushFront(&u.node)
	return u
}

// learn folds one active hour into the user's decayed mean and variance: a running
// mean for the first 1/mvAlpha hours, then an exponential one.
func (u *mvUser) learn(x []float64) {
	u.n = min(u.n+1, math.MaxUint32-1)
	a := max(mvAlpha, 1/float64(u.n))
	for j := range mvDims {
		d := x[j] - float64(u.mean[j])
		u.mean[j] += float32(a * d)
		u.v[j] = float32((1 - a) * (float64(u.v[j]) + a*d*d))
	}
}

// usual is the user's usual range of feature j as counts ("0-12"), from the decayed
// mean and deviation of log1p.
// mvMinCount is the least count of a leading feature worth a signal.
const mvMinCount = 5

// material reports whether x (log1p of a count) of feature j is worth a signal:
// at least mvMinCount and above the user's usual range (mean + 2 sd).
func (u *mvUser) material(j int, x float64) bool {
	n := math.Round(math.Expm1(x))
	if n < mvMinCount {
		return false
	}
	if u.n == 0 {
		return true
	}
	mu, sd := float64(u.mean[j]), math.Sqrt(max(0, float64(u.v[j])))
	return x > mu+2*sd
}

func (u *mvUser) usual(j int) string {
	if u.n == 0 {
		return "no history"
	}
	mu, sd := float64(u.mean[j]), math.Sqrt(max(0, float64(u.v[j])))
	lo := math.Round(math.Max(0, math.Expm1(mu-2*sd)))
	hi := math.Round(math.Max(0, math.Expm1(mu+2*sd)))
	if lo == hi {
		return strconv.FormatFloat(lo, 'f', 0, 64)
	}
	return strconv.FormatFloat(lo, 'f', 0, 64) + "-" + strconv.FormatFloat(hi, 'f', 0, 64)
}

// report emits the signal of an alerting vector and reports whether it did: an
// hour whose leading feature is not material (fewer than mvMinCount, or within
// the user's usual range: one failed logon, one denied request) or that repeats
// a report of the day is not reported. (Such hours are still not learnt: letting
// the model learn them measurably blunted it on the simulator, 14 to 5 alerts.)
func (m *Multivariate) report(user Sym, uh *mvHour, u *mvUser, raw []float64, score, p float64, out *Emitter) bool {
	attr, err := m.model.Attribute(m.x, m.attr)
	if err != nil {
		return false
	}
	idx := make([]int, mvDims)
	var total float64
	for j := range idx {
		idx[j] = j
		total += attr[j]
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(attr[b], attr[a]) })
	top := idx[:0:0]
	// Features above the user's mean come first (they name the activity and
	// the tactic), then those below it; a zero count where the user usually has
	// none explains nothing.
	for _, up := range []bool{true, false} {
		for _, j := range idx {
			if len(top) < 3 && attr[j] > 0 && attr[j] >= 0.05*total && (raw[j] > float64(u.mean[j])) == up && (raw[j] > 0 || u.mean[j] >= 0.1) {
				top = append(top, j)
			}
		}
	}
	if len(top) == 0 {
		top = append(top, idx[0])
	}
	if !u.material(top[0], raw[top[0]]) {
		return false
	}
	if t := m.hour * int64(time.Hour); m.normal.is(str(user), mvFeatures[top[0]].name, t) {
		return false
	}
	if last := u.alerted[top[0]]; last != 0 && m.hour-int64(last) < mvRepeatHours {
		return false // reported within the day for the same reason
	}
	u.alerted[top[0]] = int32(min(m.hour, math.MaxInt32))
	name := str(user)
	start := unixTime(m.hour * int64(time.Hour))
	end := start.Add(time.Hour)
	var parts, expected, observed []string
	feats := make([]detect.Feature, 0, len(top))
	for _, j := range top {
		f := mvFeatures[j]
		n := strconv.FormatFloat(math.Round(math.Expm1(raw[j])), 'f', 0, 64)
		if (j == mvHosts || j == mvPrograms || j == mvDirs || j == mvSrcIPs) && math.Round(math.Expm1(raw[j])) >= mvDistinctCap {
			n += "+"
		}
		usual := u.usual(j)
		parts = append(parts, fmt.Sprintf("%s %s (usually %s)", n, f.noun, usual))
		expected = append(expected, f.name+" usually "+usual)
		observed = append(observed, f.name+" "+n)
		w := 1.0
		if total > 0 {
			w = attr[j] / total
		}
		feats = append(feats, detect.Feature{Name: f.name, Observed: n, Expected: usual, Weight: w})
	}
	lead := mvFeatures[top[0]]
	ents := []detect.Entity{{Kind: detect.EntityUser, Value: name}}
	hosts := make([]string, 0, len(uh.hosts))
	for _, h := range uh.hosts {
		hosts = append(hosts, str(h))
	}
	slices.Sort(hosts)
	for _, h := range hosts[:min(3, len(hosts))] {
		ents = append(ents, detect.Entity{Kind: detect.EntityHost, Value: h})
	}
	conf := 0.5 + 0.4*(1-p/m.cfg.PValue)
	out.Emit(Finding{
		Time:   end.UnixNano() - 1,
		RuleID: "multivariate.user_hour", Title: "Unusual hour of activity for " + name + " (" + lead.noun + ")",
		Severity: lead.sev, Confidence: conf,
		Tactics: []string{lead.tactic}, Techniques: []string{lead.tech},
		Entities: ents, Evidence: slices.Clone(uh.ev), Normal: NormalKey{Entity: name, Attribute: lead.name},
		Explain: detect.Explanation{
			Summary: fmt.Sprintf("%s's activity between %s and %s is unusual (p = %.2g): %s", name, start.Format("15:04"), end.Format("15:04"),
				p, strings.Join(parts, ", ")),
			Expected: strings.Join(expected, "; ") + fmt.Sprintf(" (%d active hours of history)", u.n),
			Observed: start.Format("2006-01-02 15:04") + "-" + end.Format("15:04") + " UTC: " + strings.Join(observed, "; "),
			Score:    score, Probability: p, Features: feats,
		},
	})
	return true
}

// Stats implements Model. Bytes use the measured costs (BenchmarkMultivariateMemory):
// 220 bytes per user baseline, 300 bytes per open user-hour plus 12 per distinct
// value, plus the LODA model's fixed arrays.
func (m *Multivariate) Stats() ModelStats {
	b := int64(m.model.Config().MemoryBytes()) + int64(len(m.users))*220
	for _, uh := range m.open {
		b += 300 + 12*int64(len(uh.hosts)+len(uh.progs)+len(uh.dirs)+len(uh.ips))
	}
	return ModelStats{Entities: len(m.users) + len(m.open), Bytes: b, Trained: m.model.Trained()}
}

// Snapshot format (gob): one mvSnapshot; Model is the LODA model's own versioned
// binary snapshot.
const mvSnapshotVersion = 1

type mvSnapshot struct {
	Version int
	Hour    int64
	Dropped uint64
	Shifts  uint64
	Users   []mvUserSnap // least recently used first
	Open    []mvHourSnap // by user name
	Model   []byte
	Normal  []NormalEntry
}

type mvUserSnap struct {
	Key     string
	N       uint32
	Mean, V []float32
	Alerted []int32
}

type mvHourSnap struct {
	User               string
	Counts             []uint32
	Hosts, Progs, Dirs []string
	IPs                []string
	Evidence           []detect.EvidenceRef
}

// Snapshot implements Model.
func (m *Multivariate) Snapshot(w io.Writer) error {
	var md bytes.Buffer
	if err := m.model.Snapshot(&md); err != nil {
		return fmt.Errorf("snapshotting multivariate model: %w", err)
	}
	snap := mvSnapshot{Version: mvSnapshotVersion, Hour: m.hour, Dropped: m.dropped, Shifts: m.shifts, Model: md.Bytes(), Normal: m.normal.entries()}
	for n := m.lru.back(); n != nil; n = n.prev {
		u := n.v
		snap.Users = append(snap.Users, mvUserSnap{Key: str(u.key), N: u.n, Mean: u.mean[:], V: u.v[:], Alerted: u.alerted[:]})
	}
	strs := func(set []Sym) []string {
		out := make([]string, len(set))
		for i, s := range set {
			out[i] = str(s)
		}
		return out
	}
	for _, user := range sortedKeys(m.open) {
		uh := m.open[user]
		hs := mvHourSnap{User: str(user), Counts: uh.counts[:], Hosts: strs(uh.hosts), Progs: strs(uh.progs), Dirs: strs(uh.dirs), Evidence: uh.ev}
		for _, a := range uh.ips {
			hs.IPs = append(hs.IPs, a.String())
		}
		snap.Open = append(snap.Open, hs)
	}
	if err := gob.NewEncoder(w).Encode(&snap); err != nil {
		return fmt.Errorf("snapshotting multivariate state: %w", err)
	}
	return nil
}

// Restore implements Model. On error the model is unchanged.
func (m *Multivariate) Restore(r io.Reader) error {
	var snap mvSnapshot
	if err := decodeGob(r, &snap); err != nil {
		return fmt.Errorf("restoring multivariate state: %w", err)
	}
	if snap.Version != mvSnapshotVersion {
		return fmt.Errorf("restoring multivariate state: version %d, want %d", snap.Version, mvSnapshotVersion)
	}
	if len(snap.Users) > m.cfg.MaxUsers || len(snap.Open) > m.cfg.MaxOpen {
		return fmt.Errorf("restoring multivariate state: %d users and %d open hours beyond the caps %d and %d", len(snap.Users), len(snap.Open), m.cfg.MaxUsers, m.cfg.MaxOpen)
	}
	md, err := multivariate.New(m.cfg.loda())
	if err != nil {
		return fmt.Errorf("restoring multivariate model: %w", err)
	}
	if err := md.Restore(bytes.NewReader(snap.Model)); err != nil {
		return fmt.Errorf("restoring multivariate model: %w", err)
	}
	if md.Config().Dims != mvDims {
		return fmt.Errorf("restoring multivariate model: %d features, want %d", md.Config().Dims, mvDims)
	}
	users := make(map[Sym]*mvUser, len(snap.Users))
	var lru lruList[*mvUser]
	for _, us := range snap.Users {
		if us.Key == "" || len(us.Mean) != mvDims || len(us.V) != mvDims || len(us.Alerted) != mvDims {
			return fmt.Errorf("restoring multivariate state: user %q with %d means and %d variances", us.Key, len(us.Mean), len(us.V))
		}
		u := &mvUser{key: intern(us.Key), n: us.N}
		if users[u.key] != nil {
			return fmt.Errorf("restoring multivariate state: user %q twice", us.Key)
		}
		for j := range mvDims {
			if !finite32(us.Mean[j]) || !finite32(us.V[j]) || us.V[j] < 0 {
				return fmt.Errorf("restoring multivariate state: user %q: feature %d not finite", us.Key, j)
			}
		}
		copy(u.mean[:], us.Mean)
		copy(u.v[:], us.V)
		copy(u.alerted[:], us.Alerted)
		u.node.v = u
		users[u.key] = u
		lru.pushFront(&u.node)
	}
	open := make(map[Sym]*mvHour, len(snap.Open))
	for _, hs := range snap.Open {
		key := intern(hs.User)
		if key == (Sym{}) || open[key] != nil || len(hs.Counts) != mvDims || len(hs.Evidence) > mvEvidence ||
			len(hs.Hosts) > mvDistinctCap || len(hs.Progs) > mvDistinctCap || len(hs.Dirs) > mvDistinctCap || len(hs.IPs) > mvDistinctCap {
			return fmt.Errorf("restoring multivariate state: open hour of %q malformed", hs.User)
		}
		uh := &mvHour{ev: hs.Evidence}
		copy(uh.counts[:], hs.Counts)
		var err error
		if uh.hosts, err = symSet(hs.Hosts); err != nil {
			return err
		}
		if uh.progs, err = symSet(hs.Progs); err != nil {
			return err
		}
		if uh.dirs, err = symSet(hs.Dirs); err != nil {
			return err
		}
		for _, s := range hs.IPs {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return fmt.Errorf("restoring multivariate state: %w", err)
			}
			uh.ips = append(uh.ips, a)
		}
		open[key] = uh
	}
	var normal normalSet
	if !normal.load(snap.Normal) {
		return fmt.Errorf("restoring multivariate state: %d normal verdicts, more than %d", len(snap.Normal), maxNormal)
	}
	m.model, m.users, m.lru, m.open, m.hour, m.dropped, m.shifts = md, users, lru, open, snap.Hour, snap.Dropped, snap.Shifts
	m.normal = normal
	return nil
}

// MarkNormal implements Normalizer: the user's (entity's) hours led by the
// feature attribute ("file_accesses"; "" for any) are normal and not reported.
func (m *Multivariate) MarkNormal(entity, attribute string, until time.Time) bool {
	if entity == "" {
		return false
	}
	if attribute != "" && !slices.ContainsFunc(mvFeatures[:], func(f mvFeature) bool { return f.name == attribute }) {
		return false
	}
	return m.normal.mark(entity, attribute, until)
}

func symSet(in []string) ([]Sym, error) {
	out := make([]Sym, 0, len(in))
	for _, s := range in {
		if s == "" {
			return nil, errors.New("restoring multivariate state: empty distinct value")
		}
		out = append(out, intern(s))
	}
	return out, nil
}

func finite32(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }

var (
	_ Model      = (*Multivariate)(nil)
	_ Flusher    = (*Multivariate)(nil)
	_ Normalizer = (*Multivariate)(nil)
)

// DefaultMultivariate returns the adapter with the default configuration, which
// is valid by construction (a test checks it).
func DefaultMultivariate() *Multivariate {
	m, err := NewMultivariate(MultivariateConfig{})
	if err != nil {
		panic(err) // the defaults are constants
	}
	return m
}
