package cloudtrail

import (
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

// topFields holds the top-level values normalization reads, found while flattening.
type topFields struct {
	eventName, eventSource, eventID, eventType, awsRegion *fastjson.Value
	recipientAccountID, sourceIPAddress, userAgent        *fastjson.Value
	errorCode, errorMessage, userIdentity                 *fastjson.Value
	responseElements                                      *fastjson.Value
}

func (t *topFields) set(k []byte, v *fastjson.Value) {
	switch string(k) {
	case "eventName":
		t.eventName = v
	case "eventSource":
		t.eventSource = v
	case "eventID":
		t.eventID = v
	case "eventType":
		t.eventType = v
	case "awsRegion":
		t.awsRegion = v
	case "recipientAccountId":
		t.recipientAccountID = v
	case "sourceIPAddress":
		t.sourceIPAddress = v
	case "userAgent":
		t.userAgent = v
	case "errorCode":
		t.errorCode = v
	case "errorMessage":
		t.errorMessage = v
	case "userIdentity":
		t.userIdentity = v
	case "responseElements":
		t.responseElements = v
	}
}

// normalize fills the ECS core from the record's top-level fields.
func (d *Decoder) normalize(e *event.Event) {
	top := &d.top
	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "aws")
	e.SetStr(event.EventDataset, "aws.cloudtrail")
	e.SetStr(event.CloudProvider, "aws")

	name := d.str(top.eventName)
	source := d.str(top.eventSource)
	e.SetStr(event.EventAction, name)
	e.SetStr(event.EventProvider, source)
	e.SetStr(event.CloudServiceName, strings.TrimSuffix(source, ".amazonaws.com"))
	e.SetStr(event.EventID, d.str(top.eventID))
	e.SetStr(event.CloudRegion, d.str(top.awsRegion))
	e.SetStr(event.UserAgentOriginal, d.str(top.userAgent))

	account := d.str(top.recipientAccountID)
	if account == "" {
		account = d.str(top.userIdentity, "accountId")
	}
	e.SetStr(event.CloudAccountID, account)

	if src := d.str(top.sourceIPAddress); src != "" {
		e.SetStr(event.SourceAddress, src)
		if ip := event.ParseIP(src); ip.IsValid() {
			e.SetIP(event.SourceIP, ip)
		} else if isHostName(src) {
			e.SetStr(event.SourceDomain, src)
		}
	}

	id := identity(top.userIdentity)
	e.SetUser(event.ParseUser(d.fl.Arena.StringOf(id.name)))
	e.SetStr(event.UserID, d.fl.Arena.StringOf(id.id))
	if u := event.ParseUser(id.effective); u.Name != "" {
		e.SetStr(event.UserEffectiveName, d.fl.Arena.StringOf(u.Name))
		e.AddRelatedUser(d.fl.Arena.StringOf(u.Key()))
	}
	e.SetStr(event.CloudInstanceID, d.fl.Arena.StringOf(id.instance))

	errCode := d.str(top.errorCode)
	failed := errCode != ""
	if !failed && name == "ConsoleLogin" && top.responseElements != nil &&
		string(top.responseElements.GetStringBytes("ConsoleLogin")) == "Failure" {
		failed = true
	}
	if failed {
		e.SetStr(event.EventOutcome, "failure")
		msg := d.str(top.errorMessage)
		if msg == "" {
			msg = errCode
		}
		e.SetStr(event.ErrorMessage, msg)
	} else {
		e.SetStr(event.EventOutcome, "success")
	}
	e.Category, e.Type = classify(source, name, string(top.eventType.GetStringBytes()), errCode, failed)
}

// str returns the string at the key path in v, arena-backed; "" when v or the field
// is absent or not a string.
func (d *Decoder) str(v *fastjson.Value, keys ...string) string {
	if v == nil {
		return ""
	}
	b := v.GetStringBytes(keys...)
	if len(b) > maxValue {
		b = clip(b, maxValue)
	}
	return d.fl.Arena.String(b)
}

// principal is who acted, as read from userIdentity.
type principal struct {
	name      string // user.name
	id        string // user.id: principalId
	effective string // user.effective.name: the role whose permissions apply
	instance  string // cloud.instance.id: the EC2 instance of an instance-profile session
}

// identity reads userIdentity by its type:
//   - IAMUser: userName (else the name in the ARN).
//   - AssumedRole: the role session name from the ARN
//     (arn:aws:sts::111122223333:assumed-role/RoleName/SessionName): the human of an
//     SSO or federated session, or the instance or function of a service role; the
//     role (sessionContext.sessionIssuer.userName, else from the ARN) is
//     user.effective.name. A session named like an EC2 instance id whose context
//     says ec2RoleDelivery gives cloud.instance.id.
//   - Root: "root".
//   - AWSService: invokedBy ("ec2.amazonaws.com").
//   - FederatedUser: the name in the ARN (federated-user/Name); the issuing IAM user
//     is user.effective.name.
//   - AWSAccount: userName, "anonymous" for ANONYMOUS_PRINCIPAL, else principalId.
//   - Others (IdentityCenterUser, SAMLUser, WebIdentityUser, Unknown): userName, else
//     the last segment of the ARN, else principalId.
//
// The strings point into the parser's buffer; the caller copies them.
func identity(ui *fastjson.Value) principal {
	if ui == nil {
		return principal{}
	}
	get := func(keys ...string) string { return b2s(ui.GetStringBytes(keys...)) }
	p := principal{id: get("principalId")}
	arn := get("arn")
	userName := get("userName")
	switch get("type") {
	case "IAMUser":
		p.name = firstOf(userName, arnName(arn))
	case "AssumedRole":
		role, session := assumedRole(arn)
		p.name = firstOf(session, userName)
		p.effective = firstOf(get("sessionContext", "sessionIssuer", "userName"), role)
		if ui.Exists("sessionContext", "ec2RoleDelivery") && isInstanceID(session) {
			p.instance = session
		}
	case "Root":
		p.name = "root"
	case "AWSService":
		p.name = get("invokedBy")
	case "FederatedUser":
		p.name = firstOf(arnName(arn), userName)
		p.effective = get("sessionContext", "sessionIssuer", "userName")
	case "AWSAccount":
		switch {
		case userName != "":
			p.name = userName
		case get("accountId") == "ANONYMOUS_PRINCIPAL":
			p.name = "anonymous"
		default:
			p.name = p.id
		}
	default:
		p.name = firstOf(userName, arnName(arn), p.id)
	}
	return p
}

// assumedRole splits an assumed-role ARN into the role and the session name.
func assumedRole(arn string) (role, session string) {
	const marker = ":assumed-role/"
	i := strings.Index(arn, marker)
	if i < 0 {
		return "", ""
	}
	rest := arn[i+len(marker):]
	role, session, _ = strings.Cut(rest, "/")
	return role, session
}

// arnName returns the last path segment of an ARN's resource
// ("arn:aws:iam::1:user/dev/alice" -> "alice").
func arnName(arn string) string {
	if !strings.HasPrefix(arn, "arn:") {
		return ""
	}
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return ""
}

func isInstanceID(s string) bool {
	if !strings.HasPrefix(s, "i-") || len(s) < 10 || len(s) > 19 {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// isHostName reports whether s looks like a DNS name ("ec2.amazonaws.com") rather
// than a description ("AWS Internal").
func isHostName(s string) bool {
	if !strings.Contains(s, ".") || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// authActions are the calls that authenticate or hand out credentials.
var authActions = map[string]bool{
	"ConsoleLogin": true, "GetSessionToken": true, "GetFederationToken": true,
	"AssumeRole": true, "AssumeRoleWithSAML": true, "AssumeRoleWithWebIdentity": true,
	"CheckMfa": true, "SwitchRole": true, "ExitRole": true, "GetSigninToken": true,
	"CreateToken": true, "Authenticate": true, "Federate": true,
}

// iamSources are the services whose calls are identity and access management.
var iamSources = map[string]bool{
	"iam.amazonaws.com": true, "sso.amazonaws.com": true, "identitystore.amazonaws.com": true,
	"sso-directory.amazonaws.com": true, "access-analyzer.amazonaws.com": true,
	"organizations.amazonaws.com": true,
}

// verbTypes maps the leading verb of an eventName to its ECS type, for category api.
var verbTypes = []struct {
	prefix string
	typ    event.Type
}{
	{"Create", event.TypeCreation}, {"Run", event.TypeCreation}, {"Add", event.TypeChange},
	{"Allocate", event.TypeCreation}, {"Import", event.TypeCreation}, {"Register", event.TypeCreation},
	{"Copy", event.TypeCreation}, {"Upload", event.TypeCreation}, {"Issue", event.TypeCreation},
	{"Delete", event.TypeDeletion}, {"Remove", event.TypeDeletion}, {"Terminate", event.TypeDeletion},
	{"Deregister", event.TypeDeletion}, {"Release", event.TypeDeletion},
	{"Update", event.TypeChange}, {"Modify", event.TypeChange}, {"Put", event.TypeChange},
	{"Set", event.TypeChange}, {"Attach", event.TypeChange}, {"Detach", event.TypeChange},
	{"Associate", event.TypeChange}, {"Disassociate", event.TypeChange}, {"Enable", event.TypeChange},
	{"Disable", event.TypeChange}, {"Reset", event.TypeChange}, {"Replace", event.TypeChange},
	{"Tag", event.TypeChange}, {"Untag", event.TypeChange}, {"Authorize", event.TypeChange},
	{"Revoke", event.TypeChange}, {"Change", event.TypeChange}, {"Restore", event.TypeChange},
	{"Start", event.TypeStart}, {"Stop", event.TypeEnd},
	{"Get", event.TypeAccess}, {"List", event.TypeAccess}, {"Describe", event.TypeAccess},
	{"Head", event.TypeAccess}, {"Lookup", event.TypeAccess}, {"Search", event.TypeAccess},
	{"Select", event.TypeAccess}, {"Scan", event.TypeAccess}, {"Query", event.TypeAccess},
	{"BatchGet", event.TypeAccess}, {"Download", event.TypeAccess},
}

// classify derives event.category and event.type:
//   - api for every API call (eventType AwsApiCall, AwsServiceEvent, ...), except
//     console sign-in events which are authentication only;
//   - iam for IAM, IAM Identity Center, Organizations and Access Analyzer calls;
//   - authentication for sign-in and credential-issuing calls (ConsoleLogin,
//     GetSessionToken, AssumeRole*, GetFederationToken, ...); a sign-in is type start;
//   - type from the verb leading eventName (see verbTypes; for iam, reads are info and
//     names with User or Group add type user or group); denied when the error code
//     says access was refused.
func classify(source, name, eventType, errCode string, failed bool) (event.Category, event.Type) {
	var c event.Category
	var t event.Type
	if eventType != "AwsConsoleSignIn" {
		c |= event.CatAPI
	}
	verb := event.TypeInfo
	for _, v := range verbTypes {
		if strings.HasPrefix(name, v.prefix) && (len(name) == len(v.prefix) || isUpper(name[len(v.prefix)])) {
			verb = v.typ
			break
		}
	}
	if c != 0 {
		t |= verb
	}
	if iamSources[source] {
		c |= event.CatIAM
		switch verb {
		case event.TypeAccess:
			t |= event.TypeInfo
		case event.TypeCreation, event.TypeDeletion, event.TypeChange:
			t |= verb
		}
		switch {
		case strings.Contains(name, "Group"):
			t |= event.TypeGroup
		case strings.Contains(name, "User"):
			t |= event.TypeUser
		}
	}
	if eventType == "AwsConsoleSignIn" || authActions[name] || source == "signin.amazonaws.com" {
		c |= event.CatAuthentication
		if name == "ConsoleLogin" || eventType == "AwsConsoleSignIn" {
			t |= event.TypeStart
		}
	}
	if isDenied(errCode) {
		t |= event.TypeDenied
	} else if failed && c.Has(event.CatAuthentication) {
		t |= event.TypeDenied
	}
	return c, t
}

// isDenied reports whether an errorCode says the caller was not allowed.
func isDenied(code string) bool {
	switch {
	case code == "":
		return false
	case strings.HasPrefix(code, "AccessDenied"), strings.HasSuffix(code, "UnauthorizedOperation"),
		code == "UnauthorizedAccess", code == "Forbidden", code == "NotAuthorized",
		code == "AuthorizationError", code == "InvalidClientTokenId", code == "SignatureDoesNotMatch":
		return true
	}
	return false
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
