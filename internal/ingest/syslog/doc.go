// Package syslog is the syslog listener of vigil serve: it receives messages
// over UDP, TCP and TLS and appends each one, raw, as an ingest.Record.
//
// Behaviour:
//   - UDP: one datagram is one message (a trailing LF, CRLF or NUL is removed).
//   - TCP and TLS (RFC 6587, RFC 5425): each frame is auto-detected. A frame
//     that starts with a digit is octet-counted ("LEN SP MSG", LEN without a
//     leading zero); any other is non-transparent, ended by LF, CRLF or NUL.
//     Both may be mixed on one connection. Empty frames are skipped; a last
//     frame without a trailer is kept when the peer closes.
//   - Records carry Source "syslog:udp", "syslog:tcp" or "syslog:tls", the
//     configured Format ("" lets the stream detect RFC 3164 or RFC 5424 from
//     the content), no Context, and Received = the time the frame was read.
//   - Records are appended in batches of BatchSize (default 256), or after
//     BatchWait (default 20 ms) once a batch has a record. TCP and TLS batch
//     per connection, so the records of one connection stay in order.
//
// Guarantees and backpressure:
//   - TCP/TLS: when Append fails (ErrOverloaded or any other error) the
//     connection is not read until a retry, with backoff from 10 ms to 1 s,
//     succeeds: TCP flow control pushes back on the sender and nothing read
//     is dropped. Syslog has no acknowledgements: a record read but not yet
//     appended when the server stops gets one last bounded Append (5 s) and is
//     otherwise counted in vigil_syslog_dropped_total{reason="shutdown"}.
//   - UDP cannot push back: a batch whose Append fails is dropped and counted
//     (reason "overloaded", or "append_error"). Datagrams the kernel drops when
//     its receive buffer (4 MiB requested) is full are not seen by Vigil; the
//     operating system counts them (UdpRcvbufErrors).
//   - Run returns once ctx is done, after closing the listeners and
//     connections and appending the batches pending (the complete frames
//     already buffered included).
//
// Limits:
//   - MaxMessage (default 64 KiB): a longer UDP datagram is dropped and
//     counted (reason "too_long"); on TCP/TLS a frame over it, a length with
//     a non-digit, a leading zero or too many digits, or a connection closed
//     inside an octet-counted frame is counted in
//     vigil_syslog_bad_frames_total{reason} and the connection is closed, with
//     a log line naming the peer (never the message content).
//   - MaxConns (default 1,000) concurrent TCP and TLS connections; more are
//     closed on accept and counted. IdleTimeout (default 5 min) closes a
//     connection that sends no complete message; a TLS handshake has 10 s.
//   - Each connection holds a read buffer that grows to MaxMessage+32 bytes.
//
// Metrics: vigil_syslog_messages_total and vigil_syslog_bytes_total
// {transport}, vigil_syslog_dropped_total{transport,reason},
// vigil_syslog_bad_frames_total{transport,reason}, vigil_syslog_connections
// {transport}, vigil_syslog_refused_connections_total{transport,reason},
// vigil_syslog_append_retries_total{transport}.
package syslog
