package sim

import (
	"crypto/md5" //nolint:gosec // JA3 is defined as an MD5 of the ClientHello string
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DNS query types the writers render (Zeek's qtype and qtype_name).
const (
	QTypeA     = 1
	QTypeCNAME = 5
	QTypeNULL  = 10
	QTypeTXT   = 16
	QTypeAAAA  = 28
)

// DNS response codes (Zeek's rcode and rcode_name).
const (
	RCodeNoError  = 0
	RCodeServFail = 2
	RCodeNXDomain = 3
)

// DNSMsg is one DNS transaction as Zeek's dns.log records it.
type DNSMsg struct {
	Server netip.Addr // zero: the organisation's resolver
	Query  string
	QType  uint16
	RCode  uint8
	Addr   netip.Addr // the A or AAAA answer; invalid for none (NOERROR/NODATA)
	Text   string     // the TXT string or CNAME target
	TTL    int
}

func qtypeName(q uint16) string {
	switch q {
	case QTypeA:
		return "A"
	case QTypeCNAME:
		return "CNAME"
	case QTypeNULL:
		return "NULL"
	case QTypeTXT:
		return "TXT"
	case QTypeAAAA:
		return "AAAA"
	}
	return "*"
}

func rcodeName(r uint8) string {
	switch r {
	case RCodeNoError:
		return "NOERROR"
	case RCodeServFail:
		return "SERVFAIL"
	case RCodeNXDomain:
		return "NXDOMAIN"
	}
	return "-"
}

// DNSQuery writes one Zeek dns.log record (UDP, recursion desired and available).
// Answers are rendered as Zeek does: addresses as such, a TXT string as
// "TXT <len> <text>", a CNAME as its target; NULL records have no logged answer.
func (e *Emitter) DNSQuery(t time.Time, technique string, src netip.Addr, sport int, m *DNSMsg) {
	uid := e.NewUID()
	server := m.Server
	if !server.IsValid() {
		server = e.org.Resolver
	}
	b := appendID(e.buf[:0], t, &uid, src, sport, server, 53)
	b = append(b, "udp\t"...)
	b = strconv.AppendInt(b, int64(e.rng.IntN(65535)), 10)
	b = append(b, "\t0.0"...)
	b = strconv.AppendInt(b, int64(10+e.rng.IntN(80)), 10)
	b = append(b, '\t')
	b = append(b, m.Query...)
	b = append(b, "\t1\tC_INTERNET\t"...)
	b = strconv.AppendInt(b, int64(m.QType), 10)
	b = append(b, '\t')
	b = append(b, qtypeName(m.QType)...)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(m.RCode), 10)
	b = append(b, '\t')
	b = append(b, rcodeName(m.RCode)...)
	// AA is set when an authoritative server answers directly (not the resolver).
	b = append(b, '\t')
	b = appendBool(b, m.Server.IsValid())
	b = append(b, "\tF\tT\tT\t0\t"...)
	n := 0
	switch {
	case m.RCode != RCodeNoError:
	case (m.QType == QTypeA || m.QType == QTypeAAAA) && m.Addr.IsValid():
		b = m.Addr.AppendTo(b)
		n = 1
	case m.QType == QTypeTXT && m.Text != "":
		b = append(b, "TXT "...)
		b = strconv.AppendInt(b, int64(len(m.Text)), 10)
		b = append(b, ' ')
		b = append(b, m.Text...)
		n = 1
	case m.QType == QTypeCNAME && m.Text != "":
		b = append(b, m.Text...)
		n = 1
	}
	if n == 0 {
		b = append(b, "-\t-"...)
	} else {
		b = append(b, '\t')
		b = strconv.AppendInt(b, int64(m.TTL), 10)
		b = append(b, ".000000"...)
	}
	b = append(b, "\tF\n"...)
	e.buf = b
	e.Line(fDNS, t, technique, b)
}

// HTTPMsg is one HTTP request and response as Zeek's http.log records it.
type HTTPMsg struct {
	Method, Host, URI, Referrer, UserAgent string
	ReqLen, RespLen                        int64
	Status                                 int
	ReqMIME, RespMIME                      string // of the bodies, when there are any
}

func statusMsg(code int) string {
	switch code {
	case 200:
		return "OK"
	case 204:
		return "No Content"
	case 206:
		return "Partial Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 304:
		return "Not Modified"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 500:
		return "Internal Server Error"
	}
	return "-"
}

func orDash(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return append(b, s...)
}

// appendFUID writes a Zeek file id ("F" and 17 base62 characters).
// appendFileCols appends http.log's fuids, filenames and mime_types columns of one
// direction: a file id and its MIME type when a body of n bytes went that way.
func (e *Emitter) appendFileCols(b []byte, n int64, mime string) []byte {
	if n <= 0 {
		return append(b, "-\t-\t-"...)
	}
	b = e.appendFUID(b)
	b = append(b, "\t-\t"...)
	return orDash(b, mime)
}

func (e *Emitter) appendFUID(b []byte) []byte {
	b = append(b, 'F')
	for range 17 {
		b = append(b, uidChars[e.rng.IntN(len(uidChars))])
	}
	return b
}

// HTTP writes one Zeek http.log record on the connection uid.
func (e *Emitter) HTTP(t time.Time, technique string, uid UID, src netip.Addr, sport int, dst netip.Addr, dport int, m *HTTPMsg) {
	b := appendID(e.buf[:0], t, &uid, src, sport, dst, dport)
	b = append(b, "1\t"...)
	b = append(b, m.Method...)
	b = append(b, '\t')
	b = orDash(b, m.Host)
	b = append(b, '\t')
	b = append(b, m.URI...)
	b = append(b, '\t')
	b = orDash(b, m.Referrer)
	b = append(b, "\t1.1\t"...)
	b = orDash(b, m.UserAgent)
	b = append(b, "\t-\t"...)
	b = strconv.AppendInt(b, m.ReqLen, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, m.RespLen, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(m.Status), 10)
	b = append(b, '\t')
	b = append(b, statusMsg(m.Status)...)
	b = append(b, "\t-\t-\t(empty)\t-\t-\t-\t"...)
	b = e.appendFileCols(b, m.ReqLen, m.ReqMIME)
	b = append(b, '\t')
	b = e.appendFileCols(b, m.RespLen, m.RespMIME)
	b = append(b, '\n')
	e.buf = b
	e.Line(fHTTP, t, technique, b)
}

// TLSMsg is one TLS handshake as Zeek's ssl.log records it (with the ja3 package's
// ja3 and ja3s columns).
type TLSMsg struct {
	Version, Cipher, Curve, ServerName, NextProtocol, History string
	JA3, JA3S                                                 string
	Resumed, Established                                      bool
	// CertFPs are the server chain's SHA-256 fingerprints, leaf first; empty when
	// the certificates were not visible (TLS 1.3 encrypts them).
	CertFPs []string
}

// SSL writes one Zeek ssl.log record on the connection uid.
func (e *Emitter) SSL(t time.Time, technique string, uid UID, src netip.Addr, sport int, dst netip.Addr, dport int, m *TLSMsg) {
	b := appendID(e.buf[:0], t, &uid, src, sport, dst, dport)
	b = append(b, m.Version...)
	b = append(b, '\t')
	b = append(b, m.Cipher...)
	b = append(b, '\t')
	b = orDash(b, m.Curve)
	b = append(b, '\t')
	b = orDash(b, m.ServerName)
	b = append(b, '\t')
	b = appendBool(b, m.Resumed)
	b = append(b, "\t-\t"...)
	b = orDash(b, m.NextProtocol)
	b = append(b, '\t')
	b = appendBool(b, m.Established)
	b = append(b, '\t')
	b = orDash(b, m.History)
	b = append(b, '\t')
	if len(m.CertFPs) == 0 {
		b = append(b, "-\t-\t-\t"...)
	} else {
		for i, fp := range m.CertFPs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, fp...)
		}
		b = append(b, "\t-\tT\t"...)
	}
	b = orDash(b, m.JA3)
	b = append(b, '\t')
	b = orDash(b, m.JA3S)
	b = append(b, '\n')
	e.buf = b
	e.Line(fSSL, t, technique, b)
}

// tlsClient is a TLS client stack with its ClientHello fingerprint.
type tlsClient struct {
	name string
	ja3  string
	tls3 bool   // offers TLS 1.3
	alpn string // what it negotiates with an HTTP/2 server
}

// ja3Of computes a JA3 hash from the ClientHello's version, ciphers, extensions,
// groups and point formats, as the ja3 package does.
func ja3Of(s string) string {
	h := md5.Sum([]byte(s)) //nolint:gosec // JA3 is an MD5 by definition
	return hex.EncodeToString(h[:])
}

// Client stacks seen on the workstations: two Chrome releases rolling out, Edge,
// Firefox on a few machines, Slack's Electron, and Windows' own SChannel (Outlook,
// Teams, Windows Update, CryptoAPI).
var (
	chromeCiphers = "4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53"
	clientChromeA = &tlsClient{"chrome-122", ja3Of("771," + chromeCiphers + ",0-23-65281-10-11-35-16-5-13-18-51-45-43-27-17513-21,29-23-24,0"), true, "h2"}
	clientChromeB = &tlsClient{"chrome-123", ja3Of("771," + chromeCiphers + ",0-23-65281-10-11-35-16-5-13-18-51-45-43-27-17513-65037-21,25497-29-23-24,0"), true, "h2"}
	clientEdge    = &tlsClient{"edge-122", ja3Of("771," + chromeCiphers + ",0-23-65281-10-11-35-16-5-13-18-51-45-43-27-17513,29-23-24,0"), true, "h2"}
	clientFirefox = &tlsClient{"firefox-124", ja3Of("771,4865-4867-4866-49195-49199-52393-52392-49196-49200-49162-49161-49171-49172-156-157-47-53,0-23-65281-10-11-16-5-34-51-43-13-45-28-65037,29-23-24-25-256-257,0"), true, "h2"}
	clientSlack   = &tlsClient{"slack-electron", ja3Of("771," + chromeCiphers + ",0-23-65281-10-11-35-16-5-13-18-51-45-43-27-21,29-23-24,0"), true, "h2"}
	clientWindows = &tlsClient{"schannel", ja3Of("771,49196-49195-49200-49199-159-158-49188-49187-49192-49191-49162-49161-49172-49171-157-156-61-60-53-47-10,0-10-11-13-35-23-65281,29-23-24,0"), false, "http/1.1"}
)

// clientFor picks the TLS client a user's connection to server comes from.
func clientFor(rng *rand.Rand, ui int, server string) *tlsClient {
	switch server {
	case "slack.com":
		return clientSlack
	case "update.microsoft.com":
		return clientWindows
	case "outlook.office365.com", "teams.microsoft.com", "login.microsoftonline.com":
		if rng.Float64() < 0.5 {
			return clientWindows
		}
	}
	switch {
	case ui%23 == 7:
		return clientFirefox
	case ui%11 == 3:
		return clientEdge
	case ui%3 == 0:
		return clientChromeB
	}
	return clientChromeA
}

func nameHash(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// certFP is a stable fingerprint for a server's certificate (or its issuer's).
func certFP(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:])
}

var (
	tls13Ciphers = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
	tls12Ciphers = []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"}
	issuers      = []string{"DigiCert Global G2 TLS RSA SHA256 2020 CA1", "R3", "GTS CA 1C3", "Amazon RSA 2048 M02", "Sectigo RSA Domain Validation Secure Server CA"}
)

// tlsSession is the handshake client c has with server: what the server supports
// (TLS 1.3 or only 1.2, its cipher preference, ALPN) is a stable property of the
// server name; resumption is drawn per connection.
func tlsSession(rng *rand.Rand, c *tlsClient, server string) TLSMsg {
	h := nameHash(server)
	m := TLSMsg{ServerName: server, Established: true, JA3: c.ja3}
	only12 := h%100 < 22 // about a fifth of servers still negotiate TLS 1.2 only
	if c.tls3 && !only12 {
		m.Version = "TLSv13"
		m.Cipher = tls13Ciphers[0]
		if h>>8%10 < 2 {
			m.Cipher = tls13Ciphers[1+int(h>>16%2)]
		}
		m.Curve = "x25519"
		if c == clientChromeB && h>>20%3 == 0 {
			m.Curve = "X25519Kyber768Draft00"
		}
		m.History = "CsiI"
	} else {
		m.Version = "TLSv12"
		m.Cipher = tls12Ciphers[h>>8%uint64(len(tls12Ciphers))]
		m.Curve = "x25519"
		if h>>24%4 == 0 {
			m.Curve = "secp256r1"
		}
		if rng.Float64() < 0.25 {
			m.Resumed = true
			m.History = "CsIi"
		} else {
			m.History = "CsxknGIi"
			m.CertFPs = []string{certFP(server), certFP(issuers[h>>32%uint64(len(issuers))])}
		}
	}
	if h>>40%5 != 0 {
		m.NextProtocol = c.alpn
	}
	m.JA3S = ja3Of(m.Version + m.Cipher + c.name[:3])
	return m
}

// hashIP gives a well-known infrastructure name a stable public address without
// drawing from the generator's random stream.
func hashIP(name string) netip.Addr {
	h := nameHash(name)
	firsts := []byte{13, 23, 72, 93, 104, 117, 142, 152, 192}
	return netip.AddrFrom4([4]byte{firsts[h%uint64(len(firsts))], byte(h >> 8), byte(h >> 16), byte(h>>24%253 + 1)})
}

// Plain-HTTP infrastructure a Windows fleet talks to.
var (
	ocspHosts   = []string{"ocsp.digicert.com", "ocsp.pki.goog", "r3.o.lencr.org", "ocsp.sectigo.com", "ocsp.msocsp.com"}
	crlHosts    = []string{"crl3.digicert.com", "crl.pki.goog", "crl.microsoft.com"}
	crlPaths    = []string{"/DigiCertGlobalRootG2.crl", "/DigiCertGlobalG2TLSRSASHA2562020CA1-1.crl", "/gtsr1/gtsr1.crl", "/pki/crl/products/MicRooCerAut2011_2011_03_22.crl"}
	doHosts     = []string{"7.tlu.dl.delivery.mp.microsoft.com", "2.tlu.dl.delivery.mp.microsoft.com", "dl.delivery.mp.microsoft.com"}
	browserUAs  = []string{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.92", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0"}
	sitePaths   = []string{"/", "/index.html", "/news/", "/about", "/css/style.css", "/js/main.js", "/images/logo.png", "/favicon.ico", "/blog/2026/02/", "/products", "/contact.php"}
	intranetURI = []string{"/portal/home", "/portal/news", "/timesheet/week", "/api/timesheet", "/hr/holidays", "/wiki/Main_Page", "/static/app.js", "/static/app.css", "/directory/search?q="}
)

// httpOnly reports whether a long-tail site serves plain HTTP only (a stable few percent).
func httpOnly(d *Dest) bool { return nameHash(d.Name)%100 < 4 }

// intranetHost is the server hosting the intranet web application.
func intranetHost(org *Org) *Host {
	for _, prefix := range []string{"web", "app"} {
		for _, i := range org.Servers {
			if strings.HasPrefix(org.Hosts[i].Short, prefix) {
				return &org.Hosts[i]
			}
		}
	}
	return &org.Hosts[org.Servers[0]]
}

// pareto draws a heavy-tailed size at least lo, capped at hi.
func pareto(rng *rand.Rand, lo, alpha, hi float64) int64 {
	return int64(min(lo/math.Pow(1-rng.Float64(), 1/alpha), hi))
}

// benignHTTPDay writes a user's plain-HTTP traffic for one day (a few percent of
// their connections): certificate status checks (OCSP, CRL), Windows Update
// delivery, Defender's redirector, the few long-tail sites without TLS, and the
// intranet application.
func benignHTTPDay(em *Emitter, rng *rand.Rand, org *Org, ui int, host *Host, at func() time.Time, vol float64) {
	n := int(0.9*vol + rng.Float64())
	for range n {
		t := at()
		sp := 49152 + rng.IntN(16000)
		var m HTTPMsg
		dst := netip.Addr{}
		dport := 80
		dur := time.Duration(20+rng.IntN(300)) * time.Millisecond
		switch x := rng.Float64(); {
		case x < 0.33: // OCSP, mostly POST
			m = HTTPMsg{Method: "POST", Host: ocspHosts[rng.IntN(len(ocspHosts))], URI: "/", UserAgent: "Microsoft-CryptoAPI/10.0",
				ReqLen: 83, RespLen: 471 + int64(rng.IntN(1400)), Status: 200, ReqMIME: "application/ocsp-request", RespMIME: "application/ocsp-response"}
		case x < 0.43: // CRL, often not modified
			m = HTTPMsg{Method: "GET", Host: crlHosts[rng.IntN(len(crlHosts))], URI: crlPaths[rng.IntN(len(crlPaths))], UserAgent: "Microsoft-CryptoAPI/10.0", Status: 304}
			if rng.Float64() < 0.4 {
				m.Status, m.RespLen, m.RespMIME = 200, pareto(rng, 700, 1.1, 2_000_000), "application/pkix-crl"
			}
		case x < 0.55: // Windows Update delivery: ranged downloads, very heavy tailed
			m = HTTPMsg{Method: "GET", Host: doHosts[rng.IntN(len(doHosts))], UserAgent: "Microsoft-Delivery-Optimization/10.0", Status: 206,
				URI:     "/filestreamingservice/files/" + uuidish(rng) + "?P1=" + strconv.Itoa(1700000000+rng.IntN(9000000)) + "&P2=404&P3=2&P4=" + randAlnum(rng, 24) + "%3d%3d",
				RespLen: pareto(rng, 65536, 0.9, 400_000_000), RespMIME: "application/octet-stream"}
			dur = time.Duration(float64(m.RespLen)/2e6*float64(time.Second)) + dur
		case x < 0.60: // authroot list check
			m = HTTPMsg{Method: "GET", Host: "ctldl.windowsupdate.com", URI: "/msdownload/update/v3/static/trustedr/en/authrootstl.cab?" + randHex(rng, 16), UserAgent: "Microsoft-CryptoAPI/10.0", Status: 304}
			if rng.Float64() < 0.2 {
				m.Status, m.RespLen, m.RespMIME = 200, 68000+int64(rng.IntN(4000)), "application/vnd.ms-cab-compressed"
			}
		case x < 0.64: // Defender's signature update redirector
			m = HTTPMsg{Method: "GET", Host: "go.microsoft.com", URI: "/fwlink/?LinkID=121721&arch=x64", UserAgent: "Microsoft BITS/7.8", Status: 302}
		case x < 0.82: // a long-tail site without TLS
			d := &org.Tail[rng.IntN(min(len(org.Tail), 400))]
			for range 8 {
				if httpOnly(d) {
					break
				}
				d = &org.Tail[rng.IntN(min(len(org.Tail), 400))]
			}
			dst = d.IP
			m = HTTPMsg{Method: "GET", Host: d.Name, URI: sitePaths[rng.IntN(len(sitePaths))], UserAgent: browserUAs[ui%len(browserUAs)], Status: 200,
				RespLen: pareto(rng, 300, 1.2, 8_000_000), RespMIME: "text/html"}
			if rng.Float64() < 0.5 {
				m.Referrer = "http://" + d.Name + "/"
			}
			switch y := rng.Float64(); {
			case y < 0.06:
				m.Status, m.RespLen = 404, 150+int64(rng.IntN(400))
			case y < 0.10:
				m.Status, m.RespLen = 301, 162
			}
		default: // intranet application
			srv := intranetHost(org)
			dst, dport = srv.IP, 80
			m = HTTPMsg{Method: "GET", Host: "intranet." + Domain, URI: intranetURI[rng.IntN(len(intranetURI))], UserAgent: browserUAs[ui%len(browserUAs)], Status: 200,
				RespLen: pareto(rng, 900, 1.3, 3_000_000), RespMIME: "text/html", Referrer: "http://intranet." + Domain + "/portal/home"}
			switch y := rng.Float64(); {
			case y < 0.15:
				m.Method, m.URI, m.ReqLen, m.ReqMIME, m.RespMIME = "POST", "/api/timesheet", 200+int64(rng.IntN(2000)), "application/json", "application/json"
			case y < 0.20:
				m.Status, m.RespLen = 401, 0
			case y < 0.23:
				m.Status, m.RespLen = 302, 0
			}
		}
		if !dst.IsValid() {
			dst = hashIP(m.Host)
		}
		em.DNS(t, "", host.IP, sp, m.Host, dst)
		t2 := t.Add(time.Duration(3+rng.IntN(30)) * time.Millisecond)
		uid := em.Conn(t2, "", host.IP, sp+1, dst, dport, "http", dur, m.ReqLen+int64(300+rng.IntN(400)), m.RespLen+int64(250+rng.IntN(200)))
		em.HTTP(t2.Add(time.Duration(1+rng.IntN(20))*time.Millisecond), "", uid, host.IP, sp+1, dst, dport, &m)
	}
	// Name lookups that fail (the WPAD probe, typos) and the IPv6 lookups browsers
	// make alongside A queries, so that NXDOMAIN and AAAA are not attack-only.
	if rng.Float64() < 0.5 {
		em.DNSQuery(at(), "", host.IP, 49152+rng.IntN(16000), &DNSMsg{Query: "wpad." + Domain, QType: QTypeA, RCode: RCodeNXDomain})
	}
	for range int(2*vol + rng.Float64()) {
		d := org.pickDest(rng)
		q := DNSMsg{Query: d.Name, QType: QTypeAAAA, TTL: 300}
		if nameHash(d.Name)%3 == 0 { // a third of the destinations are IPv6-enabled
			h := nameHash(d.Name + "v6")
			q.Addr = netip.AddrFrom16([16]byte{0x26, 0x06, 0x47, 0x00, byte(h), byte(h >> 8), 0, 0, 0, 0, 0, 0, 0, 0, byte(h >> 16), byte(h >> 24)})
		}
		if rng.Float64() < 0.05 {
			q.Query, q.RCode = typo(rng, d.Name), RCodeNXDomain
		}
		em.DNSQuery(at(), "", host.IP, 49152+rng.IntN(16000), &q)
	}
}

// typo drops or doubles one letter of a name.
func typo(rng *rand.Rand, s string) string {
	i := rng.IntN(max(1, strings.IndexByte(s, '.')))
	if rng.Float64() < 0.5 {
		return s[:i] + s[i+1:]
	}
	return s[:i+1] + s[i:]
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randAlnum(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[rng.IntN(len(alnum))]
	}
	return string(b)
}

func randHex(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = "0123456789abcdef"[rng.IntN(16)]
	}
	return string(b)
}

func uuidish(rng *rand.Rand) string {
	return randHex(rng, 8) + "-" + randHex(rng, 4) + "-" + randHex(rng, 4) + "-" + randHex(rng, 4) + "-" + randHex(rng, 12)
}

// benignTLS writes the ssl.log record of a user's HTTPS connection uid.
func benignTLS(em *Emitter, rng *rand.Rand, ui int, t time.Time, uid UID, src netip.Addr, sport int, d *Dest) {
	m := tlsSession(rng, clientFor(rng, ui, d.Name), d.Name)
	em.SSL(t, "", uid, src, sport, d.IP, 443, &m)
}

// File shares on the file servers, by department, and the kinds of files on them.
var (
	shareFolders = map[string][]string{
		"finance":     {`Budgets\2026`, `Payroll`, `Audit\FY2025`, `Forecasts`, `Invoices\2026-02`, `Tax`},
		"sales":       {`Accounts`, `Pipeline`, `Contracts\Signed`, `Pricing`, `Customers\EMEA`, `Customers\APAC`},
		"hr":          {`Employees\Records`, `Compensation`, `Recruiting`, `Reviews\2025`},
		"legal":       {`Contracts`, `Litigation`, `NDAs`, `Board`},
		"engineering": {`Designs`, `Releases`, `Specs`, `Roadmap`},
		"marketing":   {`Campaigns`, `Brand`, `Events`},
		"it":          {`Installers`, `Scripts`, `Inventory`},
		"support":     {`Cases`, `KB`, `Escalations`},
		"common":      {`Templates`, `Policies`, `Announcements`},
		"executive":   {`Board Packs`, `M&A`, `Strategy`},
	}
	fileStems = []string{"report", "summary", "forecast", "budget", "contract", "customer-list", "pricing", "plan", "minutes", "review", "export", "roster", "analysis"}
	fileExts  = []string{".xlsx", ".xlsx", ".docx", ".pdf", ".pptx", ".csv"}
)

func fileServer(org *Org) *Host {
	for _, i := range org.Servers {
		if strings.HasPrefix(org.Hosts[i].Short, "fs") {
			return &org.Hosts[i]
		}
	}
	return &org.Hosts[org.Servers[0]]
}

func shareFile(rng *rand.Rand, share string) string {
	fs := shareFolders[share]
	return fs[rng.IntN(len(fs))] + `\` + fileStems[rng.IntN(len(fileStems))] + "-" + strconv.Itoa(2020+rng.IntN(7)) + "-" + strconv.Itoa(1+rng.IntN(40)) + fileExts[rng.IntN(len(fileExts))]
}

// shareAccess writes a 5140 (share connected) or, with a target, a 5145 (share
// object access check) event on the file server, as Windows Server logs them with
// "Audit File Share" and "Audit Detailed File Share" enabled.
func shareAccess(em *Emitter, t time.Time, technique string, srv *Host, u *User, src *Host, share, target string) {
	data := []KV{{"SubjectUserSid", u.SID}, {"SubjectUserName", u.Name}, {"SubjectDomainName", NetBIOSDomain}, {"SubjectLogonId", "0x" + strconv.FormatUint(nameHash(u.Name+t.Format("20060102"))>>36, 16)},
		{"ObjectType", "File"}, {"IpAddress", src.IP.String()}, {"IpPort", strconv.Itoa(49152 + em.rng.IntN(16000))},
		{"ShareName", `\\*\` + share}, {"ShareLocalPath", `\??\D:\Shares\` + share}}
	id := 5140
	if target != "" {
		id = 5145
		data = append(data, KV{"RelativeTargetName", target}, KV{"AccessMask", "0x120089"}, KV{"AccessList", "%%1538\r\n\t\t\t\t%%1541\r\n\t\t\t\t%%4416\r\n\t\t\t\t%%4419\r\n\t\t\t\t%%4423\r\n\t\t\t\t"}, KV{"AccessReason", "-"})
	} else {
		data = append(data, KV{"AccessMask", "0x1"}, KV{"AccessList", "%%4416\r\n\t\t\t\t"})
	}
	em.Win(t, technique, false, id, srv.Name, data)
}

// shareSource is everyday file-share use: most working users open their
// department's share and the common one and touch a handful of files.
type shareSource struct{ org *Org }

func newShareSource(org *Org) Source { return &shareSource{org: org} }

func (s *shareSource) Day(em *Emitter, day time.Time) {
	rng, org := em.rng, s.org
	if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return
	}
	srv := fileServer(org)
	for ui := range org.Users {
		u := &org.Users[ui]
		if rng.Float64() < 0.15 {
			continue
		}
		ws := &org.Hosts[u.Hosts[0]]
		start := day.Add(time.Duration((u.StartHour-float64(u.Office.Offset))*float64(time.Hour)) + time.Duration(rng.IntN(3600))*time.Second)
		shares := []string{u.Department}
		if rng.Float64() < 0.4 {
			shares = append(shares, "common")
		}
		for _, sh := range shares {
			t := start.Add(time.Duration(rng.Float64() * u.WorkHours * 0.8 * float64(time.Hour)))
			shareAccess(em, t, "", srv, u, ws, sh, "")
			for range int(4*math.Sqrt(u.Activity)*math.Exp(0.6*rng.NormFloat64())) + 1 {
				t = t.Add(time.Duration(1+rng.ExpFloat64()*600) * time.Second)
				shareAccess(em, t, "", srv, u, ws, sh, shareFile(rng, sh))
			}
		}
	}
}

// BeaconCampaign: a user runs a malicious download; the implant copies itself under
// AppData and polls a rare external domain over plain HTTP every interval ± jitter,
// day and night, with small and regular requests and responses; now and then it
// receives a task and posts a result.
type BeaconCampaign struct {
	id string
	schedule
	user     *User
	ws       *Host
	domain   string
	ip       netip.Addr
	Interval time.Duration
	Jitter   float64 // uniform ± share of the interval
}

// NewBeaconCampaign returns the campaign with the given id.
func NewBeaconCampaign(id string) *BeaconCampaign {
	return &BeaconCampaign{id: id, Interval: time.Minute, Jitter: 0.2}
}

// ID implements Campaign.
func (c *BeaconCampaign) ID() string { return c.id }

// beaconUA is the implant's fixed, dated user agent.
const beaconUA = "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko"

// Plan implements Campaign.
func (c *BeaconCampaign) Plan(rng *rand.Rand, org *Org, from, to time.Time) {
	c.user = &org.Users[rng.IntN(len(org.Users))]
	c.ws = &org.Hosts[c.user.Hosts[0]]
	c.domain = tailWords[rng.IntN(len(tailWords))] + "-" + tailWords[rng.IntN(len(tailWords))] + "-cdn" + strconv.Itoa(10+rng.IntN(90)) + ".com"
	c.ip = netip.AddrFrom4([4]byte{185, byte(100 + rng.IntN(120)), byte(rng.IntN(256)), byte(2 + rng.IntN(250))})
	// The user opens the download during their working day.
	t0 := within(rng, from, to, 0.5)
	day := t0.Truncate(24 * time.Hour)
	t0 = day.Add(time.Duration((c.user.StartHour + 1 + 3*rng.Float64() - float64(c.user.Office.Offset)) * float64(time.Hour))).Truncate(time.Second)
	u, ws := c.user, c.ws
	lure := `C:\Users\` + u.Name + `\Downloads\Invoice_` + strconv.Itoa(10000+rng.IntN(90000)) + `.pdf.exe`
	implant := `C:\Users\` + u.Name + `\AppData\Roaming\Microsoft\SystemCertificates\certsvc.exe`
	pid := strconv.Itoa(2000 + rng.IntN(50000))
	ipid := strconv.Itoa(2000 + rng.IntN(50000))
	c.at(t0, "T1204.002", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, true, 1, ws.Name, []KV{{"ProcessId", pid}, {"Image", lure}, {"CommandLine", `"` + lure + `"`}, {"CurrentDirectory", `C:\Users\` + u.Name + `\Downloads\`}, {"User", NetBIOSDomain + `\` + u.Name}, {"IntegrityLevel", "Medium"}, {"ParentImage", `C:\Windows\explorer.exe`}, {"ParentCommandLine", `C:\Windows\Explorer.EXE`}})
	})
	c.at(t0.Add(2*time.Second), "T1204.002", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, true, 11, ws.Name, []KV{{"ProcessId", pid}, {"Image", lure}, {"TargetFilename", implant}, {"CreationUtcTime", t.UTC().Format("2006-01-02 15:04:05.000")}, {"User", NetBIOSDomain + `\` + u.Name}})
	})
	c.at(t0.Add(3*time.Second), "T1204.002", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, true, 1, ws.Name, []KV{{"ProcessId", ipid}, {"Image", implant}, {"CommandLine", `"` + implant + `" -k netsvc`}, {"CurrentDirectory", `C:\Users\` + u.Name + `\AppData\Roaming\Microsoft\SystemCertificates\`}, {"User", NetBIOSDomain + `\` + u.Name}, {"IntegrityLevel", "Medium"}, {"ParentImage", lure}, {"ParentCommandLine", `"` + lure + `"`}})
	})
	hostID := randHex(rng, 8)
	dur := 24*time.Hour + time.Duration(rng.Int64N(int64(8*time.Hour)))
	var resolved time.Time
	sport := 50000 + rng.IntN(10000)
	t := t0.Add(10 * time.Second)
	for end := t.Add(dur); t.Before(end); {
		if t.Sub(resolved) >= 5*time.Minute { // the answer's TTL has run out
			resolved = t
			c.at(t, "T1071.001", func(em *Emitter, t time.Time, tech string) {
				em.Win(t, tech, true, 22, ws.Name, []KV{{"ProcessId", ipid}, {"QueryName", c.domain}, {"QueryStatus", "0"}, {"QueryResults", "::ffff:" + c.ip.String() + ";"}, {"Image", implant}, {"User", NetBIOSDomain + `\` + u.Name}})
				em.DNSQuery(t, tech, ws.IP, 49152+em.rng.IntN(16000), &DNSMsg{Query: c.domain, QType: QTypeA, Addr: c.ip, TTL: 300})
			})
		}
		sport++
		if sport > 65000 {
			sport = 50000
		}
		sp := sport
		tb := t.Add(20 * time.Millisecond)
		task := rng.Float64() < 0.02
		c.at(tb, "T1071.001", func(em *Emitter, t time.Time, tech string) {
			em.Win(t, tech, true, 3, ws.Name, []KV{{"ProcessId", ipid}, {"Image", implant}, {"User", NetBIOSDomain + `\` + u.Name}, {"Protocol", "tcp"}, {"Initiated", "true"}, {"SourceIp", ws.IP.String()}, {"SourceHostname", ws.Name}, {"SourcePort", strconv.Itoa(sp)}, {"DestinationIp", c.ip.String()}, {"DestinationHostname", c.domain}, {"DestinationPort", "80"}})
			m := HTTPMsg{Method: "GET", Host: c.domain, URI: "/api/v2/status?id=" + hostID, UserAgent: beaconUA, Status: 200, RespLen: 64, RespMIME: "application/json"}
			if task {
				m.RespLen = 1024 + int64(em.rng.IntN(6000))
			}
			uid := em.Conn(t, tech, ws.IP, sp, c.ip, 80, "http", time.Duration(80+em.rng.IntN(120))*time.Millisecond, 212+int64(em.rng.IntN(6)), m.RespLen+180+int64(em.rng.IntN(4)))
			em.HTTP(t.Add(time.Duration(20+em.rng.IntN(30))*time.Millisecond), tech, uid, ws.IP, sp, c.ip, 80, &m)
		})
		if task { // the result goes back a few seconds later
			tr := tb.Add(time.Duration(2+rng.IntN(20)) * time.Second)
			sport++
			sp2 := sport
			c.at(tr, "T1071.001", func(em *Emitter, t time.Time, tech string) {
				m := HTTPMsg{Method: "POST", Host: c.domain, URI: "/api/v2/result?id=" + hostID, UserAgent: beaconUA, Status: 200, ReqLen: 800 + int64(em.rng.IntN(40000)), RespLen: 16, ReqMIME: "application/octet-stream", RespMIME: "application/json"}
				uid := em.Conn(t, tech, ws.IP, sp2, c.ip, 80, "http", time.Duration(200+em.rng.IntN(900))*time.Millisecond, m.ReqLen+260, 200)
				em.HTTP(t.Add(30*time.Millisecond), tech, uid, ws.IP, sp2, c.ip, 80, &m)
			})
		}
		t = t.Add(time.Duration(float64(c.Interval) * (1 + c.Jitter*(2*rng.Float64()-1))))
	}
}

// Emit implements Campaign.
func (c *BeaconCampaign) Emit(em *Emitter, from, to time.Time) { c.emit(em, from, to) }

// Truth implements Campaign.
func (c *BeaconCampaign) Truth() TruthCampaign {
	a, b, techs := c.span()
	return TruthCampaign{ID: c.id, Name: "HTTP C2 beaconing from a malicious download", Start: a, End: b, Techniques: techs,
		Entities: []TruthEntity{c.user.Entity(), c.ws.Entity(), ipEntity(c.ws.IP), ipEntity(c.ip), {Kind: "domain", Value: c.domain}}}
}

// TunnelCampaign: a host runs a DNS tunnel client that sends a steady stream of TXT
// and CNAME queries, each carrying data in long unique base32 labels under one
// domain, through the organisation's resolver to the domain's name server.
type TunnelCampaign struct {
	id         string
	user       *User
	ws         *Host
	domain     string
	start, end time.Time
	times      []time.Time
	seq        int
	procAt     time.Time
	cmd        string
}

// NewTunnelCampaign returns the campaign with the given id.
func NewTunnelCampaign(id string) *TunnelCampaign { return &TunnelCampaign{id: id} }

// ID implements Campaign.
func (c *TunnelCampaign) ID() string { return c.id }

// Plan implements Campaign.
func (c *TunnelCampaign) Plan(rng *rand.Rand, org *Org, from, to time.Time) {
	c.user = &org.Users[rng.IntN(len(org.Users))]
	c.ws = &org.Hosts[c.user.Hosts[0]]
	c.domain = "ns" + strconv.Itoa(1+rng.IntN(9)) + "." + tailWords[rng.IntN(len(tailWords))] + "sync-telemetry.net"
	t0 := within(rng, from, to, 0.5)
	c.procAt = t0.Truncate(24 * time.Hour).Add(time.Duration((c.user.StartHour + 2 + 4*rng.Float64() - float64(c.user.Office.Offset)) * float64(time.Hour))).Truncate(time.Second)
	c.cmd = `C:\ProgramData\Microsoft\Network\wnsvc.exe --dns domain=` + c.domain + ` --secret ` + randHex(rng, 32) + ` --max-retransmits 20`
	c.start = c.procAt.Add(5 * time.Second)
	c.end = c.start.Add(80*time.Minute + time.Duration(rng.Int64N(int64(30*time.Minute))))
	// A steady client: about three queries a second with little jitter.
	for t := c.start; t.Before(c.end); t = t.Add(time.Duration((0.22 + 0.16*rng.Float64()) * float64(time.Second))) {
		c.times = append(c.times, t)
	}
}

const base32Low = "abcdefghijklmnopqrstuvwxyz234567"

// Emit implements Campaign. Labels are drawn as the records are written; the first
// label starts with the query's sequence number, so every name is unique.
func (c *TunnelCampaign) Emit(em *Emitter, from, to time.Time) {
	u, ws := c.user, c.ws
	if !c.procAt.Before(from) && c.procAt.Before(to) {
		img := `C:\ProgramData\Microsoft\Network\wnsvc.exe`
		em.Win(c.procAt, "T1572", true, 1, ws.Name, []KV{{"ProcessId", strconv.Itoa(3000 + em.rng.IntN(40000))}, {"Image", img}, {"CommandLine", c.cmd}, {"CurrentDirectory", `C:\ProgramData\Microsoft\Network\`}, {"User", NetBIOSDomain + `\` + u.Name}, {"IntegrityLevel", "Medium"}, {"ParentImage", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`}, {"ParentCommandLine", `powershell.exe -nop -w hidden`}})
	}
	var name []byte
	for _, t := range c.times {
		if t.Before(from) || !t.Before(to) {
			continue
		}
		c.seq++
		name = name[:0]
		nl := 2 + em.rng.IntN(2)
		for l := range nl {
			n := 40 + em.rng.IntN(21)
			start := len(name)
			if l == 0 { // sequence number, then data
				s := uint32(c.seq) * 2654435761
				for range 7 {
					name = append(name, base32Low[s&31])
					s >>= 5
				}
			}
			for len(name)-start < n {
				name = append(name, base32Low[em.rng.IntN(32)])
			}
			name = append(name, '.')
		}
		name = append(name, c.domain...)
		m := DNSMsg{Query: string(name), QType: QTypeTXT, TTL: 0}
		if em.rng.Float64() < 0.15 {
			m.QType, m.Text = QTypeCNAME, randHex(em.rng, 12+em.rng.IntN(20))+"."+c.domain
		} else {
			m.Text = randHex(em.rng, 8+em.rng.IntN(56))
		}
		em.DNSQuery(t, "T1071.004", ws.IP, 49152+em.rng.IntN(16000), &m)
	}
}

// Truth implements Campaign.
func (c *TunnelCampaign) Truth() TruthCampaign {
	end := c.end
	if len(c.times) > 0 {
		end = c.times[len(c.times)-1]
	}
	return TruthCampaign{ID: c.id, Name: "DNS tunnel", Start: c.procAt, End: end, Techniques: []string{"T1071.004", "T1572"},
		Entities: []TruthEntity{c.user.Entity(), c.ws.Entity(), ipEntity(c.ws.IP), {Kind: "domain", Value: c.domain}}}
}

// InsiderCampaign: a departing employee hoards documents from file shares well
// beyond their own department's over several working days, copies them into a
// local staging folder, archives them and uploads the archive to a personal cloud
// storage account over HTTPS, partly in the evening.
type InsiderCampaign struct {
	id string
	schedule
	user  *User
	ws    *Host
	srv   *Host
	api   Dest
	store Dest
}

// NewInsiderCampaign returns the campaign with the given id.
func NewInsiderCampaign(id string) *InsiderCampaign { return &InsiderCampaign{id: id} }

// ID implements Campaign.
func (c *InsiderCampaign) ID() string { return c.id }

// Plan implements Campaign.
func (c *InsiderCampaign) Plan(rng *rand.Rand, org *Org, from, to time.Time) {
	var cands []int
	for i := range org.Users {
		if d := org.Users[i].Department; d == "finance" || d == "sales" {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		cands = []int{rng.IntN(len(org.Users))}
	}
	u := &org.Users[cands[rng.IntN(len(cands))]]
	c.user, c.ws, c.srv = u, &org.Hosts[u.Hosts[0]], fileServer(org)
	c.api = Dest{Name: "g.api.mega.co.nz", IP: netip.AddrFrom4([4]byte{31, 216, 148, byte(10 + rng.IntN(20))})}
	c.store = Dest{Name: "gfs" + strconv.Itoa(200+rng.IntN(80)) + "n" + strconv.Itoa(100+rng.IntN(100)) + ".userstorage.mega.co.nz", IP: netip.AddrFrom4([4]byte{89, 44, 169, byte(130 + rng.IntN(100))})}
	ws, srv := c.ws, c.srv
	user := NetBIOSDomain + `\` + u.Name
	staging := `C:\Users\` + u.Name + `\Documents\Personal\sync\`
	shares := []string{u.Department, "finance", "sales", "legal", "hr", "executive", "engineering"}
	local := func(d time.Time, h float64) time.Time {
		return d.Add(time.Duration((h - float64(u.Office.Offset)) * float64(time.Hour))).Truncate(time.Millisecond)
	}
	// Hoarding days: up to four working days from the window's start whose uploads
	// (the next afternoon) still end inside the window, so a short window gets a
	// shorter campaign rather than one cut off by the end of the simulation.
	var days []time.Time
	first := time.Time{}
	for d := from.Truncate(24 * time.Hour); len(days) < 4 && d.Before(to); d = d.Add(24 * time.Hour) {
		if local(d, u.StartHour).Before(from) {
			continue
		}
		if first.IsZero() {
			first = d
		}
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday && local(d.Add(24*time.Hour), u.StartHour+7).Before(to) {
			days = append(days, d)
		}
	}
	if len(days) == 0 {
		if first.IsZero() {
			first = from.Truncate(24 * time.Hour).Add(24 * time.Hour)
		}
		days = []time.Time{first}
	}
	for k, d := range days {
		// Sessions during the day and, growing bolder, after hours.
		t := local(d, u.StartHour+1+2*rng.Float64())
		nFiles := 120 + 80*k + rng.IntN(80)
		perm := rng.Perm(len(shares))
		nShares := min(len(shares), 3+k)
		for i := range nShares {
			sh := shares[perm[i]]
			c.at(t, "T1039", func(em *Emitter, t time.Time, tech string) { shareAccess(em, t, tech, srv, u, ws, sh, "") })
			t = t.Add(time.Duration(5+rng.IntN(30)) * time.Second)
			for range nFiles / nShares {
				f := shareFile(rng, sh)
				c.at(t, "T1039", func(em *Emitter, t time.Time, tech string) { shareAccess(em, t, tech, srv, u, ws, sh, f) })
				if rng.Float64() < 0.6 {
					dst := staging + sh + `\` + f[strings.LastIndexByte(f, '\\')+1:]
					c.at(t.Add(time.Duration(200+rng.IntN(2000))*time.Millisecond), "T1074.001", func(em *Emitter, t time.Time, tech string) {
						em.Win(t, tech, true, 11, ws.Name, []KV{{"ProcessId", "7712"}, {"Image", `C:\Windows\explorer.exe`}, {"TargetFilename", dst}, {"CreationUtcTime", t.UTC().Format("2006-01-02 15:04:05.000")}, {"User", user}})
					})
				}
				t = t.Add(time.Duration(2+rng.ExpFloat64()*15) * time.Second)
			}
			if k >= 2 { // later days: the rest of the day's share goes after work
				t = local(d, u.StartHour+u.WorkHours+1.5+rng.Float64())
			} else {
				t = t.Add(time.Duration(20+rng.IntN(120)) * time.Minute)
			}
		}
	}
	// Archive on the last evening, then upload in volumes: that evening and the next day.
	last := days[len(days)-1]
	t := local(last, u.StartHour+u.WorkHours+3+rng.Float64())
	archive := staging + `backup.7z`
	c.at(t, "T1560.001", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, true, 1, ws.Name, []KV{{"ProcessId", "8120"}, {"Image", `C:\Program Files\7-Zip\7z.exe`}, {"CommandLine", `"C:\Program Files\7-Zip\7z.exe" a -mx9 -v500m -p ` + archive + ` ` + staging + `*`}, {"CurrentDirectory", staging}, {"User", user}, {"IntegrityLevel", "Medium"}, {"ParentImage", `C:\Windows\System32\cmd.exe`}})
	})
	nVol := 5 + rng.IntN(6)
	for v := 1; v <= nVol; v++ {
		name := archive + "." + strconv.Itoa(1000 + v)[1:]
		c.at(t.Add(time.Duration(v*40)*time.Second), "T1560.001", func(em *Emitter, t time.Time, tech string) {
			em.Win(t, tech, true, 11, ws.Name, []KV{{"ProcessId", "8120"}, {"Image", `C:\Program Files\7-Zip\7z.exe`}, {"TargetFilename", name}, {"CreationUtcTime", t.UTC().Format("2006-01-02 15:04:05.000")}, {"User", user}})
		})
	}
	t = t.Add(time.Duration(nVol*40+300) * time.Second)
	chrome := `C:\Program Files\Google\Chrome\Application\chrome.exe`
	for v := 1; v <= nVol; v++ {
		if v == nVol/2+1 { // the rest the next afternoon
			t = local(last.Add(24*time.Hour), u.StartHour+5+rng.Float64())
		}
		out := int64(450_000_000 + rng.IntN(70_000_000))
		dur := time.Duration(float64(out) / (4e6 + 4e6*rng.Float64()) * float64(time.Second))
		sp := 50000 + rng.IntN(10000)
		c.at(t, "T1567.002", func(em *Emitter, t time.Time, tech string) {
			for _, d := range []Dest{c.api, c.store} {
				em.Win(t, tech, true, 22, ws.Name, []KV{{"QueryName", d.Name}, {"QueryStatus", "0"}, {"QueryResults", "::ffff:" + d.IP.String() + ";"}, {"Image", chrome}, {"User", user}})
				em.DNS(t, tech, ws.IP, 49152+em.rng.IntN(16000), d.Name, d.IP)
			}
			t2 := t.Add(30 * time.Millisecond)
			uid := em.Conn(t2, tech, ws.IP, sp, c.api.IP, 443, "ssl", 2*time.Second, 3_000+int64(em.rng.IntN(2000)), 6_000+int64(em.rng.IntN(4000)))
			m := tlsSession(em.rng, clientChromeA, c.api.Name)
			em.SSL(t2, tech, uid, ws.IP, sp, c.api.IP, 443, &m)
			t3 := t2.Add(time.Second)
			em.Win(t3, tech, true, 3, ws.Name, []KV{{"Image", chrome}, {"User", user}, {"Protocol", "tcp"}, {"Initiated", "true"}, {"SourceIp", ws.IP.String()}, {"SourceHostname", ws.Name}, {"SourcePort", strconv.Itoa(sp + 1)}, {"DestinationIp", c.store.IP.String()}, {"DestinationHostname", c.store.Name}, {"DestinationPort", "443"}})
			uid = em.Conn(t3, tech, ws.IP, sp+1, c.store.IP, 443, "ssl", dur, out, 40_000+int64(em.rng.IntN(20000)))
			m = tlsSession(em.rng, clientChromeA, c.store.Name)
			em.SSL(t3, tech, uid, ws.IP, sp+1, c.store.IP, 443, &m)
		})
		t = t.Add(dur + time.Duration(10+rng.IntN(120))*time.Second)
	}
}

// Emit implements Campaign.
func (c *InsiderCampaign) Emit(em *Emitter, from, to time.Time) { c.emit(em, from, to) }

// Truth implements Campaign.
func (c *InsiderCampaign) Truth() TruthCampaign {
	a, b, techs := c.span()
	return TruthCampaign{ID: c.id, Name: "insider hoarding and exfiltration to personal cloud storage", Start: a, End: b, Techniques: techs,
		Entities: []TruthEntity{c.user.Entity(), c.ws.Entity(), ipEntity(c.ws.IP), c.srv.Entity(), ipEntity(c.store.IP), {Kind: "domain", Value: "mega.co.nz"}}}
}
