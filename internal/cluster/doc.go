// Package cluster runs Vigil on many machines: ingest nodes, workers and one
// correlator, handing work to each other over a bus (NATS JetStream, package
// bus/jetstream) and keeping what analysts see in a shared store (PostgreSQL,
// package store/postgres).
//
// # Data flow
//
//	sources → ingest node: Appender decodes each record for its entity key
//	          (Keyer) and publishes the raw record to topic "events", partition
//	          bus.Partition(key, N), acknowledging the source once the bus has it
//	        → worker: owns some partitions (Node: rendezvous hashing over the
//	          live members, each partition held by a lease); per owned
//	          partition one stream.Processor with that partition's own
//	          behavioral, Sigma-correlation and IP→host binding state, storing
//	          signals and evidence, checkpointing to the store per partition,
//	          and publishing released signals with the partition's watermark to
//	          topic "signals"
//	        → correlator (the member holding lease "role/correlator"): reads
//	          "signals", releases them in event-time order at the smallest
//	          watermark of the partitions not idle, correlates, and stores the
//	          incidents; checkpoints itself to the store
//
// # Determinism
//
// A partition's results depend on its records and their order only: a worker
// that takes a partition over restores the last checkpoint and replays the
// partition from the sequence it names, as serve does after a crash. Signal
// and incident ids derive from evidence, and the correlator takes signals in
// (time, id) order, so the incidents depend on the number of partitions and not
// on how many workers run them, nor on which one dies when.
package cluster
