package bus

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"
)

// DefaultDedupWindow is how many message IDs per partition Memory remembers
// for deduplication, unless MemoryOptions say otherwise.
const DefaultDedupWindow = 100_000

// MemoryOptions configure NewMemory. The zero value is usable.
type MemoryOptions struct {
	// LeaseTTL is how long a lease lives without being renewed
	// (DefaultLeaseTTL when zero).
	LeaseTTL time.Duration
	// DedupWindow is how many of a partition's last appended message IDs
	// Publish checks for duplicates (DefaultDedupWindow when zero).
	DedupWindow int
	// Now is the clock of lease expiry (time.Now when nil).
	Now func() time.Time
}

// Memory is the in-process Bus: for one machine and for tests. Nothing
// survives the process. Each partition holds its messages in a slice whose
// front Trim and MaxBytes drop; readers waiting in Read are woken by the next
// Publish to their partition.
type Memory struct {
	leaseTTL time.Duration
	window   int
	now      func() time.Time

	mu     sync.Mutex
	closed bool
	done   chan struct{} // closed by Close: wakes every waiting reader
	topics map[string]*memTopic
	leases map[string]memLease
}

type memTopic struct {
	partitions int
	maxBytes   int64
	parts      map[int]*memPartition // created on first use: a topic may have many partitions
}

type memPartition struct {
	first uint64    // Seq of msgs[0]; last+1 when msgs is empty
	last  uint64    // Seq of the last message ever appended
	msgs  []Message // held messages, oldest first
	bytes int64     // size of msgs as MaxBytes counts it

	ids  map[string]struct{} // IDs of the last window messages appended
	ring []string            // the same IDs in append order, a ring once full
	next int                 // where the ring's next ID goes once full

	wake chan struct{} // closed (and replaced) when messages are appended
}

// NewMemory returns an empty in-process bus.
func NewMemory(o MemoryOptions) *Memory {
	m := &Memory{
		leaseTTL: o.LeaseTTL,
		window:   o.DedupWindow,
		now:      o.Now,
		done:     make(chan struct{}),
		topics:   make(map[string]*memTopic),
		leases:   make(map[string]memLease),
	}
	if m.leaseTTL <= 0 {
		m.leaseTTL = DefaultLeaseTTL
	}
	if m.window <= 0 {
		m.window = DefaultDedupWindow
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// Ensure creates the topic or checks its partitions and applies MaxBytes.
func (m *Memory) Ensure(ctx context.Context, t Topic) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ensuring topic %s: %w", t.Name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	tp, ok := m.topics[t.Name]
	if !ok {
		m.topics[t.Name] = &memTopic{partitions: t.Partitions, maxBytes: t.MaxBytes, parts: make(map[int]*memPartition)}
		return nil
	}
	if tp.partitions != t.Partitions {
		return fmt.Errorf("%w: topic %s has %d partitions, not %d", ErrInvalid, t.Name, tp.partitions, t.Partitions)
	}
	tp.maxBytes = t.MaxBytes
	for _, p := range tp.parts {
		p.enforce(tp.maxBytes)
	}
	return nil
}

// partition returns a partition, creating it on first use. m.mu must be held.
func (m *Memory) partition(topic string, partition int) (*memPartition, *memTopic, error) {
	if m.closed {
		return nil, nil, ErrClosed
	}
	tp, ok := m.topics[topic]
	if !ok {
		return nil, nil, fmt.Errorf("%w: unknown topic %q", ErrInvalid, topic)
	}
	if partition < 0 || partition >= tp.partitions {
		return nil, nil, fmt.Errorf("%w: partition %d of topic %s out of range [0, %d)", ErrInvalid, partition, topic, tp.partitions)
	}
	p := tp.parts[partition]
	if p == nil {
		p = &memPartition{first: 1, ids: make(map[string]struct{}), wake: make(chan struct{})}
		tp.parts[partition] = p
	}
	return p, tp, nil
}

// Publish appends the messages whose IDs the partition does not hold.
func (m *Memory) Publish(ctx context.Context, topic string, partition int, msgs []Message) error {
	if err := ValidateMessages(msgs); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publishing to %s/%d: %w", topic, partition, err)
	}
	// Copy the data outside the lock, into one buffer: the caller may reuse
	// its buffers once Publish returns.
	size := 0
	for _, msg := range msgs {
		size += len(msg.Data)
	}
	buf := make([]byte, 0, size)

	m.mu.Lock()
	defer m.mu.Unlock()
	p, tp, err := m.partition(topic, partition)
	if err != nil {
		return err
	}
	appended := false
	for _, msg := range msgs {
		if _, dup := p.ids[msg.ID]; dup {
			continue
		}
		p.remember(msg.ID, m.window)
		start := len(buf)
		buf = append(buf, msg.Data...)
		p.last++
		p.msgs = append(p.msgs, Message{Seq: p.last, ID: msg.ID, Data: buf[start:len(buf):len(buf)]})
		p.bytes += msgSize(msg)
		appended = true
	}
	if appended {
		p.enforce(tp.maxBytes)
		close(p.wake)
		p.wake = make(chan struct{})
	}
	return nil
}

// msgSize is the size of a message as MaxBytes counts it.
func msgSize(msg Message) int64 { return int64(len(msg.ID) + len(msg.Data)) }

// remember adds id to the dedup set, forgetting the oldest beyond window.
func (p *memPartition) remember(id string, window int) {
	p.ids[id] = struct{}{}
	if len(p.ring) < window {
		p.ring = append(p.ring, id)
		return
	}
	delete(p.ids, p.ring[p.next])
	p.ring[p.next] = id
	p.next = (p.next + 1) % window
}

// enforce drops the oldest messages while the partition is over maxBytes.
func (p *memPartition) enforce(maxBytes int64) {
	if maxBytes <= 0 {
		return
	}
	n := 0
	for n < len(p.msgs) && p.bytes > maxBytes {
		p.bytes -= msgSize(p.msgs[n])
		n++
	}
	p.drop(n)
}

// drop drops the n oldest messages.
func (p *memPartition) drop(n int) {
	if n == 0 {
		return
	}
	clear(p.msgs[:n]) // let the data of dropped messages be collected
	p.msgs = p.msgs[n:]
	p.first += uint64(n)
	if len(p.msgs) == 0 {
		p.msgs = nil
	}
}

// Read returns up to max messages from from on, waiting up to wait for the
// first.
func (m *Memory) Read(ctx context.Context, topic string, partition int, from uint64, limit int, wait time.Duration) ([]Message, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: read of %d messages", ErrInvalid, limit)
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		m.mu.Lock()
		p, _, err := m.partition(topic, partition)
		if err != nil {
			m.mu.Unlock()
			return nil, err
		}
		if out := p.read(from, limit); out != nil {
			m.mu.Unlock()
			return out, nil
		}
		wake := p.wake
		m.mu.Unlock()

		if wait <= 0 {
			return nil, nil
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case <-wake:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		case <-m.done:
			return nil, ErrClosed
		}
	}
}

// read copies up to limit held messages from from on; nil when there are none.
func (p *memPartition) read(from uint64, limit int) []Message {
	start := max(from, p.first)
	if start > p.last {
		return nil
	}
	held := p.msgs[start-p.first:]
	if len(held) > limit {
		held = held[:limit]
	}
	size := 0
	for _, msg := range held {
		size += len(msg.Data)
	}
	buf := make([]byte, 0, size)
	out := make([]Message, len(held))
	for i, msg := range held {
		start := len(buf)
		buf = append(buf, msg.Data...)
		out[i] = Message{Seq: msg.Seq, ID: msg.ID, Data: buf[start:len(buf):len(buf)]}
	}
	return out
}

// Trim drops the messages with Seq < before.
func (m *Memory) Trim(ctx context.Context, topic string, partition int, before uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("trimming %s/%d: %w", topic, partition, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, _, err := m.partition(topic, partition)
	if err != nil {
		return err
	}
	before = min(before, p.last+1)
	if before > p.first {
		p.bytes = 0
		p.drop(int(before - p.first))
		for _, msg := range p.msgs {
			p.bytes += msgSize(msg)
		}
	}
	return nil
}

// Last returns the Seq of the last message appended.
func (m *Memory) Last(ctx context.Context, topic string, partition int) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("reading the last sequence of %s/%d: %w", topic, partition, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, _, err := m.partition(topic, partition)
	if err != nil {
		return 0, err
	}
	return p.last, nil
}

// State returns the partition's last sequence and the bytes it holds, as
// MaxBytes counts them.
func (m *Memory) State(ctx context.Context, topic string, partition int) (PartitionState, error) {
	if err := ctx.Err(); err != nil {
		return PartitionState{}, fmt.Errorf("reading the state of %s/%d: %w", topic, partition, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, _, err := m.partition(topic, partition)
	if err != nil {
		return PartitionState{}, err
	}
	return PartitionState{Last: p.last, Bytes: p.bytes}, nil
}

type memLease struct {
	owner   string
	expires time.Time
}

// Acquire takes or renews the lease key for owner.
func (m *Memory) Acquire(ctx context.Context, key, owner string) (bool, error) {
	if err := ValidateLease(key, owner); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("acquiring lease %s: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	now := m.now()
	if l, ok := m.leases[key]; ok && l.owner != owner && now.Before(l.expires) {
		return false, nil
	}
	m.leases[key] = memLease{owner: owner, expires: now.Add(m.leaseTTL)}
	return true, nil
}

// Release gives the lease key up when owner holds it.
func (m *Memory) Release(ctx context.Context, key, owner string) error {
	if err := ValidateLease(key, owner); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("releasing lease %s: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if l, ok := m.leases[key]; ok && l.owner == owner {
		delete(m.leases, key)
	}
	return nil
}

// Leases returns the live leases whose keys start with prefix.
func (m *Memory) Leases(ctx context.Context, prefix string) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing leases: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	now := m.now()
	maps.DeleteFunc(m.leases, func(_ string, l memLease) bool { return !now.Before(l.expires) })
	out := make(map[string]string)
	for k, l := range m.leases {
		if strings.HasPrefix(k, prefix) {
			out[k] = l.owner
		}
	}
	return out, nil
}

// Close drops everything and wakes the waiting readers; it is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	close(m.done)
	m.topics = nil
	m.leases = nil
	return nil
}

var _ Bus = (*Memory)(nil)
