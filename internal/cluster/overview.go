package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/bus"
)

// Overview is the cluster as its bus shows it, whichever node asks: the live
// members, who holds each partition and the correlator role, and how much
// each partition holds that its worker has not checkpointed (the lag a
// restart would replay, and what --max-backlog bounds).
type Overview struct {
	Members    []string            `json:"members"`
	Correlator string              `json:"correlator,omitempty"` // "" when no member holds the role
	Partitions []PartitionOverview `json:"partitions"`
	Signals    TopicOverview       `json:"signals"`
	// Unowned counts the partitions no member holds a lease of: their
	// records wait until a worker takes them (none runs, or none has yet).
	// A worker that died keeps its partitions, and its membership, until
	// its leases lapse (--lease-ttl).
	Unowned int `json:"unowned"`
}

// PartitionOverview is one events partition.
type PartitionOverview struct {
	Partition int    `json:"partition"`
	Owner     string `json:"owner,omitempty"`
	TopicOverview
}

// TopicOverview is a partition's size on the bus.
type TopicOverview struct {
	Last      uint64 `json:"last"`       // the sequence of the last record appended
	HeldBytes int64  `json:"held_bytes"` // bytes held: appended and not yet checkpointed and trimmed
}

// Partitions finds how many events partitions the cluster on b has (0: none,
// no cluster uses this bus), without changing anything: the bus refuses a
// partition out of range with bus.ErrInvalid.
func Partitions(ctx context.Context, b bus.Bus) (int, error) {
	has := func(p int) (bool, error) {
		_, err := b.Last(ctx, EventsTopic, p)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bus.ErrInvalid):
			return false, nil
		default:
			return false, err
		}
	}
	lo, hi := 0, maxPartitions // partitions lo-1 exists (or lo is 0); hi does not
	for lo < hi {
		mid := (lo + hi) / 2
		ok, err := has(mid)
		if err != nil {
			return 0, fmt.Errorf("counting the events partitions: %w", err)
		}
		if ok {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// maxPartitions bounds a cluster's partitions (serve --partitions).
const maxPartitions = 4096

// Describe reads the overview of a cluster of partitions events partitions
// from its bus.
func Describe(ctx context.Context, b bus.Bus, partitions int) (Overview, error) {
	var o Overview
	members, err := b.Leases(ctx, memberPrefix)
	if err != nil {
		return o, fmt.Errorf("listing the members: %w", err)
	}
	o.Members = make([]string, 0, len(members))
	for k := range members {
		o.Members = append(o.Members, strings.TrimPrefix(k, memberPrefix))
	}
	slices.Sort(o.Members)
	owners, err := b.Leases(ctx, partitionKey)
	if err != nil {
		return o, fmt.Errorf("listing the partitions' owners: %w", err)
	}
	roles, err := b.Leases(ctx, correlatorKey)
	if err != nil {
		return o, fmt.Errorf("reading the correlator role: %w", err)
	}
	o.Correlator = roles[correlatorKey]
	o.Partitions = make([]PartitionOverview, partitions)
	for p := range partitions {
		po := PartitionOverview{Partition: p, Owner: owners[partitionKey+strconv.Itoa(p)]}
		if po.TopicOverview, err = topicOverview(ctx, b, EventsTopic, p); err != nil {
			return o, err
		}
		if po.Owner == "" {
			o.Unowned++
		}
		o.Partitions[p] = po
	}
	o.Signals, err = topicOverview(ctx, b, SignalsTopic, 0)
	return o, err
}

func topicOverview(ctx context.Context, b bus.Bus, topic string, p int) (TopicOverview, error) {
	st, err := b.State(ctx, topic, p)
	return TopicOverview{Last: st.Last, HeldBytes: st.Bytes}, err
}
