package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/detect"
)

// Topic names.
const (
	EventsTopic  = "events"  // raw records, partitioned by entity key
	SignalsTopic = "signals" // released signals and partitions' watermarks, one partition
)

// Batch is one message of the signals topic: what a partition's processor
// released in one step, in order, and its watermark after them. Watermark is
// Unix nanoseconds of event time: the partition will release no signal at or
// before it, except late ones (records later than the out-of-order
// tolerance). Idle says the partition's log is quiet and it holds nothing: the
// correlator does not wait for it.
type Batch struct {
	Version   int        `json:"v"`
	Partition int        `json:"p"`
	Watermark int64      `json:"wm"`
	Idle      bool       `json:"idle,omitempty"`
	Signals   []Released `json:"signals,omitempty"`
}

// Released is a signal with the entity resolutions its partition made of it
// (the IP→host bindings the partition's events taught it), which the
// correlator applies as serve's correlator would have.
type Released struct {
	Signal   detect.Signal `json:"signal"`
	Resolved []Resolution  `json:"resolved,omitempty"`
}

// Resolution maps an entity to the one it is.
type Resolution struct {
	From detect.Entity `json:"from"`
	To   detect.Entity `json:"to"`
}

const batchVersion = 1

// MaxBatchBytes bounds a signals message.
const MaxBatchBytes = 64 << 20

// EncodeBatch returns b as a message of the signals topic with the given ID.
// IDs must differ between batches (a batch may say what an earlier one
// said: idle again at the same watermark); the correlator recognises
// signals given twice by their ids.
func EncodeBatch(b *Batch, id string) (bus.Message, error) {
	b.Version = batchVersion
	data, err := json.Marshal(b)
	if err != nil {
		return bus.Message{}, fmt.Errorf("encoding the signals of partition %d: %w", b.Partition, err)
	}
	if len(data) > MaxBatchBytes {
		return bus.Message{}, fmt.Errorf("the signals of partition %d are %d bytes in one step, over %d", b.Partition, len(data), MaxBatchBytes)
	}
	return bus.Message{ID: id, Data: data}, nil
}

// DecodeBatch reads a signals message, checking what the correlator relies on:
// the version, a partition among partitions, and every signal's id and time.
func DecodeBatch(data []byte, partitions int) (Batch, error) {
	var b Batch
	if len(data) > MaxBatchBytes {
		return b, fmt.Errorf("signals message of %d bytes, over %d", len(data), MaxBatchBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, fmt.Errorf("signals message: %w", err)
	}
	if dec.More() {
		return b, errors.New("signals message: data after the batch")
	}
	switch {
	case b.Version != batchVersion:
		return b, fmt.Errorf("signals message: version %d, want %d", b.Version, batchVersion)
	case b.Partition < 0 || b.Partition >= partitions:
		return b, fmt.Errorf("signals message: partition %d, want 0 to %d", b.Partition, partitions-1)
	}
	for i := range b.Signals {
		s := &b.Signals[i].Signal
		if s.ID == "" || s.Time.IsZero() {
			return b, fmt.Errorf("signals message of partition %d: signal %d has no id or no time", b.Partition, i)
		}
	}
	return b, nil
}
