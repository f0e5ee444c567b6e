package assets

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/event"
)

// ev builds an event at hours h after t0 from ECS fields and raw fields.
type ev struct {
	h   float64
	str map[event.StrField]string
	num map[event.NumField]int64
	ip  map[event.IPField]string
	raw [][2]string
}

func (x ev) build() *event.Event {
	e := &event.Event{Timestamp: at(x.h)}
	for f, v := range x.str {
		e.SetStr(f, v)
	}
	for f, v := range x.num {
		e.SetNum(f, v)
	}
	for f, v := range x.ip {
		e.SetIP(f, netip.MustParseAddr(v))
	}
	for _, kv := range x.raw {
		e.AddRaw(event.MakeKey(kv[0]), kv[1])
	}
	return e
}

func zeekDHCP(h float64, assigned, name string, lease string, msgs ...string) ev {
	x := ev{h: h, str: map[event.StrField]string{event.EventDataset: "zeek.dhcp"}}
	if assigned != "" {
		x.raw = append(x.raw, [2]string{"assigned_addr", assigned})
	}
	if name != "" {
		x.raw = append(x.raw, [2]string{"host_name", name})
	}
	if lease != "" {
		x.raw = append(x.raw, [2]string{"lease_time", lease})
	}
	for _, m := range msgs {
		x.raw = append(x.raw, [2]string{"msg_types", m})
	}
	return x
}

func zeekRelease(h float64, client string) ev {
	return ev{h: h, str: map[event.StrField]string{event.EventDataset: "zeek.dhcp"},
		raw: [][2]string{{"client_addr", client}, {"msg_types", "RELEASE"}}}
}

func dhcpd(h float64, msg string) ev {
	return ev{h: h, str: map[event.StrField]string{event.ProcessName: "dhcpd", event.HostName: "dhcp01", event.Message: msg}}
}

func win(h float64, id int64, logonType, ws, ip string, more map[event.StrField]string) ev {
	x := ev{h: h, num: map[event.NumField]int64{event.WinlogEventID: id},
		str: map[event.StrField]string{event.WinlogProviderName: provSecurity, event.HostName: "srv01.corp.example"}}
	if logonType != "" {
		x.str[event.WinlogLogonType] = logonType
	}
	if ws != "" {
		x.str[event.SourceDomain] = ws
	}
	if ip != "" {
		x.ip = map[event.IPField]string{event.SourceIP: ip}
	}
	for f, v := range more {
		x.str[f] = v
	}
	return x
}

func TestLearn(t *testing.T) {
	type want struct {
		src  Source
		ip   string
		host string // "" with release
		rel  bool
	}
	for _, tc := range []struct {
		name string
		ev   ev
		want []want
	}{
		{"zeek dhcp ack", zeekDHCP(0, "10.0.0.5", "WS-042", "3600.0", "REQUEST", "ACK"), []want{{SourceDHCP, "10.0.0.5", "ws-042", false}}},
		{"zeek dhcp fqdn preferred", func() ev {
			x := zeekDHCP(0, "10.0.0.5", "WS-042", "", "ACK")
			x.raw = append(x.raw, [2]string{"client_fqdn", "ws-042.corp.example"})
			return x
		}(), []want{{SourceDHCP, "10.0.0.5", "ws-042.corp.example", false}}},
		{"zeek dhcp nak", zeekDHCP(0, "10.0.0.5", "ws-042", "", "REQUEST", "NAK"), nil},
		{"zeek dhcp offer only", zeekDHCP(0, "10.0.0.5", "ws-042", "", "DISCOVER", "OFFER"), nil},
		{"zeek dhcp ack without name", zeekDHCP(0, "10.0.0.5", "", "", "ACK"), nil},
		{"zeek dhcp name with a space", zeekDHCP(0, "10.0.0.5", "Johns iPhone", "", "ACK"), nil},
		{"zeek dhcp name is an address", zeekDHCP(0, "10.0.0.5", "10.0.0.9", "", "ACK"), nil},
		{"zeek dhcp release", zeekRelease(0, "10.0.0.5"), []want{{SourceDHCP, "10.0.0.5", "", true}}},
		{"zeek dhcp decline", func() ev {
			x := zeekDHCP(0, "", "ws-042", "", "DECLINE")
			x.raw = append(x.raw, [2]string{"requested_addr", "10.0.0.5"})
			return x
		}(), []want{{SourceDHCP, "10.0.0.5", "ws-042", true}}},
		{"dhcpd ack", dhcpd(0, "DHCPACK on 10.0.0.5 to aa:bb:cc:dd:ee:ff (ws-042) via eth0"), []want{{SourceDHCP, "10.0.0.5", "ws-042", false}}},
		{"dhcpd ack without name", dhcpd(0, "DHCPACK on 10.0.0.5 to aa:bb:cc:dd:ee:ff via eth0"), nil},
		{"dhcpd inform ack", dhcpd(0, "DHCPACK to 10.0.0.5 (aa:bb:cc:dd:ee:ff) via eth0"), nil},
		{"dhcpd request", dhcpd(0, "DHCPREQUEST for 10.0.0.5 from aa:bb:cc:dd:ee:ff (ws-042) via eth0"), nil},
		{"dhcpd release", dhcpd(0, "DHCPRELEASE of 10.0.0.5 from aa:bb:cc:dd:ee:ff (ws-042) via eth0 (found)"), []want{{SourceDHCP, "10.0.0.5", "", true}}},
		{"dhcpd release not found", dhcpd(0, "DHCPRELEASE of 10.0.0.5 from aa:bb:cc:dd:ee:ff (ws-042) via eth0 (not found)"), nil},
		{"dhcpd decline", dhcpd(0, "DHCPDECLINE of 10.0.0.5 from aa:bb:cc:dd:ee:ff (ws-042) via eth0: abandoned"), []want{{SourceDHCP, "10.0.0.5", "ws-042", true}}},
		{"dhcpd garbage", dhcpd(0, "DHCPACK on"), nil},
		{"4624 network ntlm", win(0, 4624, "Network", "WS-042", "10.0.0.5", nil), []want{{SourceLogon, "10.0.0.5", "ws-042", false}}},
		{"4624 workstation with backslashes", win(0, 4624, "Network", `\\WS-042`, "10.0.0.5", nil), []want{{SourceLogon, "10.0.0.5", "ws-042", false}}},
		{"4624 remote interactive", win(0, 4624, "RemoteInteractive", "LAPTOP-7", "192.0.2.7", nil), []want{{SourceLogon, "192.0.2.7", "laptop-7", false}}},
		{"4625 network", win(0, 4625, "Network", "WS-042", "10.0.0.5", nil), []want{{SourceLogon, "10.0.0.5", "ws-042", false}}},
		{"4624 interactive loopback", win(0, 4624, "Interactive", "SRV01", "127.0.0.1", nil), nil},
		{"4624 cached interactive", win(0, 4624, "CachedInteractive", "SRV01", "10.0.0.9", nil), nil},
		{"4624 cleartext names the server", win(0, 4624, "NetworkCleartext", "SRV01", "10.0.0.5", nil), nil},
		{"4624 from itself", win(0, 4624, "Network", "SRV01", "10.0.0.9", nil), nil},
		{"4624 ipv6 loopback", win(0, 4624, "Network", "WS-042", "::1", nil), nil},
		{"4624 link-local", win(0, 4624, "Network", "WS-042", "fe80::1", nil), nil},
		{"4624 kerberos computer account", win(0, 4624, "Network", "", "10.0.0.5",
			map[event.StrField]string{event.UserName: "ws-042$", event.UserDomain: "corp.example", event.EventOutcome: "success"}),
			[]want{{SourceMachineAccount, "10.0.0.5", "ws-042.corp.example", false}}},
		{"4624 kerberos user", win(0, 4624, "Network", "", "10.0.0.5",
			map[event.StrField]string{event.UserName: "alice", event.UserDomain: "corp", event.EventOutcome: "success"}), nil},
		{"4768 computer account", win(0, 4768, "", "", "10.0.0.5",
			map[event.StrField]string{event.UserName: "ws-042$", event.UserDomain: "corp", event.EventOutcome: "success"}),
			[]want{{SourceMachineAccount, "10.0.0.5", "ws-042", false}}},
		{"4768 user names no host", win(0, 4768, "", "", "10.0.0.5",
			map[event.StrField]string{event.UserName: "alice", event.UserDomain: "corp.example", event.EventOutcome: "success"}), nil},
		{"4769 failed computer account", win(0, 4769, "", "", "10.0.0.5",
			map[event.StrField]string{event.UserName: "ws-042$", event.EventOutcome: "failure"}), nil},
		{"4776 has no address", win(0, 4776, "", "WS-042", "", nil), nil},
		{"4648 target server", func() ev {
			x := win(0, 4648, "", "", "10.0.0.20", map[event.StrField]string{event.DestinationDomain: "fs01.corp.example"})
			return x
		}(), []want{{SourceServer, "10.0.0.20", "fs01.corp.example", false}}},
		{"4648 domain name", win(0, 4648, "", "", "10.0.0.10", map[event.StrField]string{event.DestinationDomain: "corp.example"}), nil},
		{"4648 localhost", win(0, 4648, "", "", "10.0.0.9", map[event.StrField]string{event.DestinationDomain: "localhost"}), nil},
		{"4648 user domain", win(0, 4648, "", "", "10.0.0.10",
			map[event.StrField]string{event.DestinationDomain: "corp", event.UserDomain: "corp"}), nil},
		{"other provider", func() ev {
			x := win(0, 4624, "Network", "WS-042", "10.0.0.5", nil)
			x.str[event.WinlogProviderName] = "Some-Other"
			return x
		}(), nil},
		{"sysmon 3 egress", ev{num: map[event.NumField]int64{event.WinlogEventID: 3},
			str: map[event.StrField]string{event.WinlogProviderName: provSysmon, event.HostName: "ws-042.corp.example", event.NetworkDirection: "egress"},
			ip:  map[event.IPField]string{event.SourceIP: "10.0.0.5", event.DestinationIP: "93.184.216.34"}},
			[]want{{SourceSelf, "10.0.0.5", "ws-042.corp.example", false}}},
		{"sysmon 3 inbound, local end as source", ev{num: map[event.NumField]int64{event.WinlogEventID: 3},
			str: map[event.StrField]string{event.WinlogProviderName: provSysmon, event.HostName: "dc1.corp.example", event.NetworkDirection: "ingress",
				event.SourceDomain: "DC1.corp.example", event.DestinationDomain: "ALICE"},
			ip: map[event.IPField]string{event.SourceIP: "10.0.0.11", event.DestinationIP: "10.0.0.20"}},
			[]want{{SourceSelf, "10.0.0.11", "dc1.corp.example", false}}},
		{"sysmon 3 inbound, names unresolved", ev{num: map[event.NumField]int64{event.WinlogEventID: 3},
			str: map[event.StrField]string{event.WinlogProviderName: provSysmon, event.HostName: "dc1.corp.example", event.NetworkDirection: "ingress"},
			ip:  map[event.IPField]string{event.SourceIP: "10.0.0.20", event.DestinationIP: "10.0.0.11"}}, nil},
		{"sysmon 1", ev{num: map[event.NumField]int64{event.WinlogEventID: 1},
			str: map[event.StrField]string{event.WinlogProviderName: provSysmon, event.HostName: "ws-042"}}, nil},
		{"beats self-report", ev{str: map[event.StrField]string{event.HostName: "web-3.corp.example"},
			ip:  map[event.IPField]string{event.HostIP: "10.0.2.30"},
			raw: [][2]string{{"host.ip", "10.0.2.30"}, {"host.ip", "fe80::1"}, {"host.ip", "127.0.0.1"}, {"host.ip", "2001:db8::30"}}},
			[]want{{SourceSelf, "10.0.2.30", "web-3.corp.example", false}, {SourceSelf, "2001:db8::30", "web-3.corp.example", false}}},
		{"server log names its peer", ev{str: map[event.StrField]string{event.HostName: "web-3", event.ProcessName: "sshd"},
			ip: map[event.IPField]string{event.SourceIP: "10.0.0.5"}}, nil},
		{"zeek ntlm", ev{str: map[event.StrField]string{event.EventDataset: "zeek.ntlm", event.SourceDomain: "WS-042", event.DestinationDomain: "fs01.corp.example"},
			ip: map[event.IPField]string{event.SourceIP: "10.0.0.5", event.DestinationIP: "10.0.0.20"}},
			[]want{{SourceLogon, "10.0.0.5", "ws-042", false}, {SourceServer, "10.0.0.20", "fs01.corp.example", false}}},
		{"zeek rdp", ev{str: map[event.StrField]string{event.EventDataset: "zeek.rdp", event.SourceDomain: "LAPTOP-7"},
			ip: map[event.IPField]string{event.SourceIP: "10.0.0.7"}},
			[]want{{SourceLogon, "10.0.0.7", "laptop-7", false}}},
		{"zeek kerberos AS of a machine account", ev{str: map[event.StrField]string{event.EventDataset: "zeek.kerberos", event.EventAction: "AS",
			event.UserName: "utica$", event.UserDomain: "dmevals.local", event.EventOutcome: "success"},
			ip: map[event.IPField]string{event.SourceIP: "10.0.1.5"}},
			[]want{{SourceMachineAccount, "10.0.1.5", "utica.dmevals.local", false}}},
		{"zeek kerberos TGS", ev{str: map[event.StrField]string{event.EventDataset: "zeek.kerberos", event.EventAction: "TGS",
			event.UserName: "utica$", event.UserDomain: "dmevals.local", event.EventOutcome: "success"},
			ip: map[event.IPField]string{event.SourceIP: "10.0.1.5"}}, nil},
		{"zero time", func() ev { x := win(0, 4624, "Network", "WS-042", "10.0.0.5", nil); return x }(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.ev.build()
			if tc.name == "zero time" {
				e.Timestamp = time.Time{}
			}
			var got []want
			for _, l := range Learn(e, nil) {
				got = append(got, want{l.Source, l.IP.String(), l.Host, l.Release})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Learn = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestObserveEventTimeline plays event sequences through a resolver and asks
// HostAt at times: lease expiry, release and re-assignment, claims against
// authoritative bindings.
func TestObserveEventTimeline(t *testing.T) {
	type q struct {
		h    float64
		ip   string
		want string
	}
	for _, tc := range []struct {
		name     string
		evs      []ev
		recorded int // ObserveEvent's total
		qs       []q
	}{
		{
			name:     "zeek lease time bounds the binding",
			evs:      []ev{zeekDHCP(0, "10.0.0.5", "ws-042", "3600.0", "REQUEST", "ACK")},
			recorded: 1,
			qs:       []q{{-0.1, "10.0.0.5", ""}, {0, "10.0.0.5", "ws-042"}, {0.99, "10.0.0.5", "ws-042"}, {1.01, "10.0.0.5", ""}},
		},
		{
			name:     "renewal extends the lease",
			evs:      []ev{zeekDHCP(0, "10.0.0.5", "ws-042", "3600", "ACK"), zeekDHCP(0.5, "10.0.0.5", "ws-042", "3600", "REQUEST", "ACK")},
			recorded: 2,
			qs:       []q{{1.2, "10.0.0.5", "ws-042"}, {1.6, "10.0.0.5", ""}},
		},
		{
			name:     "no lease time takes the default (24h)",
			evs:      []ev{zeekDHCP(0, "10.0.0.5", "ws-042", "", "ACK")},
			recorded: 1,
			qs:       []q{{23.9, "10.0.0.5", "ws-042"}, {24.1, "10.0.0.5", ""}},
		},
		{
			name:     "infinite lease capped",
			evs:      []ev{zeekDHCP(0, "10.0.0.5", "ws-042", "4294967295.0", "ACK")},
			recorded: 1,
			qs:       []q{{24 * 29, "10.0.0.5", "ws-042"}, {24*30 + 0.1, "10.0.0.5", ""}},
		},
		{
			name: "zeek release then the address goes to another host",
			evs: []ev{zeekDHCP(0, "10.0.0.5", "ws-042", "86400", "ACK"), zeekRelease(2, "10.0.0.5"),
				zeekDHCP(3, "10.0.0.5", "ws-077", "86400", "DISCOVER", "OFFER", "REQUEST", "ACK")},
			recorded: 3,
			qs:       []q{{1.9, "10.0.0.5", "ws-042"}, {2.5, "10.0.0.5", ""}, {3, "10.0.0.5", "ws-077"}, {20, "10.0.0.5", "ws-077"}},
		},
		{
			name: "dhcpd release then re-assignment",
			evs: []ev{dhcpd(0, "DHCPACK on 10.0.0.5 to aa:bb:cc:dd:ee:ff (ws-042) via eth0"),
				dhcpd(2, "DHCPRELEASE of 10.0.0.5 from aa:bb:cc:dd:ee:ff (ws-042) via eth0 (found)"),
				dhcpd(3, "DHCPACK on 10.0.0.5 to 11:22:33:44:55:66 (ws-077) via eth0")},
			recorded: 3,
			qs:       []q{{1.9, "10.0.0.5", "ws-042"}, {2.5, "10.0.0.5", ""}, {3.1, "10.0.0.5", "ws-077"}},
		},
		{
			name: "a decline releases only from the declining host",
			evs: []ev{dhcpd(0, "DHCPACK on 10.0.0.5 to aa:bb:cc:dd:ee:ff (ws-042) via eth0"),
				dhcpd(1, "DHCPDECLINE of 10.0.0.5 from 11:22:33:44:55:66 (ws-077) via eth0: abandoned"),
				dhcpd(2, "DHCPDECLINE of 10.0.0.5 from aa:bb:cc:dd:ee:ff (ws-042) via eth0: abandoned")},
			recorded: 2,
			qs:       []q{{1.5, "10.0.0.5", "ws-042"}, {2.5, "10.0.0.5", ""}},
		},
		{
			name: "a claim does not displace a DHCP lease in force",
			evs: []ev{zeekDHCP(0, "10.0.0.5", "ws-042", "7200", "ACK"),
				win(1, 4624, "Network", "DC01", "10.0.0.5", nil),    // a spoofed workstation name
				win(3, 4624, "Network", "WS-099", "10.0.0.5", nil)}, // after the lease: the claim stands
			recorded: 2,
			qs:       []q{{1.5, "10.0.0.5", "ws-042"}, {2.5, "10.0.0.5", ""}, {3.5, "10.0.0.5", "ws-099"}},
		},
		{
			name: "a short-name claim renews the FQDN binding",
			evs: []ev{zeekDHCP(0, "10.0.0.5", "ws-042.corp.example", "3600", "ACK"),
				win(0.5, 4624, "Network", "WS-042", "10.0.0.5", nil)},
			recorded: 2,
			qs:       []q{{0.7, "10.0.0.5", "ws-042.corp.example"}, {1.2, "10.0.0.5", "ws-042.corp.example"}},
		},
		{
			name: "claims replace claims",
			evs: []ev{win(0, 4624, "Network", "WS-042", "10.0.0.5", nil),
				win(1, 4624, "Network", "WS-077", "10.0.0.5", nil)},
			recorded: 2,
			qs:       []q{{0.5, "10.0.0.5", "ws-042"}, {1.5, "10.0.0.5", "ws-077"}},
		},
		{
			name: "a DHCP lease displaces a claim",
			evs: []ev{win(0, 4624, "Network", "WS-042", "10.0.0.5", nil),
				zeekDHCP(1, "10.0.0.5", "ws-077", "3600", "ACK")},
			recorded: 2,
			qs:       []q{{0.5, "10.0.0.5", "ws-042"}, {1.5, "10.0.0.5", "ws-077"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Resolver{Bindings: NewBindings(BindingsConfig{})}
			n := 0
			for _, x := range tc.evs {
				n += r.ObserveEvent(x.build())
			}
			if n != tc.recorded {
				t.Errorf("ObserveEvent recorded %d, want %d", n, tc.recorded)
			}
			for _, q := range tc.qs {
				if m := r.HostAt(netip.MustParseAddr(q.ip), at(q.h)); m.Host != q.want {
					t.Errorf("HostAt(%s, +%.2fh) = %q, want %q", q.ip, q.h, m.Host, q.want)
				}
			}
		})
	}
}

// decodeText runs text through the registered decoder of format.
func decodeText(t *testing.T, format, name, text string) []*event.Event {
	t.Helper()
	f, err := formats.Default().Get(format)
	if err != nil {
		t.Fatal(err)
	}
	var s cloneSink
	in := decode.Input{R: strings.NewReader(text), Source: name, Year: 2026}
	if err := f.New().Decode(context.Background(), in, &s); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	if len(s.rejects) > 0 {
		t.Fatalf("decoding %s: rejected %v", name, s.rejects[0])
	}
	return s.out
}

type cloneSink struct {
	e       event.Event
	out     []*event.Event
	rejects []*decode.RecordError
}

func (s *cloneSink) Alloc() *event.Event            { s.e.Reset(); return &s.e }
func (s *cloneSink) Emit(e *event.Event)            { s.out = append(s.out, e.Clone()) }
func (s *cloneSink) Reject(err *decode.RecordError) { s.rejects = append(s.rejects, err) }

// TestLearnThroughDecoders checks that the fields Learn reads are the ones
// the decoders write: Zeek dhcp.log (TSV), ISC dhcpd syslog lines, an ECS
// document from a Beat.
func TestLearnThroughDecoders(t *testing.T) {
	zeekTSV := strings.Join([]string{
		"#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tdhcp",
		"#fields\tts\tuids\tclient_addr\tserver_addr\tmac\thost_name\tclient_fqdn\tdomain\trequested_addr\tassigned_addr\tlease_time\tclient_message\tserver_message\tmsg_types\tduration",
		"#types\ttime\tset[string]\taddr\taddr\tstring\tstring\tstring\tstring\taddr\taddr\tinterval\tstring\tstring\tvector[string]\tinterval",
		"1772438400.000000\tC1\t10.0.0.5\t10.0.0.1\taa:bb:cc:dd:ee:ff\tWS-042\t-\tcorp.example\t-\t10.0.0.5\t3600.000000\t-\t-\tREQUEST,ACK\t0.001",
		"1772445600.000000\tC2\t10.0.0.5\t10.0.0.1\taa:bb:cc:dd:ee:ff\tWS-042\t-\tcorp.example\t-\t-\t-\t-\t-\tRELEASE\t0",
		"1772449200.000000\tC3\t-\t10.0.0.1\t11:22:33:44:55:66\tws-077\tws-077.corp.example\tcorp.example\t10.0.0.5\t10.0.0.5\t86400.000000\t-\t-\tDISCOVER,OFFER,REQUEST,ACK\t0.002",
	}, "\n") + "\n"
	syslogText := "Mar  2 08:00:00 dhcp01 dhcpd[812]: DHCPACK on 10.0.0.6 to aa:bb:cc:dd:ee:01 (ws-101) via eth0\n" +
		"Mar  2 09:00:00 dhcp01 dhcpd[812]: DHCPRELEASE of 10.0.0.6 from aa:bb:cc:dd:ee:01 (ws-101) via eth0 (found)\n" +
		"Mar  2 10:00:00 dhcp01 sshd[9]: Accepted password for bob from 10.0.0.7 port 5122 ssh2\n"
	beat := `{"@timestamp":"2026-03-02T08:00:00Z","host":{"name":"web-3.corp.example","ip":["10.0.2.30","fe80::1"]},"event":{"kind":"event"},"message":"x"}` + "\n"

	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		format, name, text string
		learned            []string
		qs                 map[string]map[time.Duration]string // ip -> offset from 08:00 -> host
	}{
		{"zeek-tsv", "dhcp.log", zeekTSV,
			[]string{"dhcp 10.0.0.5 ws-042", "dhcp 10.0.0.5 release", "dhcp 10.0.0.5 ws-077.corp.example"},
			map[string]map[time.Duration]string{"10.0.0.5": {-time.Minute: "", 30 * time.Minute: "ws-042", 90 * time.Minute: "", 3 * time.Hour: "ws-077.corp.example"}}},
		{"syslog-rfc3164", "syslog", syslogText,
			[]string{"dhcp 10.0.0.6 ws-101", "dhcp 10.0.0.6 release"},
			map[string]map[time.Duration]string{"10.0.0.6": {30 * time.Minute: "ws-101", 90 * time.Minute: ""}, "10.0.0.7": {2 * time.Hour: ""}}},
		{"ecs-ndjson", "beat.ndjson", beat,
			[]string{"self 10.0.2.30 web-3.corp.example"},
			map[string]map[time.Duration]string{"10.0.2.30": {time.Hour: "web-3.corp.example"}}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			evs := decodeText(t, tc.format, tc.name, tc.text)
			r := &Resolver{Bindings: NewBindings(BindingsConfig{})}
			var got []string
			for _, e := range evs {
				for _, l := range Learn(e, nil) {
					h := l.Host
					if l.Release {
						h = "release"
					}
					got = append(got, fmt.Sprintf("%s %s %s", l.Source, l.IP, h))
				}
				r.ObserveEvent(e)
			}
			if !slices.Equal(got, tc.learned) {
				t.Errorf("learned %q, want %q", got, tc.learned)
			}
			for ip, byT := range tc.qs {
				for d, want := range byT {
					if m := r.HostAt(netip.MustParseAddr(ip), t0.Add(d)); m.Host != want {
						t.Errorf("HostAt(%s, 08:00%+v) = %q, want %q", ip, d, m.Host, want)
					}
				}
			}
		})
	}
}

// TestObserveEventConcurrent: detect workers call ObserveEvent and HostAt at
// once (run with -race).
func TestObserveEventConcurrent(t *testing.T) {
	r := &Resolver{Bindings: NewBindings(BindingsConfig{})}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				ip := fmt.Sprintf("10.0.%d.%d", w, i%200+1)
				r.ObserveEvent(zeekDHCP(float64(i)/100, ip, fmt.Sprintf("ws-%d-%d", w, i%200), "3600", "ACK").build())
				r.ObserveEvent(win(float64(i)/100, 4624, "Network", "WS-X", ip, nil).build())
				r.HostAt(netip.MustParseAddr(ip), at(float64(i)/100))
			}
		}()
	}
	wg.Wait()
	if s := r.Bindings.Stats(); s.IPs != 8*200 {
		t.Errorf("%d addresses, want %d", s.IPs, 8*200)
	}
	if m := r.HostAt(netip.MustParseAddr("10.0.3.7"), at(4.99)); m.Host != "ws-3-6" {
		t.Errorf("10.0.3.7 = %q, want ws-3-6 (claims refused under the lease)", m.Host)
	}
}
