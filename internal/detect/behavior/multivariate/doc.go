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
// projections, ±1), keeps a one-dimensional equal-width histogram of every
// projection, and scores x by the mean surprise
//
//	f(x) = -1/k * sum_i log p_i(w_i · z(x))
//
// where p_i is the histogram density (Laplace-smoothed, pseudo-count 1). The
// histograms describe the last Window vectors: the model keeps those vectors
// in a ring and every Refit updates re-fits, from the ring alone, the
// per-feature robust scaling z_j = clip((x_j - median_j) / (1.4826 MAD_j)) and
// all histograms. That is the "two windows" variant of the paper done exactly:
// the reference is a true sliding window, so the model forgets an old normal
// after at most Window+Refit updates, and the score never depends on anything
// older.
//
// Calibration: Update scores each vector against the reference in force before
// learning it (prequential) and keeps the last Calibration such scores in a
// ring; PValue(s) is (1 + #{recent scores >= s}) / (1 + n), so the engine can
// threshold at, say, p < 0.001 without knowing the raw scale (nats).
//
// Attribution (Attribute): each projection's excess surprise over its own
// expected surprise under the reference, max(0, s_i - E[s_i]), is shared among
// the projection's features in proportion to |w_ij z_j|, their part in moving
// the projected value. The parts sum, over features, to the mean excess
// surprise; a vector that deviates in one feature puts nearly all of it on
// that feature. (Pevný's own explanation is a t-test between projections with
// and without the feature; the proportional split is sharper when a feature
// shares projections with others, and it adds up.)
//
// # Why LODA rather than RCF, Half-Space Trees or xStream
//
//   - Cost per update: O(k * sqrt(d)) multiply-adds plus k table look-ups
//     (k=100, d=12: 400 multiply-adds), and an amortised re-fit of
//     O(Window*k*sqrt(d)/Refit + d*Window*log(Window)/Refit). Random Cut Forest
//     needs O(trees * depth) pointer-chasing inserts and deletes with bounding
//     box updates; HST and xStream are O(trees * depth) as well.
//   - Memory: fixed arrays sized by Config alone (MemoryBytes; about 520 KB
//     with the defaults at d=12, most of it the 4096-vector window; 33 KB
//     with Window=256). RCF stores trees*sample nodes with boxes (~100 trees x
//     256 points x 2 boxes of d floats: several MB at d=12).
//   - Attribution: RCF's DiVector is the best of the four, HST has none
//     (a path mixes features and masses), xStream's chains hash projected
//     features so credit is lost. LODA's projections name their features,
//     which gives the split above directly.
//   - Drift: the exact sliding window gives a stated forgetting horizon
//     (Window+Refit updates) and no hidden decay constants; HST is similar
//     (reference/latest windows), RCF forgets by reservoir replacement, which
//     is time-decayed but random.
//   - Determinism: projections come from math/rand/v2 PCG seeded with
//     Config.Seed; nothing else is random, no maps are iterated, no clock is
//     read. Same seed, same stream, same binary: bit-identical scores.
//     (Go may fuse multiply-adds on some architectures, so bits may differ
//     between architectures, not between runs.)
//   - Weakness: LODA sees the data through a few features at a time, so an
//     anomaly that only breaks a correlation between two features not sharing
//     a projection is invisible; with k=100 and d=12 every pair shares about 8
//     projections. The histogram resolution is Bins over [-Range, Range]
//     robust-z units; anything beyond lands in the edge bins.
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
// PValue are for the engine to threshold. It does not detect anomalies that
// a single vector cannot show (slow drifts of one entity are the engine's
// per-entity baselines' business). A Model is not safe for concurrent use.
package multivariate
