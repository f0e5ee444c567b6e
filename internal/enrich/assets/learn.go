package assets

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// Source names the kind of event a binding was learned from.
type Source uint8

// Sources of learned bindings.
const (
	// SourceDHCP: a DHCP server handed the address out or took it back (Zeek
	// dhcp.log, ISC dhcpd syslog lines). Authoritative, with the lease time
	// when the log has it.
	SourceDHCP Source = iota
	// SourceSelf: an agent describing its own host (ECS host.name with
	// host.ip, as Beats write them; the local side of a Sysmon network
	// connection). Authoritative.
	SourceSelf
	// SourceLogon: a client naming itself to a server (Windows 4624/4625
	// WorkstationName with IpAddress for network and remote-interactive
	// logons, Zeek ntlm.log and rdp.log client names). Claimed.
	SourceLogon
	// SourceServer: a server named with its address (Windows 4648
	// TargetServerName with its network address; the server name an NTLM
	// server gives in Zeek's ntlm.log). Claimed.
	SourceServer
	// SourceMachineAccount: a computer account's own Kerberos request or
	// logon (Windows 4768/4769, a 4624 network logon naming no workstation,
	// Zeek kerberos.log AS, for NAME$ from its address).
	// Claimed: a group managed service account's name also ends in $.
	SourceMachineAccount

	numSources
)

var sourceNames = [numSources]string{"dhcp", "self", "logon", "server", "machine-account"}

// String returns the source's name (dhcp, self, logon, server, machine-account).
func (s Source) String() string {
	if s >= numSources {
		return "unknown"
	}
	return sourceNames[s]
}

// Learned is one binding (or release) an event carries.
type Learned struct {
	Source   Source
	Evidence Evidence
	IP       netip.Addr
	Host     string        // canonical name; "" with Release
	Lease    time.Duration // 0: the configured lease
	Release  bool          // the address was given up (Host, when set, must hold it)
}

// Raw keys read by Learn.
var (
	kAssignedAddr  = event.MakeKey("assigned_addr")
	kClientAddr    = event.MakeKey("client_addr")
	kRequestedAddr = event.MakeKey("requested_addr")
	kLeaseTime     = event.MakeKey("lease_time")
	kMsgTypes      = event.MakeKey("msg_types")
	kHostName      = event.MakeKey("host_name")
	kClientFQDN    = event.MakeKey("client_fqdn")
	kHostIPRaw     = event.MakeKey("host.ip")
	kSubjectDomain = event.MakeKey("SubjectDomainName")
	kTargetDomain  = event.MakeKey("TargetDomainName")
)

// Windows providers whose events Learn reads.
const (
	provSecurity = "Microsoft-Windows-Security-Auditing"
	provSysmon   = "Microsoft-Windows-Sysmon"
)

// Learn appends to dst the bindings event e carries and returns it. It keeps no
// state and reads only normalized fields and the producer's raw fields, so it
// is safe for concurrent use; an event that carries nothing bindable costs a
// few field comparisons and no allocation. Addresses are kept only when
// Bindable, names only when they look like host names (letters, digits,
// hyphens, underscores and dots, not an IP literal). See Source for what is
// read from which event.
func Learn(e *event.Event, dst []Learned) []Learned {
	if e.Timestamp.IsZero() {
		return dst
	}
	if id, ok := e.Num(event.WinlogEventID); ok {
		return learnWindows(e, id, dst)
	}
	switch e.Str(event.EventDataset) {
	case "zeek.dhcp":
		return learnZeekDHCP(e, dst)
	case "zeek.ntlm":
		dst = claim(dst, SourceLogon, e.IP(event.SourceIP), e.Str(event.SourceDomain))
		return claim(dst, SourceServer, e.IP(event.DestinationIP), e.Str(event.DestinationDomain))
	case "zeek.rdp":
		return claim(dst, SourceLogon, e.IP(event.SourceIP), e.Str(event.SourceDomain))
	case "zeek.kerberos":
		if e.Str(event.EventAction) == "AS" {
			return machineAccount(e, dst)
		}
		return dst
	}
	if p := e.Str(event.ProcessName); (p == "dhcpd" || p == "dhcpd.exe") && strings.HasPrefix(e.Str(event.Message), "DHCP") {
		return learnISCDHCP(e.Str(event.Message), dst)
	}
	if h := e.Str(event.HostName); h != "" && e.IP(event.HostIP).IsValid() {
		return learnSelf(e, h, dst)
	}
	return dst
}

// claim appends a Claimed binding of ip to name when both are usable.
func claim(dst []Learned, src Source, ip netip.Addr, name string) []Learned {
	return add(dst, src, Claimed, ip, name, 0)
}

func add(dst []Learned, src Source, ev Evidence, ip netip.Addr, name string, lease time.Duration) []Learned {
	if !Bindable(ip) {
		return dst
	}
	h, ok := learnedHost(name)
	if !ok {
		return dst
	}
	return append(dst, Learned{Source: src, Evidence: ev, IP: ip.Unmap(), Host: h, Lease: lease})
}

// learnedHost canonicalizes name (leading backslashes of "\\WS-042" dropped) and
// reports whether it can name a host: 1 to 253 bytes of letters, digits,
// hyphens, underscores and dots, labels of 1 to 63 bytes, not an IP literal
// (hostName's rules for inventory files, without building errors).
func learnedHost(name string) (string, bool) {
	name = strings.TrimLeft(name, `\`)
	h := event.CanonicalHost(name).FQDN
	if h == "" || len(h) > maxHostLen || h[0] == '.' || h[0] == '-' || h[len(h)-1] == '.' {
		return "", false
	}
	digitsAndDots, label := true, 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		label++
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c == '-', c == '_':
			digitsAndDots = false
		case c == '.':
			if h[i-1] == '.' {
				return "", false
			}
			label = 0
		case c == ':': // IPv6 literals canonicalize whole; nothing else has colons
			return "", false
		default:
			return "", false
		}
		if label > 63 {
			return "", false
		}
	}
	if digitsAndDots || event.ParseIP(h).IsValid() {
		return "", false // an address (or a number) names no host
	}
	return h, true
}

// learnWindows reads Security logons and Kerberos requests and Sysmon network
// connections.
func learnWindows(e *event.Event, id int64, dst []Learned) []Learned {
	switch e.Str(event.WinlogProviderName) {
	case provSecurity:
	case provSysmon:
		if id != 3 {
			return dst
		}
		// The local end of a connection is the reporting host's own address.
		// Initiated=true (egress): the source. Initiated=false: either end
		// (Sysmon writes some inbound connections with the local end as the
		// source: DC1's 10.59.4.11:445 as source of ALICE's session in
		// EVTX-ATTACK-SAMPLES), so only an end whose resolved name is the
		// host's own.
		host := e.Str(event.HostName)
		switch {
		case e.Str(event.NetworkDirection) == "egress":
			return add(dst, SourceSelf, Authoritative, e.IP(event.SourceIP), host, 0)
		case sameShort(e.Str(event.SourceDomain), host):
			return add(dst, SourceSelf, Authoritative, e.IP(event.SourceIP), host, 0)
		case sameShort(e.Str(event.DestinationDomain), host):
			return add(dst, SourceSelf, Authoritative, e.IP(event.DestinationIP), host, 0)
		}
		return dst
	default:
		return dst
	}
	switch id {
	case 4624, 4625:
		// WorkstationName is the client's own (NetBIOS) name for network and
		// remote-interactive logons; for cleartext network logons (IIS basic
		// auth) and local ones it is the server's, so those are skipped.
		switch e.Str(event.WinlogLogonType) {
		case "Network", "RemoteInteractive":
		default:
			return dst
		}
		ws := e.Str(event.SourceDomain)
		if ws == "" {
			// A Kerberos network logon names no workstation; a computer
			// account's own logon still comes from the computer.
			return machineAccount(e, dst)
		}
		if sameShort(ws, e.Str(event.HostName)) {
			return dst // the host itself: its address here may be any of its own or a peer's
		}
		return claim(dst, SourceLogon, e.IP(event.SourceIP), ws)
	case 4648:
		// IpAddress is the target server's address (the decoder puts it in
		// source.ip); TargetServerName names it, unless it is localhost, the
		// logging host itself or the AD domain (\\corp.example\SYSVOL reaches
		// whichever controller answers).
		ip := e.IP(event.DestinationIP)
		if !ip.IsValid() {
			ip = e.IP(event.SourceIP) // where the winevt decoder puts IpAddress today
		}
		target := e.Str(event.DestinationDomain)
		if target == "" || strings.EqualFold(target, "localhost") || sameShort(target, e.Str(event.HostName)) || isDomainName(e, target) {
			return dst
		}
		return claim(dst, SourceServer, ip, target)
	case 4768, 4769:
		return machineAccount(e, dst)
	}
	return dst
}

// machineAccount learns a successful Kerberos request of a computer account
// (NAME$ in realm R is host name.r) from the address it came from.
func machineAccount(e *event.Event, dst []Learned) []Learned {
	if e.Str(event.EventOutcome) != "success" {
		return dst
	}
	name := e.Str(event.UserName)
	if len(name) < 2 || name[len(name)-1] != '$' {
		return dst
	}
	ip := e.IP(event.SourceIP)
	if !Bindable(ip) {
		return dst // before building the name
	}
	host := name[:len(name)-1]
	if d := e.Str(event.UserDomain); strings.IndexByte(d, '.') > 0 {
		host = host + "." + d // a DNS realm; a NetBIOS domain adds nothing
	}
	return claim(dst, SourceMachineAccount, ip, host)
}

// sameShort reports whether host names a and b share their first label.
func sameShort(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	a, b = strings.TrimLeft(a, `\`), strings.TrimLeft(b, `\`)
	sa, _, _ := strings.Cut(a, ".")
	sb, _, _ := strings.Cut(b, ".")
	return strings.EqualFold(sa, sb)
}

// isDomainName reports whether name is the AD domain of e's host or users
// rather than a host: the logging host's DNS suffix, or a domain the event
// names.
func isDomainName(e *event.Event, name string) bool {
	name = strings.TrimSuffix(name, ".")
	if _, suffix, ok := strings.Cut(e.Str(event.HostName), "."); ok && strings.EqualFold(name, suffix) {
		return true
	}
	for _, d := range [...]string{e.Str(event.UserDomain), e.Str(event.UserTargetDomain)} {
		if d != "" && strings.EqualFold(name, d) {
			return true
		}
	}
	for _, k := range [...]event.Key{kSubjectDomain, kTargetDomain} {
		if d, ok := e.RawValue(k); ok && d != "" && strings.EqualFold(name, d) {
			return true
		}
	}
	return false
}

// learnZeekDHCP reads one dhcp.log record (a DHCP exchange): an ACK binds the
// assigned address to the client's FQDN option (else its host name option)
// for the lease time; a RELEASE releases the client's address; a DECLINE
// releases the address from the declining client only (it found the address
// in use, perhaps by the host bound to it). A NAK binds nothing.
func learnZeekDHCP(e *event.Event, dst []Learned) []Learned {
	var ack, nak, release, decline bool
	for i := range e.Raw {
		if e.Raw[i].Key != kMsgTypes {
			continue
		}
		switch strings.ToUpper(e.Raw[i].Value) {
		case "ACK":
			ack = true
		case "NAK":
			nak = true
		case "RELEASE":
			release = true
		case "DECLINE":
			decline = true
		}
	}
	name, _ := e.RawValue(kClientFQDN)
	if _, ok := learnedHost(name); !ok {
		name, _ = e.RawValue(kHostName)
	}
	switch {
	case release:
		ip := rawIP(e, kClientAddr)
		if !Bindable(ip) {
			ip = rawIP(e, kAssignedAddr)
		}
		if Bindable(ip) {
			dst = append(dst, Learned{Source: SourceDHCP, Evidence: Authoritative, IP: ip, Release: true})
		}
	case decline:
		ip := rawIP(e, kRequestedAddr)
		if !Bindable(ip) {
			ip = rawIP(e, kAssignedAddr)
		}
		if h, ok := learnedHost(name); ok && Bindable(ip) {
			dst = append(dst, Learned{Source: SourceDHCP, Evidence: Authoritative, IP: ip, Host: h, Release: true})
		}
	case ack && !nak:
		dst = add(dst, SourceDHCP, Authoritative, rawIP(e, kAssignedAddr), name, zeekLease(e))
	}
	return dst
}

func rawIP(e *event.Event, k event.Key) netip.Addr {
	v, _ := e.RawValue(k)
	return event.ParseIP(v)
}

// zeekLease reads dhcp.log's lease_time (seconds, "86400.0"); 0 when absent or
// not a positive number.
func zeekLease(e *event.Event) time.Duration {
	v, ok := e.RawValue(kLeaseTime)
	if !ok {
		return 0
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || !(s > 0) || math.IsInf(s, 0) {
		return 0
	}
	if s >= MaxLease.Seconds() {
		return MaxLease
	}
	return time.Duration(s * float64(time.Second))
}

// learnISCDHCP reads ISC dhcpd's log lines:
//
//	DHCPACK on 10.0.0.5 to aa:bb:cc:dd:ee:ff (ws-042) via eth0
//	DHCPRELEASE of 10.0.0.5 from aa:bb:cc:dd:ee:ff (ws-042) via eth0 (found)
//	DHCPDECLINE of 10.0.0.5 from aa:bb:cc:dd:ee:ff (ws-042) via eth0: ...
//
// An ACK without a client name binds nothing (the ACK of an INFORM has "to"
// without "on"); a release the server did not find, nothing either.
func learnISCDHCP(msg string, dst []Learned) []Learned {
	verb, rest, _ := strings.Cut(msg, " ")
	var prep string
	switch verb {
	case "DHCPACK":
		prep = "on "
	case "DHCPRELEASE", "DHCPDECLINE":
		prep = "of "
	default:
		return dst
	}
	rest, ok := strings.CutPrefix(rest, prep)
	if !ok {
		return dst
	}
	addr, rest, _ := strings.Cut(rest, " ")
	ip := event.ParseIP(addr)
	if !Bindable(ip) {
		return dst
	}
	// "to MAC (name) via" / "from MAC (name) via": the name is optional.
	var name string
	if _, after, ok := strings.Cut(rest, " ("); ok {
		if n, _, ok := strings.Cut(after, ") via "); ok {
			name = n
		}
	}
	switch verb {
	case "DHCPACK":
		return add(dst, SourceDHCP, Authoritative, ip, name, 0)
	case "DHCPRELEASE":
		if strings.HasSuffix(rest, "(not found)") {
			return dst
		}
		return append(dst, Learned{Source: SourceDHCP, Evidence: Authoritative, IP: ip, Release: true})
	default: // DHCPDECLINE
		if h, ok := learnedHost(name); ok {
			return append(dst, Learned{Source: SourceDHCP, Evidence: Authoritative, IP: ip, Host: h, Release: true})
		}
		return dst
	}
}

// learnSelf binds every address of host.ip (a Beats document lists all of the
// host's addresses as repeated raw host.ip fields) to host.name.
func learnSelf(e *event.Event, host string, dst []Learned) []Learned {
	h, ok := learnedHost(host)
	if !ok {
		return dst
	}
	first := e.IP(event.HostIP).Unmap()
	if Bindable(first) {
		dst = append(dst, Learned{Source: SourceSelf, Evidence: Authoritative, IP: first, Host: h})
	}
	for i := range e.Raw {
		if e.Raw[i].Key != kHostIPRaw {
			continue
		}
		if ip := event.ParseIP(e.Raw[i].Value); ip != first && Bindable(ip) {
			dst = append(dst, Learned{Source: SourceSelf, Evidence: Authoritative, IP: ip, Host: h})
		}
	}
	return dst
}

// ObserveEvent learns the bindings event e carries (see Learn) into the
// resolver's bindings, at the event's time, and returns how many were
// recorded (bindings and releases; a claim refused because an authoritative
// binding of another host holds the address is not counted). Safe for
// concurrent use; an event with nothing bindable costs a few comparisons and
// takes no lock.
func (r *Resolver) ObserveEvent(e *event.Event) int {
	if r == nil || r.Bindings == nil {
		return 0
	}
	var buf [4]Learned
	n := 0
	for _, l := range Learn(e, buf[:0]) {
		if r.Bindings.apply(e.Timestamp, l) {
			n++
		}
	}
	return n
}

// apply records one learned binding or release.
func (b *Bindings) apply(t time.Time, l Learned) bool {
	switch {
	case !l.Release:
		return b.ObserveAs(t, l.IP, l.Host, l.Lease, l.Evidence)
	case l.Host != "":
		return b.ReleaseHost(t, l.IP, l.Host)
	default:
		return b.observe(t, l.IP, "", 0, false)
	}
}
