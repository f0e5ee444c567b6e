// Package seasonal owns two per-entity behavioural baselines of the
// behavioural engine: a seasonal volume model and a time-of-day profile.
//
// # Volume
//
// For every (entity, metric) pair (failed logins, bytes out, DNS queries, API
// errors, files touched, logons, processes, ...) the model sums the amounts of
// an event-time hour. When the stream's time passes the hour (or on Advance /
// Flush) the hour is closed and compared with the entity's own baseline for
// that hour of the week (168 slots, Monday 00:00 UTC = slot 0).
//
// Statistics are kept on y = log1p(amount): counts and byte volumes are
// heavy-tailed and multiplicative, and in log space one robust location/scale
// pair serves both. Each slot keeps an exponentially weighted mean and mean
// absolute deviation (EW mean/MAD, sigma = 1.2533*MAD) with alpha =
// max(1/n, 1/SlotHorizon); new values are winsorised to mean +- 3 sigma before
// they are learned, hours that raised a finding are learned with a low weight
// (FlaggedWeight), so one attack hour does not poison the baseline. Slots with
// few observations are shrunk (empirical-Bayes style, K pseudo-observations)
// towards a pooled group (weekday day, weekday night, weekend day, weekend
// night), which is itself shrunk towards the entity's all-hours baseline.
//
// The probability of the observed hour is the Gaussian tail of the robust z
// score in log space, z = (y - mu) / (sigma * sqrt(1 + 1/(n+1))), with sigma
// floored at SigmaFloor. This is a log-normal tail, chosen over a negative
// binomial because it applies unchanged to byte volumes (not counts), is
// cheap, and its robust fit cannot be dragged by one outlier; the floor keeps
// small integer counts (0 -> 3 failed logins) from producing tiny p values.
// A negative binomial fit would be better calibrated for small counts: not
// done. See Hochenbaum, Vallis, Kejariwal, "Automatic Anomaly Detection in the
// Cloud Via Statistical Learning" (Twitter S-H-ESD, 2017) for seasonal
// robust baselines, and Rousseeuw & Croux (1993) for MAD-type scales.
//
// HIGH findings need p < HighP and amount >= the metric's MinHigh. LOW
// findings (a steadily busy entity going silent) exist only for metrics with
// Low set, and only when both the slot's and the entity's all-hours expected
// value are at least MinLowExpected and the slot's sigma is at most
// MaxLowSigma; one LOW finding per silent run. Hours with no events are
// learned as zeros (the model walks the hours between two closes, no hour is
// stored) while the entity was active within DormantHours; after that an
// absent entity is not taught that silence is normal.
//
// # Time of day
//
// Per user (any entity whose events carry a metric with Activity set) a
// decayed 168-slot histogram of distinct active hours (an hour counts once,
// however many events it holds), weekly decay with ProfileHalfLifeWeeks. The
// probability that the user is active in slot s is a smoothed ratio
// (sum_w w*count + A) / (sum_w w*weeks + B) over a neighbourhood: the slot,
// +-1 and +-2 hours of the same day, and the same hours (+-1) of the other
// days of the same class (weekday or weekend), and weakly (0.04) the same
// hour of the days of the other class. A finding is raised for an
// active hour with p < RareP, at most once per contiguous rare session.
//
// # Common properties
//
// Warm-up: no volume finding before WarmupDays of history of that pair, no
// time-of-day finding before ProfileWarmupDays and ProfileMinActiveHours;
// every finding carries a confidence growing with history. Every finding
// carries the baseline (expected value, p5-p95 range or usual hours), the
// observation, the probability and a plain sentence. MarkNormal suppresses
// findings for a pair until an event time and teaches the value as normal.
// Only event time is used; the model is deterministic and not safe for
// concurrent use (one Model per engine shard).
//
// # Memory
//
// Series and profiles live in fixed-size records in chunked slabs (growth
// never copies records) with an intrusive LRU list; there is no per-event
// allocation in steady state. At MaxSeries / MaxProfiles the least recently
// observed record is evicted, and records idle for EvictAfterDays of event
// time are dropped at the hour sweep. Cost, measured by BenchmarkMemory1M
// (1M entities, entity strings excluded since the caller owns them): about
// 1.1 KB per (entity, metric) series (168 slots x 5 bytes, pooled baselines,
// the open hour with 5 evidence ids, LRU links, map entry) and about 0.8 KB
// per user profile (168 slots x 4 bytes, LRU links, map entry).
//
// Cost per event: two map lookups (series, profile) and O(1) updates. Each
// hour of event time the model sweeps every tracked record once (closing the
// hour, learning zero hours, evicting idle records): O(records) per stream
// hour, independent of the event rate.
//
// # Not done
//
// Time zones (everything is UTC "as seen in the data"), holidays, trend
// (a steadily growing entity is learned with lag), cross-entity peer groups,
// and negative-binomial tails for small counts.
package seasonal
