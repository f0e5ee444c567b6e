// Package multivariate owns the streaming multivariate anomaly model of the
// behavioral engine: it scores a per-entity feature vector (one closed
// entity-hour: logons, failed logons, distinct hosts, processes, log bytes
// out, DNS queries, ...) against what the recent population of vectors looked
// like, calibrates the score into a p-value, and explains it per feature.
//
// # Algorithm: LODA over a sliding window
//
// The model is LODA, "Lightweight on-line detector of anomalies" (T. Pevný,
// Machine Learning 102(2), 2016). It draws k sparse random projections w_i
// (each uses ceil(sqrt(d)) features with N(0,1) weights, normalised to unit
// length; features are dealt so that each is used by the same number of
// projections, ±1) and keeps a one-dimensional equal-width histogram of every
// projection. The surprise of x on projection i is s_i = -log p_i(w_i · z(x)),
// p_i the histogram density (Laplace-smoothed, pseudo-count 1) plus, beyond
// the range the reference spanned, an exponential tail of one nat per
// standard deviation of the projection (so far out stays farther than just
// out; a plain histogram saturates at its empty bins).
//
// Features are standardised by the model itself: z_j = asinh((x_j -
// median_j) / (1.4826 MAD_j)) (mean absolute deviation when more than half
// the window sits on the median, as with counts that are mostly zero). asinh
// is about linear inside ±1 and logarithmic beyond, so heavy tails stay
// resolvable: 10 and 100 robust deviations land in different bins where a
// hard clip would put both at the edge.
//
// The histograms describe the last Window vectors: the model keeps them in a
// ring and every Refit updates re-fits, from the ring alone, the scaling and
// all histograms. That is the paper's "two windows" variant done exactly: the
// reference is a true sliding window, so the model forgets an old normal after
// at most Window+Refit updates, and a score never depends on anything older.
//
// Score (a departure from the paper, measured): LODA scores by the mean of s_i
// over all k projections. A deviation in one feature moves only the third of
// the projections that use it (d=12), so the mean dilutes it below the
// heavy-tailed noise of ordinary vectors (synthetic attacks: recall 0.50 at 1%
// false positives, one-feature deviations mostly at p > 0.05). This model
// scores by max_j of the mean s_i over the projections that use feature j: a
// LODA sub-ensemble per feature, each still multivariate. Measured on the
// same streams: recall 0.83-0.95 at 1% false positives, AUC 0.994-0.998
// against 0.983-0.986.
//
// Calibration: Update scores each vector against the reference in force before
// learning it (prequential) and keeps the last Calibration such scores in a
// ring plus a sorted copy; PValue(s) is (1 + #{recent scores >= s}) / (1 + n),
// so the engine can threshold at, say, p < 0.001 without knowing the raw
// scale (nats). The ring includes whatever anomalies were learnt: with 2% of
// outliers in the stream, p < 0.01 catches about half of what the raw
// threshold at 1% false positives catches.
//
// Attribution (Attribute): each projection's excess surprise over its own
// expected surprise under the reference, max(0, s_i - E[s_i]), is shared among
// the projection's features in proportion to |w_ij z_j|, their part in moving
// the projected value. The parts sum, over features, to the mean excess
// surprise; a vector that deviates in one feature puts nearly all of it
// (>= 99% in the tests) on that feature. (Pevný's own explanation is a t-test
// between projections with and without the feature; the proportional split
// is sharper when a feature shares projections with others, and it adds up.)
//
// # Why LODA rather than RCF, Half-Space Trees or xStream
//
//   - Cost per update: d asinh, O(k * sqrt(d)) multiply-adds and k table
//     look-ups per scoring (k=100, d=12: 400 multiply-adds; Update scores once
//     for calibration), an O(log C) calibration insert, and an amortised
//     re-fit of O(Window*(d + k*sqrt(d))/Refit + d*Window*log(Window)/Refit).
//     Random Cut Forest needs O(trees * depth) pointer-chasing inserts and
//     deletes with bounding-box updates; HST and xStream are O(trees * depth).
//     Measured (d=12, either window size): about 8 µs of CPU per Observe,
//     most of it the amortised re-fits (Window/Refit passes over the window
//     per Window updates); Refit=Window costs less and forgets more slowly.
//   - Memory: fixed arrays sized by Config alone (Config.MemoryBytes: 540,000
//     bytes with the defaults at d=12, of which the 4096-vector window is
//     393,216; 79,200 bytes with Window=256), measured by a test. RCF stores
//     trees*sample nodes with bounding boxes (100 trees x 256 points x 2 boxes
//     of d floats: several MB at d=12).
//   - Attribution: RCF's DiVector is the best of the four; HST has none worth
//     the name (a path mixes features and masses); xStream hashes projected
//     features so credit is lost. LODA's projections name their features,
//     which gives the split above directly.
//   - Drift: the exact sliding window gives a stated forgetting horizon
//     (Window+Refit updates) and no decay constant; HST is similar
//     (reference/latest windows); RCF forgets by reservoir replacement, which
//     is time-decayed but random.
//   - Determinism: projections come from math/rand/v2 PCG seeded with
//     Config.Seed; nothing else is random, no map is iterated, no clock is
//     read. Same seed, same stream, same binary: bit-identical scores. (Go may
//     fuse multiply-adds on some architectures, so bits may differ between
//     architectures, not between runs.)
//   - Weakness: LODA sees the data through a few features at a time, so an
//     anomaly that only breaks a correlation between two features not sharing
//     a projection is invisible; with k=100 and d=12 every pair shares about 8
//     projections. Histograms resolve Bins over [-Range, Range] in compressed
//     z units; the exponential tail takes over beyond what the window spanned.
//     Re-fits cost a pause (about a sort of the window per feature plus
//     Window*k projections) every Refit updates.
//
// # Input expected
//
// One vector of Dims finite values per entity-hour, features in a fixed
// order. The model standardises each feature itself (median/MAD over the
// window), so raw vectors with wildly different scales work; heavy-tailed
// magnitudes (bytes) should be given on a log scale (log1p). Entities differ
// (a server against a laptop): a single model fed raw vectors learns the
// population, so a busy server looks anomalous against laptops. The intended
// use is one model per peer group fed the engine's per-entity robust z
// (value against the entity's own history): then the model's own scaling is
// close to the identity and it learns which joint deviations are common.
//
// # Memory per key
//
// The model keeps no per-entity state: it is one model per population or
// peer group, and its whole state is fixed by Config (MemoryBytes reports it,
// a test measures it). Per-entity baselines are the engine's.
//
// # What it does not do
//
// It does not know time: order is the stream order the engine gives, and the
// window counts vectors, not hours (choose Window >= vectors per day of the
// population to cover a daily cycle). It does not decide alerts: Trained and
// PValue are for the engine to threshold; it learns every vector given to
// Update (the engine may withhold vectors it alerted on, which also keeps
// them out of the calibration ring). It does not detect anomalies that
// a single vector cannot show (slow drifts of one entity are the engine's
// per-entity baselines' business). A Model is not safe for concurrent use.
package multivariate
