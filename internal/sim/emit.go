package sim

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// Emitter formats records and hands them to the per-file outputs, tagged with the
// campaign or episode being emitted (if any).
type Emitter struct {
	out   *outputs
	org   *Org
	rng   *rand.Rand
	tag   tag
	buf   []byte
	recID int64
}

// KV is one EventData field.
type KV struct{ K, V string }

func appendJSONStr(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// Win writes one evtx_dump JSON record.
func (e *Emitter) Win(t time.Time, technique string, sysmon bool, eventID int, computer string, data []KV) {
	e.recID++
	b := e.buf[:0]
	prov, guid, ch, fid := "Microsoft-Windows-Security-Auditing", "54849625-5478-4994-A5BA-3E3B0328C30D", "Security", fSecurity
	if sysmon {
		prov, guid, ch, fid = "Microsoft-Windows-Sysmon", "5770385F-C22A-43E0-BF4C-06F5698FFBD9", "Microsoft-Windows-Sysmon/Operational", fSysmon
	}
	b = append(b, `{"Event":{"System":{"Provider":{"#attributes":{"Name":"`...)
	b = append(b, prov...)
	b = append(b, `","Guid":"`...)
	b = append(b, guid...)
	b = append(b, `"}},"EventID":`...)
	b = strconv.AppendInt(b, int64(eventID), 10)
	b = append(b, `,"Level":4,"TimeCreated":{"#attributes":{"SystemTime":"`...)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, `"}},"EventRecordID":`...)
	b = strconv.AppendInt(b, e.recID, 10)
	b = append(b, `,"Channel":"`...)
	b = append(b, ch...)
	b = append(b, `","Computer":`...)
	b = appendJSONStr(b, computer)
	b = append(b, `},"EventData":{`...)
	if sysmon {
		b = append(b, `"UtcTime":"`...)
		b = t.UTC().AppendFormat(b, "2006-01-02 15:04:05.000")
		b = append(b, '"')
		if len(data) > 0 {
			b = append(b, ',')
		}
	}
	for i, kv := range data {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONStr(b, kv.K)
		b = append(b, ':')
		b = appendJSONStr(b, kv.V)
	}
	b = append(b, "}}}\n"...)
	e.buf = b
	tg := e.tag
	tg.technique = technique
	e.out.add(fid, t, tg, b)
}

// Line hands one finished record (text ending with a newline) to file fid. The
// writers of each format (Win, Syslog, Conn, ...) end in it.
func (e *Emitter) Line(fid int, t time.Time, technique string, b []byte) {
	tg := e.tag
	tg.technique = technique
	e.out.add(fid, t, tg, b)
}

// Syslog writes one RFC 3164 line.
func (e *Emitter) Syslog(t time.Time, technique, host, prog string, pid int, msg string) {
	b := e.buf[:0]
	b = t.UTC().AppendFormat(b, time.Stamp)
	b = append(b, ' ')
	b = append(b, host...)
	b = append(b, ' ')
	b = append(b, prog...)
	if pid > 0 {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(pid), 10)
		b = append(b, ']')
	}
	b = append(b, ": "...)
	b = append(b, msg...)
	b = append(b, '\n')
	e.buf = b
	tg := e.tag
	tg.technique = technique
	e.out.add(fAuth, t, tg, b)
}

const uidChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// UID is a Zeek connection uid ("C" and 17 base62 characters). An http.log or
// ssl.log record carries the uid of the conn.log record of its connection.
type UID [18]byte

// NewUID draws a connection uid.
func (e *Emitter) NewUID() UID {
	var u UID
	u[0] = 'C'
	for i := 1; i < len(u); i++ {
		u[i] = uidChars[e.rng.IntN(len(uidChars))]
	}
	return u
}

func appendTS(b []byte, t time.Time) []byte {
	b = strconv.AppendInt(b, t.Unix(), 10)
	b = append(b, '.')
	us := t.Nanosecond() / 1000
	s := strconv.Itoa(us + 1000000)
	return append(b, s[1:]...)
}

// appendBool renders a Zeek bool.
func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 'T')
	}
	return append(b, 'F')
}

// appendID writes ts, uid and the connection 4-tuple, the first six columns of most
// Zeek logs, each followed by a tab.
func appendID(b []byte, t time.Time, uid *UID, src netip.Addr, sport int, dst netip.Addr, dport int) []byte {
	b = appendTS(b, t)
	b = append(b, '\t')
	b = append(b, uid[:]...)
	b = append(b, '\t')
	b = src.AppendTo(b)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(sport), 10)
	b = append(b, '\t')
	b = dst.AppendTo(b)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(dport), 10)
	return append(b, '\t')
}

// Conn writes one Zeek conn.log record of a completed TCP connection and returns
// its uid, for the http.log or ssl.log record of the same connection.
func (e *Emitter) Conn(t time.Time, technique string, src netip.Addr, sport int, dst netip.Addr, dport int, service string, dur time.Duration, out, in int64) UID {
	uid := e.NewUID()
	e.ConnUID(t, technique, uid, "tcp", src, sport, dst, dport, service, dur, out, in)
	return uid
}

// ConnUID writes one Zeek conn.log record with a given uid and protocol ("tcp" or
// "udp"). local_orig and local_resp say whether each end is in the private ranges
// the organisation uses.
func (e *Emitter) ConnUID(t time.Time, technique string, uid UID, proto string, src netip.Addr, sport int, dst netip.Addr, dport int, service string, dur time.Duration, out, in int64) {
	b := appendID(e.buf[:0], t, &uid, src, sport, dst, dport)
	b = append(b, proto...)
	b = append(b, '\t')
	if service == "" {
		service = "-"
	}
	b = append(b, service...)
	b = append(b, '\t')
	b = strconv.AppendFloat(b, dur.Seconds(), 'f', 6, 64)
	b = append(b, '\t')
	b = strconv.AppendInt(b, out, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, in, 10)
	b = append(b, "\tSF\t"...)
	b = appendBool(b, src.IsPrivate())
	b = append(b, '\t')
	b = appendBool(b, dst.IsPrivate())
	var op, ip, hdr int64
	if proto == "udp" {
		// One datagram each way, 28 bytes of IP and UDP header.
		b = append(b, "\t0\tDd\t"...)
		op, ip, hdr = 1, 1, 28
	} else {
		b = append(b, "\t0\tShADadFf\t"...)
		op, ip, hdr = out/1400+3, in/1400+3, 40
	}
	b = strconv.AppendInt(b, op, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, out+op*hdr, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, ip, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, in+ip*hdr, 10)
	b = append(b, "\t-\n"...)
	e.buf = b
	e.Line(fConn, t, technique, b)
}

// DNS writes one Zeek dns.log record: an A query to the organisation's resolver
// answered with ans.
func (e *Emitter) DNS(t time.Time, technique string, src netip.Addr, sport int, query string, ans netip.Addr) {
	e.DNSQuery(t, technique, src, sport, &DNSMsg{Query: query, QType: QTypeA, Addr: ans, TTL: 300})
}

// zeekLogs are the Zeek logs' #path, #fields and #types lines (Zeek 6 defaults).
var zeekLogs = map[int][3]string{
	fConn: {"conn", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents",
		"time\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]"},
	fDNS: {"dns", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected",
		"time\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool"},
	fHTTP: {"http", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\ttrans_depth\tmethod\thost\turi\treferrer\tversion\tuser_agent\torigin\trequest_body_len\tresponse_body_len\tstatus_code\tstatus_msg\tinfo_code\tinfo_msg\ttags\tusername\tpassword\tproxied\torig_fuids\torig_filenames\torig_mime_types\tresp_fuids\tresp_filenames\tresp_mime_types",
		"time\tstring\taddr\tport\taddr\tport\tcount\tstring\tstring\tstring\tstring\tstring\tstring\tstring\tcount\tcount\tcount\tstring\tcount\tstring\tset[enum]\tstring\tstring\tset[string]\tvector[string]\tvector[string]\tvector[string]\tvector[string]\tvector[string]\tvector[string]"},
	fSSL: {"ssl", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tcipher\tcurve\tserver_name\tresumed\tlast_alert\tnext_protocol\testablished\tssl_history\tcert_chain_fps\tclient_cert_chain_fps\tsni_matches_cert\tja3\tja3s",
		"time\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\tstring\tbool\tstring\tstring\tbool\tstring\tvector[string]\tvector[string]\tbool\tstring\tstring"},
}

func zeekHeader(id int, start time.Time) []byte {
	l := zeekLogs[id]
	return []byte("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t" + l[0] +
		"\n#open\t" + start.UTC().Format("2006-01-02-15-04-05") + "\n#fields\t" + l[1] + "\n#types\t" + l[2] + "\n")
}

func zeekTrailer(end time.Time) []byte {
	return []byte("#close\t" + end.UTC().Format("2006-01-02-15-04-05") + "\n")
}
