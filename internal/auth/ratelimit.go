package auth

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// limiter is a token bucket per key (a client address or a username) that
// failed logins drain: Burst failures at once, then one per Burst/Per. Buckets
// that have refilled are forgotten; at most maxKeys are kept (when full, full
// buckets go first, then arbitrary ones), so memory is bounded whatever the
// number of clients.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	rate    float64 // tokens per second
	maxKeys int
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, per time.Duration, maxKeys int) *limiter {
	return &limiter{burst: float64(burst), rate: float64(burst) / per.Seconds(), maxKeys: maxKeys, buckets: map[string]*bucket{}}
}

// level returns the key's tokens at now (refilled).
func (l *limiter) level(key string, now time.Time) float64 {
	b, ok := l.buckets[key]
	if !ok {
		return l.burst
	}
	t := b.tokens + now.Sub(b.at).Seconds()*l.rate
	return min(t, l.burst)
}

// wait returns how long key must wait before its next attempt; zero when it may
// try now.
func (l *limiter) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.level(key, now)
	if t >= 1 {
		return 0
	}
	return time.Duration((1 - t) / l.rate * float64(time.Second))
}

// fail takes one token from key's bucket.
func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := max(l.level(key, now)-1, 0)
	if b, ok := l.buckets[key]; ok {
		b.tokens, b.at = t, now
		return
	}
	if len(l.buckets) >= l.maxKeys {
		for k := range l.buckets {
			if l.level(k, now) >= l.burst {
				delete(l.buckets, k)
			}
		}
		for k := range l.buckets {
			if len(l.buckets) < l.maxKeys {
				break
			}
			delete(l.buckets, k)
		}
	}
	l.buckets[key] = &bucket{tokens: t, at: now}
}

// clientKey is the rate-limit key of a request's client: its address, or its
// /64 for IPv6 (one host usually holds a whole /64). X-Forwarded-For is not
// trusted.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "ip:" + host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + addr.String()
}
