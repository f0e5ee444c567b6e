package okta

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// class is the ECS event.category and event.type of an eventType.
type class struct {
	cat event.Category
	typ event.Type
}

// exactClass holds eventTypes whose class is not the one of their family.
var exactClass = map[string]class{
	"user.session.start":                  {event.CatAuthentication | event.CatSession, event.TypeStart},
	"user.session.end":                    {event.CatAuthentication | event.CatSession, event.TypeEnd},
	"user.session.expire":                 {event.CatSession, event.TypeEnd},
	"user.session.clear":                  {event.CatSession, event.TypeEnd},
	"user.session.impersonation.grant":    {event.CatIAM | event.CatSession, event.TypeAdmin | event.TypeChange},
	"user.session.impersonation.initiate": {event.CatIAM | event.CatSession, event.TypeAdmin | event.TypeStart},
	"user.session.impersonation.end":      {event.CatIAM | event.CatSession, event.TypeAdmin | event.TypeEnd},
	"policy.evaluate_sign_on":             {event.CatAuthentication, event.TypeInfo},
	"user.mfa.okta_verify.deny_push":      {event.CatAuthentication, event.TypeInfo},
	"user.mfa.attempt_bypass":             {event.CatAuthentication, event.TypeInfo},
	"user.mfa.factor.activate":            {event.CatIAM, event.TypeUser | event.TypeCreation},
	"user.mfa.factor.deactivate":          {event.CatIAM, event.TypeUser | event.TypeDeletion},
	"user.mfa.factor.reset_all":           {event.CatIAM, event.TypeUser | event.TypeDeletion},
	"user.mfa.factor.suspend":             {event.CatIAM, event.TypeUser | event.TypeChange},
	"user.mfa.factor.update":              {event.CatIAM, event.TypeUser | event.TypeChange},
	"user.account.privilege.grant":        {event.CatIAM, event.TypeUser | event.TypeAdmin | event.TypeChange},
	"user.account.privilege.revoke":       {event.CatIAM, event.TypeUser | event.TypeAdmin | event.TypeChange},
	"group.privilege.grant":               {event.CatIAM, event.TypeGroup | event.TypeAdmin | event.TypeChange},
	"group.privilege.revoke":              {event.CatIAM, event.TypeGroup | event.TypeAdmin | event.TypeChange},
	"user.lifecycle.create":               {event.CatIAM, event.TypeUser | event.TypeCreation},
	"user.lifecycle.delete.initiated":     {event.CatIAM, event.TypeUser | event.TypeDeletion},
	"user.lifecycle.delete.completed":     {event.CatIAM, event.TypeUser | event.TypeDeletion},
	"group.lifecycle.create":              {event.CatIAM, event.TypeGroup | event.TypeCreation},
	"group.lifecycle.delete":              {event.CatIAM, event.TypeGroup | event.TypeDeletion},
	"system.api_token.create":             {event.CatIAM | event.CatConfiguration, event.TypeCreation},
	"system.api_token.revoke":             {event.CatIAM | event.CatConfiguration, event.TypeDeletion},
	"security.threat.detected":            {event.CatIntrusionDetection | event.CatThreat, event.TypeIndicator},
}

// familyClass maps eventType prefixes to a class, longest prefixes first.
var familyClass = []struct {
	prefix string
	class
}{
	{"user.authentication.", class{event.CatAuthentication, event.TypeStart}},
	{"user.session.", class{event.CatSession, event.TypeInfo}},
	{"user.mfa.", class{event.CatAuthentication, event.TypeInfo}},
	{"user.account.", class{event.CatIAM, event.TypeUser | event.TypeChange}},
	{"user.lifecycle.", class{event.CatIAM, event.TypeUser | event.TypeChange}},
	{"user.credential.", class{event.CatIAM, event.TypeUser | event.TypeChange}},
	{"group.user_membership.", class{event.CatIAM, event.TypeGroup | event.TypeChange}},
	{"group.", class{event.CatIAM, event.TypeGroup | event.TypeChange}},
	{"application.user_membership.", class{event.CatIAM, event.TypeUser | event.TypeChange}},
	{"app.oauth2.", class{event.CatAuthentication, event.TypeInfo}},
	{"application.", class{event.CatConfiguration, event.TypeChange}},
	{"policy.", class{event.CatConfiguration, event.TypeChange}},
	{"zone.", class{event.CatConfiguration, event.TypeChange}},
	{"iam.", class{event.CatIAM, event.TypeAdmin | event.TypeChange}},
	{"system.api_token.", class{event.CatIAM | event.CatConfiguration, event.TypeChange}},
	{"system.idp.", class{event.CatConfiguration, event.TypeChange}},
	{"system.", class{event.CatConfiguration, event.TypeChange}},
	{"security.", class{event.CatThreat, event.TypeInfo}},
}

// classify returns the ECS category and type of an Okta eventType; zero for families
// with no ECS category (e.g. directory sync and Okta-internal events).
func classify(eventType string) (event.Category, event.Type) {
	if c, ok := exactClass[eventType]; ok {
		return c.cat, c.typ
	}
	for _, f := range familyClass {
		if strings.HasPrefix(eventType, f.prefix) {
			return f.cat, f.typ
		}
	}
	return 0, 0
}
