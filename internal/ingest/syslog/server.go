package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/ingest"
)

// Defaults of Options.
const (
	DefaultMaxMessage  = 64 << 10
	DefaultMaxConns    = 1000
	DefaultIdleTimeout = 5 * time.Minute
	DefaultBatchSize   = 256
	DefaultBatchWait   = 20 * time.Millisecond

	// shutdownFlush bounds the final Append of each pending batch at shutdown.
	shutdownFlush = 5 * time.Second
	// handshakeTimeout bounds a TLS handshake.
	handshakeTimeout = 10 * time.Second
	udpQueue         = 4
)

// Options configure a Server.
type Options struct {
	UDP, TCP, TLS string      // listen addresses; "" turns a transport off
	TLSConfig     *tls.Config // required when TLS is set
	Appender      ingest.Appender
	Format        string // decoder format id stamped on records; "" lets the stream detect it
	MaxMessage    int    // bytes; longer messages are rejected and counted (default 64 KiB)
	MaxConns      int    // concurrent TCP and TLS connections (default 1,000)
	IdleTimeout   time.Duration
	BatchSize     int           // records per Append (default 256)
	BatchWait     time.Duration // longest a received record waits for its batch (default 20 ms)
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	switch {
	case o.UDP == "" && o.TCP == "" && o.TLS == "":
		return errors.New("syslog: no listen address (UDP, TCP or TLS)")
	case o.TLS != "" && o.TLSConfig == nil:
		return errors.New("syslog: TLS listen address set without a TLS config")
	case o.Appender == nil:
		return errors.New("syslog: no appender")
	case o.MaxMessage < 0 || o.MaxMessage > 16<<20:
		return fmt.Errorf("syslog: max message %d outside 0..16 MiB", o.MaxMessage)
	case o.MaxConns < 0, o.BatchSize < 0, o.BatchWait < 0, o.IdleTimeout < 0:
		return errors.New("syslog: negative limit")
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.MaxMessage == 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BatchWait == 0 {
		o.BatchWait = DefaultBatchWait
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server receives syslog over UDP, TCP and TLS and appends each message as one
// record.
type Server struct {
	opts  Options
	log   *slog.Logger
	m     *metrics
	ready chan struct{}
	sem   chan struct{}

	mu                    sync.Mutex
	udpAddr, tcpAddr, tls net.Addr

	// backoff of TCP/TLS append retries (tests shorten it).
	minBackoff, maxBackoff time.Duration
}

// New validates opts and registers the metrics; Run listens.
func New(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Server{
		opts: opts, log: opts.Logger.With("component", "syslog"), m: m,
		ready: make(chan struct{}), sem: make(chan struct{}, opts.MaxConns),
		minBackoff: 10 * time.Millisecond, maxBackoff: time.Second,
	}, nil
}

// Ready is closed once every listener is bound (Addrs is then set).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the bound addresses once Ready is closed (nil for transports
// that are off, or before).
func (s *Server) Addrs() (udp, tcp, tlsAddr net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpAddr, s.tcpAddr, s.tls
}

// Run listens until ctx is done, then closes the listeners and connections,
// appends the batches pending (bounded by a few seconds) and returns. It
// returns an error when a listener cannot be bound.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	var (
		pc      net.PacketConn
		tcpL    net.Listener
		tlsL    net.Listener
		closers []io.Closer
	)
	closeAll := func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}
	if s.opts.UDP != "" {
		c, err := lc.ListenPacket(ctx, "udp", s.opts.UDP)
		if err != nil {
			return fmt.Errorf("listening on udp %s: %w", s.opts.UDP, err)
		}
		if uc, ok := c.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(4 << 20) // best effort: absorbs bursts while a batch is appended
		}
		pc, closers = c, append(closers, c)
	}
	if s.opts.TCP != "" {
		l, err := lc.Listen(ctx, "tcp", s.opts.TCP)
		if err != nil {
			closeAll()
			return fmt.Errorf("listening on tcp %s: %w", s.opts.TCP, err)
		}
		tcpL, closers = l, append(closers, l)
	}
	if s.opts.TLS != "" {
		l, err := lc.Listen(ctx, "tcp", s.opts.TLS)
		if err != nil {
			closeAll()
			return fmt.Errorf("listening on tls %s: %w", s.opts.TLS, err)
		}
		closers = append(closers, l)
		tlsL = tls.NewListener(l, s.opts.TLSConfig)
	}
	s.mu.Lock()
	if pc != nil {
		s.udpAddr = pc.LocalAddr()
	}
	if tcpL != nil {
		s.tcpAddr = tcpL.Addr()
	}
	if tlsL != nil {
		s.tls = tlsL.Addr()
	}
	s.mu.Unlock()
	close(s.ready)
	s.log.InfoContext(ctx, "syslog listening", "udp", s.opts.UDP, "tcp", s.opts.TCP, "tls", s.opts.TLS)

	var wg sync.WaitGroup
	if pc != nil {
		wg.Go(func() { s.serveUDP(ctx, pc) })
	}
	if tcpL != nil {
		wg.Go(func() { s.accept(ctx, tcpL, "tcp", &wg) })
	}
	if tlsL != nil {
		wg.Go(func() { s.accept(ctx, tlsL, "tls", &wg) })
	}
	<-ctx.Done()
	closeAll()
	wg.Wait()
	s.log.InfoContext(ctx, "syslog stopped")
	return nil
}

// accept serves connections of one listener until it is closed.
func (s *Server) accept(ctx context.Context, l net.Listener, transport string, wg *sync.WaitGroup) {
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.WarnContext(ctx, "accepting syslog connection", "transport", transport, "err", err)
			select { // e.g. out of file descriptors: do not spin
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.m.refused.WithLabelValues(transport, "max_conns").Inc()
			s.log.WarnContext(ctx, "refusing syslog connection: too many open", "transport", transport, "peer", c.RemoteAddr().String(), "max_conns", s.opts.MaxConns)
			_ = c.Close()
			continue
		}
		wg.Go(func() {
			defer func() { <-s.sem }()
			s.serveConn(ctx, c, transport)
		})
	}
}

// serveConn reads the frames of one connection, appending them in batches;
// an overloaded Append stops the reading (TCP flow control pushes back on the
// sender) until it succeeds.
func (s *Server) serveConn(ctx context.Context, c net.Conn, transport string) {
	peer := c.RemoteAddr().String()
	gauge := s.m.conns.WithLabelValues(transport)
	gauge.Inc()
	defer gauge.Dec()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	defer func() { _ = c.Close() }()

	if tc, ok := c.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			s.m.refused.WithLabelValues(transport, "handshake").Inc()
			s.log.InfoContext(ctx, "syslog TLS handshake", "peer", peer, "err", err)
			return
		}
	}
	s.log.DebugContext(ctx, "syslog connection opened", "transport", transport, "peer", peer)

	source := "syslog:" + transport
	msgs, bytesC := s.m.messages.WithLabelValues(transport), s.m.bytes.WithLabelValues(transport)
	f := newFramer(c, s.opts.MaxMessage)
	b := newBatch(s.opts.BatchSize)
	idle := func() { _ = c.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout)) }
	idle()
	flush := func() bool {
		if len(b.recs) == 0 {
			return true
		}
		ok := s.appendRetry(ctx, transport, b.recs)
		b = newBatch(s.opts.BatchSize)
		idle()
		return ok
	}
	for {
		msg, err := f.Next()
		if err == nil {
			if len(b.recs) == 0 {
				_ = c.SetReadDeadline(time.Now().Add(s.opts.BatchWait))
			}
			msgs.Inc()
			bytesC.Add(float64(len(msg)))
			b.add(source, s.opts.Format, msg, time.Now())
			if len(b.recs) >= s.opts.BatchSize && !flush() {
				return
			}
			continue
		}
		if isTimeout(err) && ctx.Err() == nil {
			if len(b.recs) == 0 {
				s.log.DebugContext(ctx, "closing idle syslog connection", "transport", transport, "peer", peer)
				return
			}
			if !flush() {
				return
			}
			continue
		}
		if r := frameReason(err); r != "" {
			s.m.badFrames.WithLabelValues(transport, r).Inc()
			s.log.WarnContext(ctx, "closing syslog connection on a bad frame", "transport", transport, "peer", peer, "err", err)
		} else {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.log.InfoContext(ctx, "reading syslog connection", "transport", transport, "peer", peer, "err", err)
			}
			// The read side is gone (closed by the peer or at shutdown): the
			// complete frames still buffered are messages too.
			for {
				msg, err := f.Next()
				if err != nil {
					break
				}
				msgs.Inc()
				bytesC.Add(float64(len(msg)))
				b.add(source, s.opts.Format, msg, time.Now())
			}
		}
		flush()
		s.log.DebugContext(ctx, "syslog connection closed", "transport", transport, "peer", peer)
		return
	}
}

// appendRetry appends recs, retrying with backoff on any error until it
// succeeds; when ctx is done it tries once more, bounded, and else counts
// the records as dropped at shutdown. It reports whether recs were appended.
func (s *Server) appendRetry(ctx context.Context, transport string, recs []ingest.Record) bool {
	wait := s.minBackoff
	for {
		if ctx.Err() != nil {
			return s.finalAppend(ctx, transport, recs)
		}
		err := s.opts.Appender.Append(ctx, recs)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			continue
		}
		s.m.retries.WithLabelValues(transport).Inc()
		if !errors.Is(err, ingest.ErrOverloaded) {
			s.log.WarnContext(ctx, "appending syslog records; retrying", "transport", transport, "records", len(recs), "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		wait = min(2*wait, s.maxBackoff)
	}
}

// finalAppend appends recs once at shutdown, bounded by shutdownFlush.
func (s *Server) finalAppend(ctx context.Context, transport string, recs []ingest.Record) bool {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownFlush)
	defer cancel()
	if err := s.opts.Appender.Append(fctx, recs); err != nil {
		s.m.dropped.WithLabelValues(transport, "shutdown").Add(float64(len(recs)))
		s.log.WarnContext(ctx, "dropping syslog records at shutdown", "transport", transport, "records", len(recs), "err", err)
		return false
	}
	return true
}

// serveUDP reads datagrams, one message each, and hands batches to an
// appender goroutine. UDP cannot push back: a batch whose Append fails is
// dropped and counted.
func (s *Server) serveUDP(ctx context.Context, pc net.PacketConn) {
	const transport = "udp"
	queue := make(chan []ingest.Record, udpQueue)
	var wg sync.WaitGroup
	wg.Go(func() {
		for recs := range queue {
			s.appendUDP(ctx, recs)
		}
	})
	defer wg.Wait()
	defer close(queue)

	msgs, bytesC := s.m.messages.WithLabelValues(transport), s.m.bytes.WithLabelValues(transport)
	buf := make([]byte, s.opts.MaxMessage+1)
	b := newBatch(s.opts.BatchSize)
	flush := func() {
		if len(b.recs) > 0 {
			queue <- b.recs
			b = newBatch(s.opts.BatchSize)
		}
		_ = pc.SetReadDeadline(time.Time{})
	}
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			if isTimeout(err) && ctx.Err() == nil {
				flush()
				continue
			}
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				flush()
				return
			}
			s.m.dropped.WithLabelValues(transport, "read_error").Inc()
			s.log.DebugContext(ctx, "reading syslog datagram", "err", err)
			continue
		}
		if n > s.opts.MaxMessage {
			s.m.dropped.WithLabelValues(transport, "too_long").Inc()
			continue
		}
		msg := trimTrailer(buf[:n])
		if len(msg) == 0 {
			continue
		}
		msgs.Inc()
		bytesC.Add(float64(len(msg)))
		if len(b.recs) == 0 {
			_ = pc.SetReadDeadline(time.Now().Add(s.opts.BatchWait))
		}
		b.add("syslog:udp", s.opts.Format, msg, time.Now())
		if len(b.recs) >= s.opts.BatchSize {
			flush()
		}
	}
}

// appendUDP appends one batch of datagrams once, dropping and counting it when
// Append fails.
func (s *Server) appendUDP(ctx context.Context, recs []ingest.Record) {
	actx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(context.WithoutCancel(ctx), shutdownFlush)
		defer cancel()
	}
	err := s.opts.Appender.Append(actx, recs)
	if err == nil {
		return
	}
	reason := "append_error"
	if errors.Is(err, ingest.ErrOverloaded) {
		reason = "overloaded"
	} else if ctx.Err() != nil {
		reason = "shutdown"
	}
	s.m.dropped.WithLabelValues("udp", reason).Add(float64(len(recs)))
	s.log.DebugContext(ctx, "dropping syslog datagrams", "records", len(recs), "reason", reason, "err", err)
}

// trimTrailer removes the trailing LF, CRLF or NUL some senders put on datagrams.
func trimTrailer(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case '\n', '\r', 0:
			b = b[:len(b)-1]
			continue
		}
		break
	}
	return b
}

// batch is the records waiting for one Append. Their Data live in arena chunks
// allocated per batch, never reused: an Appender may keep the records.
type batch struct {
	recs  []ingest.Record
	arena []byte
}

const arenaChunk = 64 << 10

func newBatch(n int) *batch { return &batch{recs: make([]ingest.Record, 0, n)} }

func (b *batch) add(source, format string, msg []byte, now time.Time) {
	if cap(b.arena)-len(b.arena) < len(msg) {
		b.arena = make([]byte, 0, max(arenaChunk, len(msg)))
	}
	start := len(b.arena)
	b.arena = append(b.arena, msg...)
	b.recs = append(b.recs, ingest.Record{
		Source: source, Format: format, Data: b.arena[start:len(b.arena):len(b.arena)], Received: now,
	})
}
