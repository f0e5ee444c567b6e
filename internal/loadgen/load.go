package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a load run.
type Options struct {
	// Target is the base URL of the ingest listener (http://127.0.0.1:8088).
	Target string
	// Token is an ingest token.
	Token string
	// Rate is the offered load in records per second.
	Rate int
	// Duration is how long the load is offered.
	Duration time.Duration
	// Clients is the number of concurrent HTTP clients (keep-alive connections).
	Clients int
	// Batch is the number of records per request.
	Batch int
	// Gzip compresses request bodies.
	Gzip bool
	// Match is the fraction of records that match a built-in Sigma rule.
	Match float64
	// SyslogFraction is the fraction of batches that are Linux sshd syslog.
	SyslogFraction float64
	// Source names the stream (?source=).
	Source string
	// Seed makes the generated records reproducible (not their times).
	Seed uint64
	// MaxRetryAfter caps a Retry-After wait.
	MaxRetryAfter time.Duration
	// HTTPClient sends the requests; nil: one built for Clients connections.
	HTTPClient *http.Client
	// Logger receives progress; nil: discarded.
	Logger *slog.Logger
}

// DefaultOptions are the defaults of a run but its Target and Token.
func DefaultOptions() Options {
	return Options{Rate: 10000, Duration: 30 * time.Second, Clients: 4, Batch: 1000, Match: 0.005, SyslogFraction: 0.1,
		Source: "loadgen", Seed: 1, MaxRetryAfter: 5 * time.Second}
}

// Validate checks o.
func (o Options) Validate() error {
	u, err := url.Parse(o.Target)
	switch {
	case o.Target == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("target %q: want an http(s) URL of the ingest listener", o.Target)
	case o.Token == "":
		return errors.New("an ingest token is required")
	case o.Rate <= 0 || o.Rate > 10_000_000:
		return fmt.Errorf("rate %d: want 1..10000000 records/s", o.Rate)
	case o.Duration <= 0 || o.Duration > 24*time.Hour:
		return fmt.Errorf("duration %s: want more than 0, at most 24h", o.Duration)
	case o.Clients < 1 || o.Clients > 1024:
		return fmt.Errorf("clients %d: want 1..1024", o.Clients)
	case o.Batch < 1 || o.Batch > 100_000:
		return fmt.Errorf("batch %d: want 1..100000 records", o.Batch)
	case o.Match < 0 || o.Match > 1 || o.SyslogFraction < 0 || o.SyslogFraction > 1:
		return errors.New("match and syslog fractions: want 0..1")
	case o.MaxRetryAfter < 0:
		return errors.New("max retry-after: want >= 0")
	}
	return nil
}

// LoadResult is what the clients saw.
type LoadResult struct {
	Offered   int64         `json:"offered"`   // records the schedule offered
	Sent      int64         `json:"sent"`      // records in requests answered 200 (accepted or rejected per line)
	Accepted  int64         `json:"accepted"`  // records the server acknowledged
	Rejected  int64         `json:"rejected"`  // records refused one by one (too large, invalid UTF-8)
	Matching  int64         `json:"matching"`  // accepted records built to match a Sigma rule
	Requests  int64         `json:"requests"`  // requests answered 200
	Throttled int64         `json:"throttled"` // 429/503 answers (the batch was retried)
	Errors    int64         `json:"errors"`    // requests failed (transport errors, other statuses): batch dropped
	Elapsed   time.Duration `json:"elapsed"`   // from the first request to the last answer
	// Client-side request round trips of the 200 answers.
	RequestP50 time.Duration `json:"request_p50"`
	RequestP99 time.Duration `json:"request_p99"`
	FirstError string        `json:"first_error,omitempty"`
}

// Run offers o.Rate records/s for o.Duration (an open schedule: a batch is due
// every Batch/Rate seconds, whichever client is free sends it; batches a busy
// server delays are sent late, not dropped, until the duration ends).
func Run(ctx context.Context, o Options) (LoadResult, error) {
	if err := o.Validate(); err != nil {
		return LoadResult{}, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := o.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = o.Clients, o.Clients
		tr.DisableCompression = true
		hc = &http.Client{Transport: tr, Timeout: 60 * time.Second}
		defer tr.CloseIdleConnections()
	}
	q := url.Values{"source": {o.Source}}
	base := o.Target + "/ingest/ndjson?"

	var res LoadResult
	var mu sync.Mutex
	var rtts []time.Duration
	var firstErr atomic.Pointer[string]
	due := make(chan struct{}, o.Clients)
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range o.Clients {
		wg.Go(func() {
			g := NewGenerator(o.Seed+uint64(c)*7919, o.Match, o.SyslogFraction)
			var lines, body []byte
			var zbuf bytes.Buffer
			zw := gzip.NewWriter(&zbuf)
			for range due {
				var format string
				var matching int
				lines, format, matching = g.Batch(lines, o.Batch, time.Now())
				body = lines
				if o.Gzip {
					zbuf.Reset()
					zw.Reset(&zbuf)
					_, _ = zw.Write(lines)
					_ = zw.Close()
					body = zbuf.Bytes()
				}
				q2 := base + q.Encode() + "&format=" + format
				for {
					t0 := time.Now()
					ans, retry, err := post(ctx, hc, q2, o.Token, body, o.Gzip)
					if err != nil {
						atomic.AddInt64(&res.Errors, 1)
						msg := err.Error()
						firstErr.CompareAndSwap(nil, &msg)
						break
					}
					if retry >= 0 {
						atomic.AddInt64(&res.Throttled, 1)
						if ctx.Err() != nil || runCtx.Err() != nil {
							break // the run is over: the batch is not accepted
						}
						wait := min(retry, o.MaxRetryAfter)
						select {
						case <-time.After(wait):
						case <-runCtx.Done():
						}
						continue
					}
					rtt := time.Since(t0)
					atomic.AddInt64(&res.Requests, 1)
					atomic.AddInt64(&res.Sent, int64(o.Batch))
					atomic.AddInt64(&res.Accepted, ans.Accepted)
					atomic.AddInt64(&res.Rejected, ans.Rejected)
					if ans.Rejected == 0 {
						atomic.AddInt64(&res.Matching, int64(matching))
					}
					mu.Lock()
					rtts = append(rtts, rtt)
					mu.Unlock()
					break
				}
			}
		})
	}
	// The schedule.
	interval := time.Duration(float64(time.Second) * float64(o.Batch) / float64(o.Rate))
	next := start
	lastLog := start
schedule:
	for {
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-runCtx.Done():
				break schedule
			}
		}
		select {
		case due <- struct{}{}:
			res.Offered += int64(o.Batch)
		case <-runCtx.Done():
			break schedule
		}
		next = next.Add(interval)
		if next.Sub(start) >= o.Duration {
			break // the last batch due within the duration is out
		}
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			log.InfoContext(ctx, "load", "elapsed", time.Since(start).Round(time.Second), "offered", res.Offered,
				"accepted", atomic.LoadInt64(&res.Accepted), "throttled", atomic.LoadInt64(&res.Throttled), "errors", atomic.LoadInt64(&res.Errors))
		}
	}
	close(due)
	wg.Wait()
	res.Elapsed = time.Since(start)
	slices.Sort(rtts)
	res.RequestP50, res.RequestP99 = quantile(rtts, 0.5), quantile(rtts, 0.99)
	if p := firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("offering load: %w", ctx.Err())
	}
	return res, nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// ndjsonAnswer is the NDJSON endpoint's 200 body.
type ndjsonAnswer struct {
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
}

// post sends one batch; retry >= 0 when the server pushed back (429/503) and
// asks to come back after that long.
func post(ctx context.Context, hc *http.Client, u, token string, body []byte, gz bool) (ans ndjsonAnswer, retry time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return ans, -1, fmt.Errorf("building a request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return ans, -1, fmt.Errorf("posting a batch: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ans, -1, fmt.Errorf("reading the answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.Unmarshal(data, &ans); err != nil {
			return ans, -1, fmt.Errorf("decoding the answer %.100q: %w", data, err)
		}
		return ans, -1, nil
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return ans, retryAfter(resp.Header.Get("Retry-After")), nil
	default:
		return ans, -1, fmt.Errorf("posting a batch: status %d: %.200s", resp.StatusCode, bytes.TrimSpace(data))
	}
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 1 s when
// absent or unreadable.
func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return time.Second
}
