// Package c2 finds command-and-control patterns in connection records (Zeek
// conn/open_conn/http/ssl logs or any flow source): beacons, strobes, long
// connections, and rare HTTP user agents.
//
// # What it owns
//
// A Tracker is fed connections (Observe) and HTTP requests (ObserveHTTP) in event
// time order and keeps, per (source, destination IP) pair and per (source, FQDN)
// pair when the connection's HTTP Host or TLS SNI is known, a bounded summary:
// the most recent MaxSamples connection start times and sizes, 24 hourly buckets
// (connections, duration), totals and a few evidence ids. Evaluate(now) scores
// every pair over the 24 hours before now and returns findings sorted by score.
//
// # Algorithm (RITA v5, activecm/rita analysis/beacons.go and analysis/analysis.go)
//
//   - Timestamp score: inter-arrival deltas (whole seconds, zero deltas dropped);
//     score = ((1-|Bowley skewness|) + (median-MAD)/median) / 2, with the skewness
//     taken as 0 when Q3-Q1 < 10 or the median equals a quartile (RITA's guard).
//   - Data size score: the same statistic over the bytes sent by the originator
//     per connection (Zeek orig_bytes), the MAD part 0 when the median is < 1.
//   - Histogram score: connections per hour over the window; max of the
//     coefficient-of-variation score (1-CV, 0 when CV>1) and RITA's bimodal fit
//     (share of non-empty hours in the two most common bar heights, heights
//     grouped by 5% of the largest bar, one outlier hour removed, needs 11 hours).
//     It keeps jittered beacons (200-350 s) that the timestamp score undersells.
//   - Duration score: with at least 6 non-empty hours, max of coverage
//     ((last-first)/(window span)) and consistency (longest run of non-empty
//     hours, wrapping, / 12).
//   - Beacon score = 0.25 × each of the four, rounded to 3 decimals (RITA default
//     weights). Pairs with fewer than MinConns distinct timestamps, an observed
//     span under MinSpan, or a strobe's count are not scored (warm-up).
//   - Strobe: at least StrobeConns connections in the window (RITA: 86,400, one a
//     second), scored as RITA's "high" impact (0.8).
//   - Long connection: total duration in the window plus the current duration of
//     connections still open (open_conn.log records, Conn.Open), bucketed like
//     RITA's calculateBucketedScore: 1 h → 0.2, 4 h → 0.4, 8 h → 0.6, 12 h+ → 0.8.
//   - Modifiers (RITA defaults): prevalence (share of the internal source hosts,
//     Config.Internal, RITA's private ranges by default, that talk to the
//     destination) ≤ 2% adds 0.15, ≥ 50% subtracts 0.15, applied only when at
//     least MinPopulation hosts are counted; HTTP requests on the pair with a
//     blank Host header add 0.1.
//   - Rare user agents: per user agent, the set of source hosts (up to
//     MaxUAHosts), requests and blank-Host requests; surfaced when used by at
//     most RareUAMaxHosts hosts with at least RareUAMinRequests requests.
//
// Each finding carries a confidence that grows with the number of connections
// and the observed span, the numbers an analyst needs, evidence ids, and a plain
// sentence.
//
// # Memory
//
// Per tracked pair: about 1 KiB of fixed state (the pair struct with its 24
// hourly buckets is a 640-byte allocation; the rest is the map entry, the
// prevalence counts and up to 4 evidence id strings) plus 8 bytes per retained
// connection (uint32 seconds and uint32 bytes; MaxSamples, default 512, so at
// most 4 KiB more). TestMemoryPerPair measures it: 966 bytes with one
// connection, 5,143 bytes with a full ring of 512. Per open connection
// about 150 bytes, per user agent about 200 bytes plus 24 bytes per host. All
// tables have hard caps (MaxPairs, MaxOpen, MaxUserAgents, MaxHTTPPairs); past a
// cap the coldest eighth of the entries by last event time is evicted.
//
// # What it does not do
//
// It does not join logs: the caller sets Conn.Host from http.log/ssl.log by uid.
// It does not resolve names, learn baselines across days (no first-seen modifier),
// use threat intelligence, or detect C2 over DNS. Histogram bins are UTC hours
// (RITA divides its dataset span into 24 bins), so datasets shorter than a day
// get fewer bins. Evaluation is a batch over all pairs, not incremental.
package c2
