// Package behavior is Vigil's behavioral detection engine: models that learn what is
// normal for users, hosts, programs, network peers, Kubernetes accounts and cloud
// principals from the event stream, and report deviations with an explanation
// (the baseline, what was observed, the probability or score, the contributing
// features, the evidence events and a plain sentence).
//
// Events become compact observations (Obs, about 200 bytes, strings interned) in the
// detect workers; the Engine runs them through every Model in event-time order, so
// results never depend on worker scheduling, and all time logic is event time.
// Every model keys its state by entity, bounds it (LRU eviction of cold entities),
// snapshots and restores it, and learns for a stated period before it alerts.
//
// The models, each with its own id and version stamped on its signals, are listed
// in one place (see Default in the app wiring); their algorithms live in this
// package (first-seen and rarity) and in the sub-packages (seasonal volume and
// time of day, impossible travel, C2 beacons, DNS, MIDAS edge streams, multivariate).
package behavior

// Version is the version of the engine's observation contract.
const Version = "1"
