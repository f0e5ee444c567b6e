package cloudtrail

import (
	"strings"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// topFields holds the top-level values normalization reads, found while flattening:
// strings as the arena text the raw field got, objects as parsed values.
type topFields struct {
	eventName, eventSource, eventID, eventType, awsRegion string
	recipientAccountID, sourceIPAddress, userAgent        string
	errorCode, errorMessage                               string
	userIdentity, responseElements                        *fastjson.Value
}

// set records the top-level field k; text is its raw field's value when it is a string.
func (t *topFields) set(k []byte, v *fastjson.Value, text string) {
	switch string(k) {
	case "eventName":
		t.eventName = text
	case "eventSource":
		t.eventSource = text
	case "eventID":
		t.eventID = text
	case "eventType":
		t.eventType = text
	case "awsRegion":
		t.awsRegion = text
	case "recipientAccountId":
		t.recipientAccountID = text
	case "sourceIPAddress":
		t.sourceIPAddress = text
	case "userAgent":
		t.userAgent = text
	case "errorCode":
		t.errorCode = text
	case "errorMessage":
		t.errorMessage = text
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

	name := top.eventName
	source := top.eventSource
	e.SetStr(event.EventAction, name)
	e.SetStr(event.EventProvider, source)
	e.SetStr(event.CloudServiceName, strings.TrimSuffix(source, ".amazonaws.com"))
	e.SetStr(event.EventID, top.eventID)
	e.SetStr(event.CloudRegion, top.awsRegion)
	e.SetStr(event.UserAgentOriginal, top.userAgent)

	account := top.recipientAccountID
	if account == "" {
		account = d.str(top.userIdentity, "accountId")
	}
	e.SetStr(event.CloudAccountID, account)

	if src := top.sourceIPAddress; src != "" {
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

	errCode := top.errorCode
	failed := errCode != ""
	if !failed && name == "ConsoleLogin" && top.responseElements != nil &&
		string(top.responseElements.GetStringBytes("ConsoleLogin")) == "Failure" {
		failed = true
	}
	if failed {
		e.SetStr(event.EventOutcome, "failure")
		msg := top.errorMessage
		if msg == "" {
			msg = errCode
		}
		e.SetStr(event.ErrorMessage, msg)
	} else {
		e.SetStr(event.EventOutcome, "success")
	}
	e.Category, e.Type = classify(source, name, top.eventType, errCode, failed)
}

// str returns the string at the key path in v, arena-backed; "" when v or the field
// is absent or not a string.
func (d *Decoder) str(v *fastjson.Value, keys ...string) string {
	if v == nil {
		return ""
	}
	b := v.GetStringBytes(keys...)
	if len(b) > maxValue {
		b = decode.ClipUTF8(b, maxValue)
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

// isAuthAction reports calls that authenticate or hand out credentials.
func isAuthAction(name string) bool {
	switch name {
	case "ConsoleLogin", "GetSessionToken", "GetFederationToken", "AssumeRole", "AssumeRoleWithSAML",
		"AssumeRoleWithWebIdentity", "CheckMfa", "SwitchRole", "ExitRole", "GetSigninToken",
		"CreateToken", "Authenticate", "Federate":
		return true
	}
	return false
}

// isIAMSource reports the services whose calls are identity and access management.
func isIAMSource(source string) bool {
	switch source {
	case "iam.amazonaws.com", "sso.amazonaws.com", "identitystore.amazonaws.com",
		"sso-directory.amazonaws.com", "access-analyzer.amazonaws.com", "organizations.amazonaws.com":
		return true
	}
	return false
}

// verbType maps the leading verb of an eventName ("Describe" in DescribeInstances;
// "Get" in BatchGetItem) to its ECS type, for category api; info when unknown.
func verbType(name string) event.Type {
	w := firstWord(name)
	if w == "Batch" {
		w = firstWord(name[len(w):])
	}
	switch w {
	case "Create", "Run", "Allocate", "Import", "Register", "Copy", "Upload", "Issue":
		return event.TypeCreation
	case "Delete", "Remove", "Terminate", "Deregister", "Release":
		return event.TypeDeletion
	case "Update", "Modify", "Put", "Set", "Add", "Attach", "Detach", "Associate", "Disassociate",
		"Enable", "Disable", "Reset", "Replace", "Tag", "Untag", "Authorize", "Revoke", "Change", "Restore":
		return event.TypeChange
	case "Start":
		return event.TypeStart
	case "Stop":
		return event.TypeEnd
	case "Get", "List", "Describe", "Head", "Lookup", "Search", "Select", "Scan", "Query", "Download":
		return event.TypeAccess
	}
	return event.TypeInfo
}

// firstWord returns the leading capitalised word of a CamelCase name.
func firstWord(s string) string {
	for i := 1; i < len(s); i++ {
		if isUpper(s[i]) {
			return s[:i]
		}
	}
	return s
}

// classify derives event.category and event.type:
//   - api for every API call (eventType AwsApiCall, AwsServiceEvent, ...), except
//     console sign-in events which are authentication only;
//   - iam for IAM, IAM Identity Center, Organizations and Access Analyzer calls;
//   - authentication for sign-in and credential-issuing calls (ConsoleLogin,
//     GetSessionToken, AssumeRole*, GetFederationToken, ...); a sign-in is type start;
//   - type from the verb leading eventName (see verbType; for iam, reads are info and
//     names with User or Group add type user or group); denied when the error code
//     says access was refused.
func classify(source, name, eventType, errCode string, failed bool) (event.Category, event.Type) {
	var c event.Category
	var t event.Type
	if eventType != "AwsConsoleSignIn" {
		c |= event.CatAPI
	}
	verb := verbType(name)
	if c != 0 {
		t |= verb
	}
	if isIAMSource(source) {
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
	if eventType == "AwsConsoleSignIn" || isAuthAction(name) || source == "signin.amazonaws.com" {
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

// b2s returns b as a string without copying; the caller must copy it before b's
// backing buffer (the parser's) is reused.
func b2s(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b)) // #nosec G103 -- read only, copied before reuse
}
