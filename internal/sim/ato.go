package sim

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// ATOCampaign is an account takeover: the victim's password was phished, and the
// attacker signs in from a country no employee is in while the victim works at the
// office (impossible travel, valid cloud account), often after pushing MFA requests
// until one is accepted (MFA fatigue), then reads the victim's mail and opens the
// document and CRM apps, over an hour or two.
type ATOCampaign struct {
	id string
	schedule
	victim   *User
	attacker netip.Addr
	geo      *GeoNet
	s        signer
}

// NewATOCampaign returns the campaign with the given id.
func NewATOCampaign(id string) *ATOCampaign { return &ATOCampaign{id: id} }

// ID implements Campaign.
func (c *ATOCampaign) ID() string { return c.id }

// Plan implements Campaign.
func (c *ATOCampaign) Plan(rng *rand.Rand, org *Org, from, to time.Time) {
	r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())) //nolint:gosec // reproducible synthetic data
	c.s = signer{w: idWriter{rng: r}, org: org}
	geo := org.Geo
	// A victim who is not travelling around the attack (the trip would explain a
	// foreign sign-in away).
	vi := -1
	for _, i := range r.Perm(len(org.Users)) {
		if !geo.awayDuring(i, from.Add(-48*time.Hour), to.Add(72*time.Hour)) {
			vi = i
			break
		}
	}
	if vi < 0 {
		vi = 0
	}
	c.victim = &org.Users[vi]
	u := c.victim
	// A working day of the victim's, a few hours into it.
	d := within(r, from, to, 0.5).Truncate(24 * time.Hour)
	var t0 time.Time
	for range 14 {
		wd := d.Weekday()
		t0 = d.Add(time.Duration((u.StartHour + 1.5 + 2.5*r.Float64() - float64(u.Office.Offset)) * float64(time.Hour))).Truncate(time.Second)
		if wd != time.Saturday && wd != time.Sunday && !t0.Before(from) {
			break
		}
		d = d.Add(24 * time.Hour)
	}
	geo.present[vi] = append(geo.present[vi], d)
	nets := geo.nets(geoAttacker, "")
	c.geo = nets[r.IntN(len(nets))]
	c.attacker = hostIn(c.geo.Prefix, uint64(2+r.IntN(200)))

	p := place{ip: c.attacker, geo: c.geo, zone: "null"}
	dev := &attackerDevice
	sess := "102" + string(c.s.w.appendID(nil, 22))
	okta := func(t time.Time, tech, typ, msg, result, reason, uri, legacy string, app *idApp) {
		c.at(t, tech, func(em *Emitter, t time.Time, tech string) {
			sev := "INFO"
			if result == "FAILURE" {
				sev = "WARN"
			}
			c.s.w.okta(em, tech, &oktaEv{t: t, u: u, ip: p.ip, geo: p.geo, dev: dev, zone: p.zone, session: sess, severity: sev,
				eventType: typ, msg: msg, result: result, reason: reason, uri: uri, legacy: legacy, app: app, step: "0"})
		})
	}
	entra := func(t time.Time, tech string, app *idApp, risky bool) {
		c.at(t, tech, func(em *Emitter, t time.Time, tech string) {
			e := entraEv{t: t, u: u, app: app, ip: p.ip, geo: p.geo, dev: dev, code: 0, reason: entraOK,
				details: entraFederatedMFA, clientApp: "Browser", caStatus: "success"}
			if risky {
				e.risk, e.riskEventType = "medium", "unfamiliarFeatures"
			}
			c.s.w.entra(em, tech, &e)
		})
	}
	t := t0
	// 1. The phished password is accepted; the sign-on policy asks for MFA.
	okta(t, "T1078.004", "policy.evaluate_sign_on", "Evaluation of sign-on policy", "CHALLENGE", "Sign-on policy evaluation resulted in CHALLENGE", "/idp/idx/identify", "", nil)
	// 2. MFA fatigue: pushes the victim denies, until one is accepted.
	mfaTech := "T1078.004"
	if r.Float64() < 0.75 {
		mfaTech = "T1621"
		for range 3 + r.IntN(6) {
			t = t.Add(time.Duration(3+r.IntN(5)) * time.Second)
			okta(t, "T1621", "system.push.send_factor_verify_push", "A push was sent to the user's Okta Verify", "SUCCESS", "", "/idp/idx/challenge", "", nil)
			t = t.Add(time.Duration(8+r.IntN(40)) * time.Second)
			okta(t, "T1621", "user.mfa.okta_verify.deny_push", "User rejected Okta push verify", "FAILURE", "", "/idp/idx/challenge/poll", "core.user.factor.attempt_fail", nil)
			t = t.Add(time.Duration(20+r.IntN(100)) * time.Second)
		}
		okta(t, "T1621", "system.push.send_factor_verify_push", "A push was sent to the user's Okta Verify", "SUCCESS", "", "/idp/idx/challenge", "", nil)
		t = t.Add(time.Duration(10+r.IntN(50)) * time.Second)
	} else {
		t = t.Add(time.Duration(15+r.IntN(40)) * time.Second)
	}
	okta(t, mfaTech, "user.authentication.auth_via_mfa", "Authentication of user via MFA", "SUCCESS", "", "/idp/idx/challenge/poll", "core.user.factor.attempt_success", nil)
	t = t.Add(time.Duration(500+r.IntN(1500)) * time.Millisecond)
	okta(t, "T1078.004", "user.session.start", "User login to Okta", "SUCCESS", "", "/idp/idx/authenticators/poll", "core.user_auth.login_success", nil)
	// 3. The mailbox: Office 365 through Okta, Exchange Online in Entra, repeatedly.
	risky := r.Float64() < 0.5 // Entra ID Protection flags it, or not (licence, tuning)
	t = t.Add(time.Duration(40+r.IntN(120)) * time.Second)
	okta(t, "T1114.002", "user.authentication.sso", "User single sign on to app", "SUCCESS", "", "/app/"+oktaApps[oktaO365].id+"/sso/saml", "app.auth.sso", &oktaApps[oktaO365])
	t = t.Add(time.Duration(3+r.IntN(8)) * time.Second)
	entra(t, "T1078.004", &entraApps[entraExchange], risky)
	for range 2 + r.IntN(4) {
		t = t.Add(time.Duration(4+r.IntN(15)) * time.Minute)
		entra(t, "T1114.002", &entraApps[entraExchange], risky)
	}
	// 4. Data from information repositories: SharePoint, Box, Salesforce.
	t = t.Add(time.Duration(10+r.IntN(25)) * time.Minute)
	for _, a := range r.Perm(3) {
		switch a {
		case 0:
			entra(t, "T1213", &entraApps[entraSharePoint], risky)
		case 1:
			okta(t, "T1213", "user.authentication.sso", "User single sign on to app", "SUCCESS", "", "/app/"+oktaApps[oktaBox].id+"/sso/saml", "app.auth.sso", &oktaApps[oktaBox])
		case 2:
			okta(t, "T1213", "user.authentication.sso", "User single sign on to app", "SUCCESS", "", "/app/"+oktaApps[oktaSalesforce].id+"/sso/saml", "app.auth.sso", &oktaApps[oktaSalesforce])
		}
		t = t.Add(time.Duration(5+r.IntN(20)) * time.Minute)
	}
	entra(t, "T1213", &entraApps[entraSharePoint], risky)
	slices.SortStableFunc(c.steps, func(a, b step) int { return a.t.Compare(b.t) })
}

// Emit implements Campaign.
func (c *ATOCampaign) Emit(em *Emitter, from, to time.Time) { c.emit(em, from, to) }

// Truth implements Campaign.
func (c *ATOCampaign) Truth() TruthCampaign {
	a, b, techs := c.span()
	return TruthCampaign{ID: c.id, Name: "account takeover: phished password, MFA fatigue, mailbox and document access", Start: a, End: b, Techniques: techs,
		Entities: []TruthEntity{c.victim.Entity(), ipEntity(c.attacker)}}
}
