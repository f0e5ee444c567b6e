// Package intel owns threat-intelligence indicators of compromise (IOCs): parsing
// feeds, normalising indicators, and an index that answers which indicators match an
// address, DNS name, URL or file hash at a given event time. The ioc detector
// (internal/detect/ioc) matches events against it.
//
// Feeds: plain lists (one indicator per line, kind inferred, defanged spellings
// refanged, hosts-file lines), CSV with a header (generic indicator/type columns or
// kind-named columns as abuse.ch URLhaus and MalwareBazaar write them), STIX 2.1
// bundles (indicator objects whose stix pattern is an OR of equality comparisons on
// ipv4-addr, ipv6-addr, domain-name, url values and file hashes; OASIS STIX 2.1 §9),
// and MISP event JSON (the MISP feed format's Event with Attribute and Object lists,
// honouring to_ids and deleted). Parsers read hostile input: every record that does
// not become an indicator is counted (Feed.Rejected) and the first MaxRejectsKept
// are listed with their place (file:line, or file:object-id) and reason; lines are
// bounded (1 MiB), files by StoreOptions.MaxFeedBytes, labels per indicator (16).
//
// Normalisation: addresses unmapped (IPv4-in-IPv6 matches as IPv4) and prefixes
// masked, /0 refused; domains lower-case without a trailing dot or "*." prefix,
// at least two labels and a non-numeric top-level label (so a feed line "com" cannot
// match the world), non-ASCII names only as punycode; URLs with scheme and host
// lower-cased, user information, fragment and default port dropped, IPv6 literals
// canonical, ports decimal, an empty path written "/", path and query byte for
// byte (the same normaliser reads event URLs, whole or in parts); hashes lower-case
// hex, kind by length. Refanging and normalising are idempotent: a feed re-read from
// its own normalised values is unchanged (FuzzFormatsAgree).
//
// Index: one slice of indicators chained by key (a map value is an int32), a map per
// indexed kind. Addresses and prefixes live in one map keyed by netip.Prefix and are
// probed for each prefix length present, longest first (at most 33 probes for IPv4,
// 129 for IPv6; real feeds have a handful of lengths), so the most specific prefix
// with an indicator valid at the event time wins. Domains are probed for the name
// and then each parent, most specific first ("evil.example" matches
// "a.b.evil.example"). Hashes are keyed by their decoded bytes. Lookups do not
// allocate (names are lower-cased and URLs normalised into stack buffers). Validity
// (valid_from inclusive, valid_until exclusive) is checked against the event time,
// never the wall clock; revoked indicators are dropped at Build. Within a feed a
// repeated kind and value keeps the first; across feeds both are kept for
// attribution. The index is immutable; Store swaps a new one in atomically only
// when every feed parsed and the index built, so a bad reload keeps the old one.
//
// Memory: 285 bytes per indicator for the index (slice entry, chain, map slot;
// TestIndexMemory, 100,000 mixed indicators) on top of the parsed value strings; the
// index holds at most IndexOptions.MaxIndicators (default 2,000,000) indicators and
// Build fails beyond it.
//
// What it does not do: download feeds or follow TAXII/MISP servers, evaluate STIX
// patterns beyond OR-ed equalities (AND, FOLLOWEDBY, MATCHES, qualifiers are counted
// as unsupported), percent-decode URLs, match URL prefixes or wildcards, match email
// addresses, JA3, registry keys or file names, or decide severity (the detector does).
package intel
