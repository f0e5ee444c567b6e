package sim

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// Identity-provider sign-ins: Okta is the organisation's identity provider (its
// System Log, okta/system.json) and Microsoft 365 is federated to it, so Entra ID
// logs the Microsoft apps' sign-ins (entra/signins.json, Microsoft Graph signIn
// objects one per line, the shape of `az rest .../auditLogs/signIns` exports).

// idApp is an application users sign in to.
type idApp struct {
	id, name   string // Okta: app instance id and label; Entra: appId and appDisplayName
	resID, res string // Entra: the resource the token is for
}

// oktaApps are the Okta app instances users reach by SSO, most used first.
var oktaApps = []idApp{
	{id: "0oa3fk2x9mQbLm5Nd697", name: "Microsoft Office 365"},
	{id: "0oa3fk8slkQ1wUe9k697", name: "Slack"},
	{id: "0oa3fkc0z7Jh2Vb8r697", name: "Zoom"},
	{id: "0oa3fkd4ppS9yTq1a697", name: "Atlassian Cloud"},
	{id: "0oa3fke8vvH3kLw2x697", name: "Salesforce.com"},
	{id: "0oa3fkf1g6Y7cRm5n697", name: "Box"},
	{id: "0oa3fkg5b2P4dNe8s697", name: "GitHub Enterprise Cloud - Organization"},
	{id: "0oa3fkh9c8W1qZu3j697", name: "Workday"},
	{id: "0oa3fkj3t4M6fXo7p697", name: "AWS IAM Identity Center"},
}

// Indices of oktaApps the account takeover uses.
const (
	oktaO365       = 0
	oktaSalesforce = 4
	oktaBox        = 5
)

// entraApps are the Microsoft apps whose sign-ins Entra ID logs.
var entraApps = []idApp{
	{id: "00000002-0000-0ff1-ce00-000000000000", name: "Office 365 Exchange Online", resID: "00000002-0000-0ff1-ce00-000000000000", res: "Office 365 Exchange Online"},
	{id: "1fec8e78-bce4-4aaf-ab1b-5451cc387264", name: "Microsoft Teams", resID: "00000003-0000-0000-c000-000000000000", res: "Microsoft Graph"},
	{id: "00000003-0000-0ff1-ce00-000000000000", name: "SharePoint Online", resID: "00000003-0000-0ff1-ce00-000000000000", res: "Office 365 SharePoint Online"},
	{id: "4765445b-32c6-49b0-83e6-1d93765276ca", name: "OfficeHome", resID: "00000003-0000-0000-c000-000000000000", res: "Microsoft Graph"},
	{id: "d3590ed6-52b3-4102-aeff-aad2292ab01c", name: "Microsoft Office", resID: "00000003-0000-0000-c000-000000000000", res: "Microsoft Graph"},
}

// Indices of entraApps the account takeover uses.
const (
	entraExchange   = 0
	entraSharePoint = 2
)

// idDevice is the browser a sign-in comes from, as both providers describe it.
type idDevice struct {
	ua, os, browser     string // Okta client.userAgent
	entraOS, entraBrows string // Entra deviceDetail
	managed             bool
}

var idDevices = []idDevice{
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", "Windows 10", "CHROME", "Windows10", "Chrome 122.0.0", true},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.66", "Windows 10", "EDGE_CHROMIUM", "Windows10", "Edge 122.0.2365", true},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", "Mac OS X", "CHROME", "MacOs", "Chrome 122.0.0", true},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Safari/605.1.15", "Mac OS X", "SAFARI", "MacOs", "Safari 17.3.1", true},
}

// attackerDevice is the takeover's browser: another OS, not a managed device.
var attackerDevice = idDevice{"Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0", "Linux", "FIREFOX", "Linux", "Firefox 123.0", false}

// idHash is a stable per-user number: identifiers and habits that must agree between
// the benign source, episodes and campaigns without sharing state.
func idHash(u *User, salt string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(salt))
	_, _ = h.Write([]byte(u.Name))
	return h.Sum64()
}

// oktaUserID is the user's Okta id (00u and 17 characters, as Okta writes them).
func oktaUserID(u *User) string {
	h := idHash(u, "okta")
	b := []byte("00u")
	for range 17 {
		b = append(b, uidChars[h%uint64(len(uidChars))])
		h = h/uint64(len(uidChars)) ^ h*0x9e3779b97f4a7c15
	}
	return string(b)
}

// guidOf is a GUID built from a hash.
func guidOf(h uint64) string {
	h2 := h*0x9e3779b97f4a7c15 ^ h>>29
	return string(appendGUID(nil, h, h2))
}

func appendGUID(b []byte, x, y uint64) []byte {
	const hex = "0123456789abcdef"
	for i := range 32 {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b = append(b, '-')
		}
		v := x
		if i >= 16 {
			v = y
		}
		b = append(b, hex[(v>>(4*(i%16)))&15])
	}
	return b
}

// deviceOf is the user's usual browser.
func deviceOf(u *User) *idDevice { return &idDevices[idHash(u, "dev")%uint64(len(idDevices))] }

// idWriter formats Okta LogEvents and Entra sign-ins into one reused buffer.
type idWriter struct {
	rng *rand.Rand
	buf []byte
}

// oktaEv is one Okta System Log event.
type oktaEv struct {
	t                 time.Time
	u                 *User
	eventType, msg    string
	result, reason    string // reason "" is written as null
	severity          string
	ip                netip.Addr
	geo               *GeoNet
	dev               *idDevice
	zone              string // the network zone, "null" (Okta's text) outside any
	app               *idApp // the SSO target, or nil
	session           string // externalSessionId
	uri, legacy, step string
}

func appendStrOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONStr(b, s)
}

func appendFloat(b []byte, f float64) []byte { return strconv.AppendFloat(b, f, 'f', -1, 64) }

func (w *idWriter) appendID(b []byte, n int) []byte {
	for range n {
		b = append(b, uidChars[w.rng.IntN(len(uidChars))])
	}
	return b
}

// okta writes one LogEvent to okta/system.json.
func (w *idWriter) okta(em *Emitter, technique string, e *oktaEv) {
	t := e.t.Truncate(time.Millisecond)
	geo := e.geo
	if geo == nil {
		geo = &GeoNet{}
	}
	b := w.buf[:0]
	b = append(b, `{"actor":{"id":`...)
	b = appendJSONStr(b, oktaUserID(e.u))
	b = append(b, `,"type":"User","alternateId":`...)
	b = appendJSONStr(b, e.u.UserID())
	b = append(b, `,"displayName":`...)
	b = appendJSONStr(b, e.u.Full)
	b = append(b, `,"detailEntry":null},"client":{"userAgent":{"rawUserAgent":`...)
	b = appendJSONStr(b, e.dev.ua)
	b = append(b, `,"os":`...)
	b = appendJSONStr(b, e.dev.os)
	b = append(b, `,"browser":`...)
	b = appendJSONStr(b, e.dev.browser)
	b = append(b, `},"zone":`...)
	b = appendJSONStr(b, e.zone)
	b = append(b, `,"device":"Computer","id":null,"ipAddress":"`...)
	b = e.ip.AppendTo(b)
	b = append(b, `","geographicalContext":`...)
	b = appendOktaGeo(b, geo)
	b = append(b, `},"device":null,"authenticationContext":{"authenticationProvider":`...)
	if e.step == "0" {
		b = append(b, `"OKTA_AUTHENTICATION_PROVIDER"`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"credentialProvider":null,"credentialType":null,"issuer":null,"interface":null,"authenticationStep":0,"externalSessionId":`...)
	b = appendJSONStr(b, e.session)
	b = append(b, `},"displayMessage":`...)
	b = appendJSONStr(b, e.msg)
	b = append(b, `,"eventType":`...)
	b = appendJSONStr(b, e.eventType)
	b = append(b, `,"outcome":{"result":`...)
	b = appendJSONStr(b, e.result)
	b = append(b, `,"reason":`...)
	b = appendStrOrNull(b, e.reason)
	b = append(b, `},"published":"`...)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `","securityContext":{"asNumber":`...)
	if geo.ASN > 0 {
		b = strconv.AppendInt(b, int64(geo.ASN), 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"asOrg":`...)
	b = appendStrOrNull(b, geo.ASOrg)
	b = append(b, `,"isp":`...)
	b = appendStrOrNull(b, geo.ISP)
	b = append(b, `,"domain":null,"isProxy":false},"severity":`...)
	b = appendJSONStr(b, e.severity)
	b = append(b, `,"debugContext":{"debugData":{"requestId":"`...)
	reqID := len(b)
	b = w.appendID(b, 27)
	reqEnd := len(b)
	b = append(b, `","requestUri":`...)
	b = appendJSONStr(b, e.uri)
	b = append(b, `,"url":`...)
	b = appendJSONStr(b, e.uri+"?")
	b = append(b, `,"threatSuspected":"false"}},"legacyEventType":`...)
	b = appendStrOrNull(b, e.legacy)
	b = append(b, `,"transaction":{"type":"WEB","id":"`...)
	b = append(b, b[reqID:reqEnd]...)
	b = append(b, `","detail":{}},"uuid":"`...)
	b = appendGUID(b, w.rng.Uint64(), w.rng.Uint64())
	b = append(b, `","version":"0","request":{"ipChain":[{"ip":"`...)
	b = e.ip.AppendTo(b)
	b = append(b, `","geographicalContext":`...)
	b = appendOktaGeo(b, geo)
	if e.ip.Is4() {
		b = append(b, `,"version":"V4","source":null}]},"target":`...)
	} else {
		b = append(b, `,"version":"V6","source":null}]},"target":`...)
	}
	if e.app == nil {
		b = append(b, "null}\n"...)
	} else {
		b = append(b, `[{"id":`...)
		b = appendJSONStr(b, e.app.id)
		b = append(b, `,"type":"AppInstance","alternateId":`...)
		b = appendJSONStr(b, e.app.name)
		b = append(b, `,"displayName":`...)
		b = appendJSONStr(b, e.app.name)
		b = append(b, `,"detailEntry":{"signOnModeType":"SAML_2_0"}},{"id":"0ua`...)
		b = w.appendID(b, 17)
		b = append(b, `","type":"AppUser","alternateId":`...)
		b = appendJSONStr(b, e.u.UserID())
		b = append(b, `,"displayName":`...)
		b = appendJSONStr(b, e.u.Full)
		b = append(b, `,"detailEntry":null}]}`+"\n"...)
	}
	w.buf = b
	em.Line(fOkta, t, technique, b)
}

func appendOktaGeo(b []byte, g *GeoNet) []byte {
	b = append(b, `{"city":`...)
	b = appendStrOrNull(b, g.City)
	b = append(b, `,"state":`...)
	b = appendStrOrNull(b, g.State)
	b = append(b, `,"country":`...)
	b = appendStrOrNull(b, g.CountryName)
	b = append(b, `,"postalCode":`...)
	b = appendStrOrNull(b, g.Postal)
	b = append(b, `,"geolocation":{"lat":`...)
	b = appendFloat(b, g.Lat)
	b = append(b, `,"lon":`...)
	b = appendFloat(b, g.Lon)
	return append(b, "}}"...)
}

// entraEv is one Entra ID sign-in.
type entraEv struct {
	t             time.Time
	u             *User
	app           *idApp
	ip            netip.Addr
	geo           *GeoNet
	dev           *idDevice
	host          string // device display name, "" when not a registered device
	code          int
	reason        string // failureReason; "Other." on success, as Graph writes it
	details       string // additionalDetails
	clientApp     string
	caStatus      string // conditionalAccessStatus
	risk          string // riskLevelDuringSignIn
	riskEventType string
}

// entra writes one Microsoft Graph signIn object to entra/signins.json.
func (w *idWriter) entra(em *Emitter, technique string, e *entraEv) {
	t := e.t.Truncate(time.Millisecond)
	geo := e.geo
	if geo == nil {
		geo = &GeoNet{}
	}
	risk := e.risk
	if risk == "" {
		risk = "none"
	}
	b := w.buf[:0]
	b = append(b, `{"id":"`...)
	b = appendGUID(b, w.rng.Uint64(), w.rng.Uint64())
	b = append(b, `","createdDateTime":"`...)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, `","userDisplayName":`...)
	b = appendJSONStr(b, e.u.Full)
	b = append(b, `,"userPrincipalName":`...)
	b = appendJSONStr(b, e.u.UserID())
	b = append(b, `,"userId":"`...)
	b = append(b, guidOf(idHash(e.u, "entra"))...)
	b = append(b, `","appId":`...)
	b = appendJSONStr(b, e.app.id)
	b = append(b, `,"appDisplayName":`...)
	b = appendJSONStr(b, e.app.name)
	b = append(b, `,"ipAddress":"`...)
	b = e.ip.AppendTo(b)
	b = append(b, `","clientAppUsed":`...)
	b = appendJSONStr(b, e.clientApp)
	b = append(b, `,"correlationId":"`...)
	b = appendGUID(b, w.rng.Uint64(), w.rng.Uint64())
	b = append(b, `","conditionalAccessStatus":`...)
	b = appendJSONStr(b, e.caStatus)
	b = append(b, `,"isInteractive":true,"riskDetail":"none","riskLevelAggregated":"none","riskLevelDuringSignIn":`...)
	b = appendJSONStr(b, risk)
	if risk == "none" {
		b = append(b, `,"riskState":"none","riskEventTypes":[],"riskEventTypes_v2":[]`...)
	} else {
		b = append(b, `,"riskState":"atRisk","riskEventTypes":[`...)
		b = appendJSONStr(b, e.riskEventType)
		b = append(b, `],"riskEventTypes_v2":[`...)
		b = appendJSONStr(b, e.riskEventType)
		b = append(b, ']')
	}
	b = append(b, `,"resourceDisplayName":`...)
	b = appendJSONStr(b, e.app.res)
	b = append(b, `,"resourceId":`...)
	b = appendJSONStr(b, e.app.resID)
	b = append(b, `,"status":{"errorCode":`...)
	b = strconv.AppendInt(b, int64(e.code), 10)
	b = append(b, `,"failureReason":`...)
	b = appendJSONStr(b, e.reason)
	b = append(b, `,"additionalDetails":`...)
	b = appendStrOrNull(b, e.details)
	b = append(b, `},"deviceDetail":{"deviceId":`...)
	if e.host != "" {
		b = append(b, '"')
		b = append(b, guidOf(idHash(e.u, "device"))...)
		b = append(b, '"')
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"displayName":`...)
	b = appendJSONStr(b, e.host)
	b = append(b, `,"operatingSystem":`...)
	b = appendJSONStr(b, e.dev.entraOS)
	b = append(b, `,"browser":`...)
	b = appendJSONStr(b, e.dev.entraBrows)
	if e.dev.managed && e.host != "" {
		b = append(b, `,"isCompliant":true,"isManaged":true,"trustType":"Hybrid Azure AD joined"}`...)
	} else {
		b = append(b, `,"isCompliant":false,"isManaged":false,"trustType":""}`...)
	}
	b = append(b, `,"location":{"city":`...)
	b = appendJSONStr(b, geo.City)
	b = append(b, `,"state":`...)
	b = appendJSONStr(b, geo.State)
	b = append(b, `,"countryOrRegion":`...)
	b = appendJSONStr(b, geo.Country)
	b = append(b, `,"geoCoordinates":{"altitude":null,"latitude":`...)
	b = appendFloat(b, geo.Lat)
	b = append(b, `,"longitude":`...)
	b = appendFloat(b, geo.Lon)
	b = append(b, "}}}\n"...)
	w.buf = b
	em.Line(fEntra, t, technique, b)
}

// Entra status texts (failureReason), by error code.
const (
	entraOK           = "Other."
	entraMFARequired  = "Strong Authentication is required."
	entraKMSI         = "This error occurred due to 'Keep me signed in' interrupt when the user was signing in."
	entraMFAFailed    = "Authentication failed during strong authentication request."
	entraFederatedMFA = "MFA requirement satisfied by claim provided by external provider"
)

// place is where a sign-in comes from.
type place struct {
	ip   netip.Addr
	geo  *GeoNet
	zone string
}

// signer writes a user's sign-in sequences; the benign source, the trip episode and
// the account takeover share it.
type signer struct {
	w   idWriter
	org *Org
}

// login writes an interactive Okta login at t: the sign-on policy, an MFA push
// (with a timeout first when mfaFail), the session start; a wrong password first
// when badPassword. It returns the time after the login and the session id.
func (s *signer) login(em *Emitter, technique string, u *User, dev *idDevice, p place, t time.Time, badPassword, mfaFail bool) (time.Time, string) {
	rng := s.w.rng
	sess := "102" + string(s.w.appendID(nil, 22))
	ev := oktaEv{u: u, ip: p.ip, geo: p.geo, dev: dev, zone: p.zone, session: sess, severity: "INFO", step: "0"}
	if badPassword {
		ev.t, ev.eventType, ev.msg, ev.result, ev.reason, ev.severity = t, "user.session.start", "User login to Okta", "FAILURE", "INVALID_CREDENTIALS", "WARN"
		ev.uri, ev.legacy = "/idp/idx/identify", "core.user_auth.login_failed"
		s.w.okta(em, technique, &ev)
		t = t.Add(time.Duration(8+rng.IntN(30)) * time.Second)
		ev.severity = "INFO"
	}
	ev.t, ev.eventType, ev.msg, ev.result, ev.reason = t, "policy.evaluate_sign_on", "Evaluation of sign-on policy", "CHALLENGE", "Sign-on policy evaluation resulted in CHALLENGE"
	ev.uri, ev.legacy = "/idp/idx/identify", ""
	s.w.okta(em, technique, &ev)
	t = t.Add(time.Duration(2+rng.IntN(4)) * time.Second)
	if mfaFail {
		ev.t, ev.eventType, ev.msg, ev.result, ev.reason, ev.severity = t.Add(60*time.Second), "user.authentication.auth_via_mfa", "Authentication of user via MFA", "FAILURE", "VERIFICATION_ERROR", "WARN"
		ev.uri, ev.legacy = "/idp/idx/challenge/poll", "core.user.factor.attempt_fail"
		s.w.okta(em, technique, &ev)
		t = t.Add(time.Duration(70+rng.IntN(60)) * time.Second)
		ev.severity = "INFO"
	}
	t = t.Add(time.Duration(4+rng.IntN(15)) * time.Second)
	ev.t, ev.eventType, ev.msg, ev.result, ev.reason = t, "user.authentication.auth_via_mfa", "Authentication of user via MFA", "SUCCESS", ""
	ev.uri, ev.legacy = "/idp/idx/challenge/poll", "core.user.factor.attempt_success"
	s.w.okta(em, technique, &ev)
	t = t.Add(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
	ev.t, ev.eventType, ev.msg, ev.result = t, "user.session.start", "User login to Okta", "SUCCESS"
	ev.uri, ev.legacy = "/idp/idx/authenticators/poll", "core.user_auth.login_success"
	s.w.okta(em, technique, &ev)
	return t, sess
}

// sso writes an Okta SSO to app at t.
func (s *signer) sso(em *Emitter, technique string, u *User, dev *idDevice, p place, sess string, app *idApp, t time.Time) {
	ev := oktaEv{t: t, u: u, ip: p.ip, geo: p.geo, dev: dev, zone: p.zone, session: sess, severity: "INFO",
		eventType: "user.authentication.sso", msg: "User single sign on to app", result: "SUCCESS",
		app: app, uri: "/app/" + app.id + "/sso/saml", legacy: "app.auth.sso"}
	s.w.okta(em, technique, &ev)
}

// ms365 writes an Entra sign-in to app at t (federated to Okta: MFA is the IdP's claim).
func (s *signer) ms365(em *Emitter, technique string, u *User, dev *idDevice, host string, p place, app *idApp, t time.Time, code int, reason string) {
	details := entraFederatedMFA
	ca := "success"
	if code != 0 {
		details, ca = "", "notApplied"
	}
	client := "Browser"
	if app == &entraApps[1] || app == &entraApps[4] {
		client = "Mobile Apps and Desktop clients"
	}
	s.w.entra(em, technique, &entraEv{t: t, u: u, app: app, ip: p.ip, geo: p.geo, dev: dev, host: host,
		code: code, reason: reason, details: details, clientApp: client, caStatus: ca})
}

// idUser is what the benign source keeps per user: habits drawn once.
type idUser struct {
	apps    []int   // oktaApps indices by preference
	ssoRate float64 // mean SSOs per working day (heavy-tailed across users)
	msRate  float64 // mean extra Microsoft 365 sign-ins per working day
	homeP   float64 // share of working days from home
}

// identitySource is the benign Okta and Entra activity of every user.
type identitySource struct {
	signer
	users []idUser
}

// newIdentitySource draws the users' sign-in habits. Its own random stream keeps the
// identity logs independent of the order and number of other sources.
func newIdentitySource(rng *rand.Rand, org *Org) *identitySource {
	r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())) //nolint:gosec // reproducible synthetic data
	s := &identitySource{signer: signer{w: idWriter{rng: r}, org: org}}
	for i := range org.Users {
		u := &org.Users[i]
		n := 3 + r.IntN(len(oktaApps)-2)
		apps := r.Perm(len(oktaApps))[:n]
		if !slices.Contains(apps, oktaO365) {
			apps[0] = oktaO365 // everyone has mail
		}
		s.users = append(s.users, idUser{apps: apps,
			ssoRate: 3 * u.Activity * math.Exp(0.5*r.NormFloat64()),
			msRate:  1.5 * math.Exp(0.6*r.NormFloat64()),
			homeP:   0.05 + 0.4*r.Float64()*r.Float64()})
	}
	return s
}

// poisson draws a Poisson count (small means: Knuth's method).
func poisson(rng *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return max(0, int(mean+math.Sqrt(mean)*rng.NormFloat64()+0.5))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// Day implements Source.
func (s *identitySource) Day(em *Emitter, day time.Time) {
	rng, org, geo := s.w.rng, s.org, s.org.Geo
	wd := day.Weekday()
	weekend := wd == time.Saturday || wd == time.Sunday
	for ui := range org.Users {
		u, h := &org.Users[ui], &s.users[ui]
		present := geo.mustBePresent(ui, day)
		switch {
		case present:
		case weekend && rng.Float64() > 0.06:
			continue
		case !weekend && rng.Float64() < 0.04: // leave, sickness
			continue
		}
		local := day.Add(-time.Duration(u.Office.Offset) * time.Hour)
		on := local.Add(time.Duration((u.StartHour - 0.1 + 0.4*rng.NormFloat64()) * float64(time.Hour)))
		if geo.isAway(ui, on) {
			continue // the trip episode writes the traveller's sign-ins
		}
		p := place{ip: geo.Egress(u.Office), zone: "CorpNetwork"}
		host := org.Hosts[u.Hosts[0]].Short
		if weekend || !present && rng.Float64() < h.homeP {
			p = place{ip: geo.Home(ui, u.Office), zone: "null"}
		}
		p.geo = geo.Lookup(p.ip)
		span := time.Duration((u.WorkHours + 0.5*rng.NormFloat64()) * float64(time.Hour))
		nSSO, nMS := poisson(rng, h.ssoRate), 1+poisson(rng, h.msRate)
		if weekend {
			span = time.Duration(1+2*rng.Float64()) * time.Hour
			nSSO, nMS = rng.IntN(3), rng.IntN(2)
		}
		dev := deviceOf(u)
		t, sess := s.login(em, "", u, dev, p, on, rng.Float64() < 0.03, rng.Float64() < 0.02)
		at := func() time.Time {
			x := 0.3 + 0.15*rng.NormFloat64()
			if rng.Float64() < 0.5 {
				x = 0.75 + 0.12*rng.NormFloat64()
			}
			return t.Add(time.Duration(min(max(x, 0.01), 1) * float64(span)))
		}
		ok := func(t time.Time) bool { return !geo.isAway(ui, t) }
		for range nSSO {
			// Zipf over the user's apps: the first is used most.
			k := min(int(rng.ExpFloat64()*1.2), len(h.apps)-1)
			if st := at(); ok(st) {
				s.sso(em, "", u, dev, p, sess, &oktaApps[h.apps[k]], st)
			}
		}
		for i := range nMS {
			st := at()
			if i == 0 {
				st = t.Add(time.Duration(30+rng.IntN(240)) * time.Second) // Outlook and Teams start with the day
			}
			if !ok(st) {
				continue
			}
			app := &entraApps[[]int{0, 0, 1, 1, 2, 3, 4}[rng.IntN(7)]]
			if r := rng.Float64(); r < 0.05 {
				s.ms365(em, "", u, dev, host, p, app, st, 50140, entraKMSI)
				st = st.Add(time.Duration(3+rng.IntN(10)) * time.Second)
			} else if r < 0.07 {
				s.ms365(em, "", u, dev, host, p, app, st, 500121, entraMFAFailed)
				st = st.Add(time.Duration(40+rng.IntN(60)) * time.Second)
			}
			s.ms365(em, "", u, dev, host, p, app, st, 0, entraOK)
		}
	}
}
