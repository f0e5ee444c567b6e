package behavior

import (
	"net/netip"
	"strings"
	"unique"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// Sym is an interned string: comparing two is a pointer compare, and a value seen a
// million times is stored once. The zero Sym stands for "absent".
type Sym = unique.Handle[string]

// intern returns the Sym of s; "" and "-" give the zero Sym.
func intern(s string) Sym {
	if s == "" || s == "-" {
		return Sym{}
	}
	return unique.Make(s)
}

// symCache keeps the Syms of the strings seen lately in front of unique.Make:
// a map lookup costs a fraction of it (profiled: interning was 9 % of vigil
// serve's CPU), and the same users, hosts, programs and sources come back
// batch after batch. It is not safe for concurrent use: the collector keeps
// one per detect worker in a sync.Pool. Full, it starts again empty.
type symCache struct {
	m, lower map[string]Sym
	users    map[[2]string]Sym // (user name, domain) → the user key's Sym
}

const symCacheMax = 1 << 16

func newSymCache() *symCache {
	return &symCache{m: make(map[string]Sym, 1024), lower: make(map[string]Sym, 1024), users: make(map[[2]string]Sym, 1024)}
}

// user is intern(userKey(e)) through the cache.
func (c *symCache) user(e *event.Event) Sym {
	if c == nil {
		return intern(userKey(e))
	}
	k := [2]string{e.Str(event.UserName), e.Str(event.UserDomain)}
	if v, ok := c.users[k]; ok {
		return v
	}
	v := c.intern(userKey(e))
	if len(c.users) >= symCacheMax {
		clear(c.users)
	}
	c.users[[2]string{strings.Clone(k[0]), strings.Clone(k[1])}] = v
	return v
}

// internLower is intern(lowerASCII(s)) through the cache, keyed by s: the
// lower-casing (an allocation for Windows paths) is done once per string.
func (c *symCache) internLower(s string) Sym {
	if c == nil {
		return intern(lowerASCII(s))
	}
	if v, ok := c.lower[s]; ok {
		return v
	}
	v := c.intern(lowerASCII(s))
	if len(c.lower) >= symCacheMax {
		clear(c.lower)
	}
	c.lower[strings.Clone(s)] = v // s may be an event's reused buffer
	return v
}

// intern is the package's intern through the cache; a nil cache has none.
func (c *symCache) intern(s string) Sym {
	if c == nil {
		return intern(s)
	}
	if v, ok := c.m[s]; ok {
		return v
	}
	v := intern(s)
	if v == (Sym{}) {
		return v
	}
	if len(c.m) >= symCacheMax {
		clear(c.m)
	}
	c.m[v.Value()] = v // the canonical string: s may be an event's reused buffer
	return v
}

// str returns the text of a Sym ("" for the zero Sym).
func str(s Sym) string {
	if s == (Sym{}) {
		return ""
	}
	return s.Value()
}

// Kind says what an observation is about; it decides which models look at it.
type Kind uint8

// Observation kinds.
const (
	KindNone    Kind = iota
	KindAuth         // a logon or sign-in attempt
	KindProcess      // a process start
	KindConn         // a network connection (flow record or endpoint connection)
	KindDNS          // a DNS query
	KindHTTP         // an HTTP request
	KindTLS          // a TLS handshake
	KindKube         // a Kubernetes API request
	KindCloud        // a cloud control-plane API call
	KindFile         // a file or share access
	numKinds
)

var kindNames = [numKinds]string{"none", "auth", "process", "conn", "dns", "http", "tls", "kube", "cloud", "file"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind?"
}

// Obs is the compact, self-contained view of one event that behavioral models
// consume. It holds no reference into the event (strings are interned), so it
// outlives the pipeline's recycled batches and can be sorted into event-time order.
// About 200 bytes each.
type Obs struct {
	Time int64 // event time, Unix nanoseconds
	Kind Kind
	Fail bool // the attempt failed (logon failure, API error, denied request)

	User    Sym // acting identity: canonical user key, service account or cloud principal
	Host    Sym // host the event happened on (logon target, process host)
	Process Sym // executable, lower-cased
	Parent  Sym // parent executable, lower-cased
	// Target is what was used or reached, by kind: auth = application or service;
	// conn = destination domain; dns = query name; http/tls = server name;
	// kube = resource[/subresource]; cloud = service; file = directory.
	Target Sym
	Action Sym // kube verb, cloud API action
	Agent  Sym // user agent
	Extra  Sym // dns = query type; http = URI

	SrcIP, DstIP netip.Addr
	DstPort      uint16
	Status       int32 // dns rcode (0 = NOERROR), http status, kube status
	BytesOut     int64 // from the source's side
	BytesIn      int64
	Duration     int64 // nanoseconds

	Source Sym // origin, for evidence and ordering
	Offset int64
	Record int64
	Pos    uint64 // the record's log position in a stream (event.Origin.Pos)
}

// EventID returns the id of the event o came from (event.Event.ID).
func (o *Obs) EventID() string {
	return event.Origin{Source: str(o.Source), Offset: o.Offset, Record: o.Record}.ID()
}

// Evidence returns o as a signal's evidence reference.
func (o *Obs) Evidence() detect.EvidenceRef {
	return detect.EvidenceRef{EventID: o.EventID(), Time: unixTime(o.Time), Source: str(o.Source), Offset: o.Offset}
}

// less orders observations by event time, then by origin, so that the same input
// gives the same order whatever the decode and detect workers did.
func (o *Obs) less(p *Obs) bool {
	if o.Time != p.Time {
		return o.Time < p.Time
	}
	if o.Source != p.Source {
		return str(o.Source) < str(p.Source)
	}
	if o.Offset != p.Offset {
		return o.Offset < p.Offset
	}
	return o.Record < p.Record
}

// Extract fills o from e and reports whether e is something a behavioral model
// looks at. Events without a timestamp are skipped.
func Extract(e *event.Event, o *Obs) bool { return extract(e, o, nil) }

// extract is Extract interning through c (nil: none).
func extract(e *event.Event, o *Obs, c *symCache) bool {
	intern, internLower, internUser := c.intern, c.internLower, c.user
	if e.Timestamp.IsZero() {
		return false
	}
	*o = Obs{Time: e.Timestamp.UnixNano()}
	dataset := e.Str(event.EventDataset)
	switch {
	case dataset == "kubernetes.audit":
		o.Kind = KindKube
		o.User = intern(e.Str(event.UserName))
		o.Action = intern(e.Str(event.EventAction))
		res := e.Str(event.OrchestratorResourceType)
		if sub := e.Str(event.OrchestratorResourceSubresource); sub != "" && res != "" {
			res += "/" + sub
		}
		o.Target = intern(res)
		o.Agent = intern(e.Str(event.UserAgentOriginal))
		if c, ok := e.Num(event.HTTPResponseStatusCode); ok {
			o.Status = int32(c)
			o.Fail = c >= 400
		}
	case e.Str(event.CloudProvider) != "" && e.Category&event.CatAPI != 0:
		o.Kind = KindCloud
		user := e.Str(event.UserEffectiveName)
		if user == "" {
			user = e.Str(event.UserName)
		}
		o.User = intern(user)
		o.Action = intern(e.Str(event.EventAction))
		o.Target = intern(e.Str(event.CloudServiceName))
		o.Agent = intern(e.Str(event.UserAgentOriginal))
		o.Fail = e.Str(event.EventOutcome) == "failure"
	case e.Category&event.CatAuthentication != 0 && e.Type&event.TypeStart != 0:
		o.Kind = KindAuth
		o.User = internUser(e)
		o.Host = intern(e.Str(event.HostName))
		o.Target = intern(e.Str(event.ServiceName))
		o.Agent = intern(e.Str(event.UserAgentOriginal))
		o.Fail = e.Str(event.EventOutcome) == "failure"
	case e.Category&event.CatProcess != 0 && e.Type&event.TypeStart != 0 && e.Str(event.ProcessExecutable) != "":
		o.Kind = KindProcess
		o.User = internUser(e)
		o.Host = intern(e.Str(event.HostName))
		o.Process = internLower(e.Str(event.ProcessExecutable))
		o.Parent = internLower(e.Str(event.ProcessParentExecutable))
	case e.Str(event.DNSQuestionName) != "":
		o.Kind = KindDNS
		o.Host = intern(e.Str(event.HostName))
		o.Process = internLower(e.Str(event.ProcessExecutable))
		o.Target = intern(lowerASCII(strings.TrimSuffix(e.Str(event.DNSQuestionName), ".")))
		o.Extra = intern(e.Str(event.DNSQuestionType))
		if rc := e.Str(event.DNSResponseCode); rc != "" && rc != "NOERROR" {
			o.Status = 1
			o.Fail = rc == "NXDOMAIN"
		}
	case e.Category&event.CatWeb != 0 && (e.Str(event.URLDomain) != "" || e.Str(event.UserAgentOriginal) != "" || e.Str(event.HTTPRequestMethod) != ""):
		o.Kind = KindHTTP
		o.Target = internLower(e.Str(event.URLDomain))
		o.Agent = intern(e.Str(event.UserAgentOriginal))
		o.Action = intern(e.Str(event.HTTPRequestMethod))
		o.Extra = intern(e.Str(event.URLOriginal))
		if c, ok := e.Num(event.HTTPResponseStatusCode); ok {
			o.Status = int32(c)
		}
	case e.Str(event.TLSServerName) != "" || e.Str(event.TLSVersion) != "":
		o.Kind = KindTLS
		o.Target = internLower(e.Str(event.TLSServerName))
	case e.Category&event.CatNetwork != 0 && e.Type&event.TypeConnection != 0 && e.IP(event.DestinationIP).IsValid():
		o.Kind = KindConn
		o.User = internUser(e)
		o.Host = intern(e.Str(event.HostName))
		o.Process = internLower(e.Str(event.ProcessExecutable))
		o.Target = intern(lowerASCII(strings.TrimSuffix(e.Str(event.DestinationDomain), ".")))
	case e.Category&event.CatFile != 0 && e.Str(event.FileName) != "":
		o.Kind = KindFile
		o.User = internUser(e)
		o.Host = intern(e.Str(event.HostName))
		dir := e.Str(event.FileDirectory)
		if dir == "" {
			dir = e.Str(event.FilePath)
		}
		o.Target = intern(dir)
		o.Process = internLower(e.Str(event.ProcessExecutable))
	default:
		return false
	}
	o.SrcIP = e.IP(event.SourceIP)
	if !o.SrcIP.IsValid() {
		o.SrcIP = e.IP(event.ClientIP)
	}
	o.DstIP = e.IP(event.DestinationIP)
	if p, ok := e.Num(event.DestinationPort); ok && p > 0 && p < 65536 {
		o.DstPort = uint16(p)
	}
	if b, ok := e.Num(event.SourceBytes); ok && b > 0 {
		o.BytesOut = b
	}
	if b, ok := e.Num(event.DestinationBytes); ok && b > 0 {
		o.BytesIn = b
	}
	if d, ok := e.Num(event.EventDurationNS); ok && d > 0 {
		o.Duration = d
	}
	o.Source = intern(e.Origin.Source)
	o.Offset, o.Record, o.Pos = e.Origin.Offset, e.Origin.Record, e.Origin.Pos
	return true
}

// userKey is the event's acting user as a canonical key ("name@domain"), without
// machine accounts (names ending in "$"), which are hosts acting, not people.
func userKey(e *event.Event) string {
	name := e.Str(event.UserName)
	if name == "" || strings.HasSuffix(name, "$") {
		return ""
	}
	return event.UserRef{Name: name, Domain: e.Str(event.UserDomain)}.Key()
}

// lowerASCII folds ASCII letters without allocating when s is already lower-case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
