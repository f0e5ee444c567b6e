// Package dnsanomaly owns DNS behavioural analytics: DNS tunnelling, DGA-like
// names and rare domains, learned from the query stream itself (Zeek dns.log or
// any source normalised to dns.question.*), in event time and deterministically.
//
// Names are normalised (Normalize: lower case, one trailing dot dropped, RFC 1035
// lengths, letters/digits/'-'/'_' only; rejects are counted by stable reason) and
// keyed on their registered domain from the public suffix list
// (golang.org/x/net/publicsuffix; a private-registry suffix such as cloudfront.net
// makes each customer its own domain). Reverse lookups (.arpa) and IPv4 literals
// are counted, never scored; single labels and unlisted TLDs (.local, .corp) are
// the organisation's own zone: tunnel scoring only.
//
// Tunnelling, per (client, registered domain) and window (1 h), and per
// registered domain over all its clients (a tunnel spread thin over several
// hosts, reported when at least two clients share the window): distinct
// subdomains (exact up to 16, then a 256-register HyperLogLog, Flajolet et al.
// 2007), mean subdomain length, Shannon entropy per character, longest label, the
// share of TXT/NULL/CNAME/MX queries and the volume. The org's distribution of
// log2(1+distinct), mean length and entropy over closed, unflagged pair-windows
// gives robust z-scores (median and 1.4826·MAD from fixed-bin histograms; the
// aggregates have their own distinct-count distribution). A pair is reported when distinct ≥ MinDistinct, its z ≥ TunnelZ, the shape z
// (length or entropy) ≥ ShapeZ and distinct exceeds UsualFactor times the
// domain's own usual per-client count. Popular CDNs and clouds are handled by
// prevalence and profile, not by names: a domain with PrevalentClients clients
// and PrevalentAge of history needs PrevalentExtraZ more on both z-scores, and a
// domain whose names have always looked like this (its own EWMA of mean length
// and entropy over past windows) is not reported for having more of them.
// (Features after Farnham and Atlasis, "Detecting DNS tunneling", SANS 2013, and
// Nadler et al., "Detection of malicious and low throughput data exfiltration
// over the DNS protocol", 2019.)
//
// DGA-like names: a character trigram model (hierarchical Dirichlet backoff to
// bigram and add-one unigram) over registered-domain labels, trained only on
// domains used by at least MinTrainClients distinct clients, with one unit of
// weight per client up to MaxTrainClients, so one infected host cannot teach the
// model its own names. A label is scored by its mean log2-probability per
// character and compared with the learned distribution of scores of newly common
// labels (scored out of sample); a single-client domain whose label scores DGAZ
// sigma below is suspicious, and a client with DGAMinNames suspicious domains in
// a window is reported, with its NXDOMAIN rate as supporting evidence. Labels
// under private-registry suffixes (cloudfront.net, azurewebsites.net) are assigned
// by the platform and neither train nor get scored (Yadav et
// al., "Detecting algorithmically generated malicious domain names", IMC 2010;
// Antonakakis et al., "From throw-away traffic to bots", USENIX Security 2012).
//
// Rare domains: a public registered domain first seen after the warm-up, still
// resolved by at most RareMaxClients clients once it has been queried in
// RareMinHours distinct hours (a persistent, private domain: beacon-like), in an
// organisation of at least RareMinOrg tracked clients. Each domain is reported
// once.
//
// Nothing is reported during WarmUp of event time from the first query, nor
// before each baseline holds enough observations. A (client, domain) pair or a
// client's DGA count is reported once per window, again only when it has grown
// Regrowth-fold, and at most MaxPerWindow times. MarkNormal (analyst feedback)
// and Config.AllowSuffixes silence a domain; a domain marked normal keeps being
// learned, its anomalous-looking windows included.
//
// Memory is bounded by MaxDoms, MaxPair (which counts the domains' aggregates
// too) and MaxCli; at a cap the coldest eighth by event time is evicted.
// Measured on amd64 (mem_test.go): about 940 bytes per registered domain with
// the pair that brought it and its aggregate, about 500 bytes per client with
// its pair, about 920 bytes for a client whose pair's sketch turned into a
// HyperLogLog; the character model is a fixed 300 KiB. With the defaults
// (100,000 domains, 200,000 pairs, 50,000 clients) the worst case, every pair a
// HyperLogLog, is about 250 MB; a 1,000-host organisation uses a few MB.
//
// Snapshot/Restore carry all learned state in a versioned binary format tied to
// the configuration; Restore checks every count and length before allocating.
//
// It does not: see answers (it scores questions only; no TTL or answer-IP
// features), score reverse lookups or IPv6 literals, detect
// dictionary-word DGAs (they read like the organisation's names), or learn from
// a stream whose only client is its resolver (prevalence needs the real clients:
// feed logs from inside the resolver, not above it).
package dnsanomaly
