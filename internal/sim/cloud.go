package sim

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// IAMUser is an IAM user with a long-term access key.
type IAMUser struct {
	Name    string
	User    int    // index in Org.Users; -1 for machine users
	ID      string // AIDA...
	Key     string // AKIA..., the active access key
	Console bool   // has a console password (with MFA)
	Home    netip.Addr
	UA      string // the user's SDK or CLI build
	Browser string
}

// IAMRole is a role assumed by workloads (web identity), CI or admins.
type IAMRole struct {
	Name    string
	ID      string // AROA...
	Kind    string // app, ci, admin
	SA      string // app roles: the Kubernetes service account (ns:name) allowed to assume it
	Buckets []int
	Rate    float64 // app roles: S3 object requests on a weekday (lognormal across roles)
	Writes  float64 // app roles: share of PutObject
}

// Bucket is an S3 bucket.
type Bucket struct {
	Name      string
	Sensitive bool // finance or customer data
	Prefixes  []string
	Keys      int
	Bytes     float64 // median object size
}

// CloudAccount is the organisation's AWS account.
type CloudAccount struct {
	ID       string
	Region   string // where the workloads run
	Egress   netip.Addr
	NAT      netip.Addr   // the VPC's NAT gateway (CI runners, machine users)
	AppAddrs []netip.Addr // private addresses S3 sees through the VPC endpoint: the cluster's nodes
	OIDC     string       // the cluster's OIDC provider ARN (IRSA)
	Users    []IAMUser
	Roles    []IAMRole
	Buckets  []Bucket
}

// DevPolicy is the customer-managed policy attached to developers; it allows
// iam:CreatePolicyVersion on itself, the misconfiguration the campaign abuses.
const DevPolicy = "developer-access"

const awsIDChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func awsID(rng *rand.Rand, prefix string) string {
	b := []byte(prefix)
	for len(b) < 20 {
		b = append(b, awsIDChars[rng.IntN(len(awsIDChars))])
	}
	return string(b)
}

var browsers = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
}

var cliPlatforms = []string{"Darwin/23.4.0 exe/arm64", "Linux/6.5.0-28-generic exe/x86_64.ubuntu.22", "Windows/10 exe/AMD64", "Darwin/23.3.0 exe/x86_64"}

// NewCloudAccount builds the AWS account of org: IAM users for most developers and
// IT admins plus machine users, roles for the cluster's workloads, CI and admins,
// and buckets, some holding finance or customer data.
func NewCloudAccount(rng *rand.Rand, o *Org) *CloudAccount {
	a := &CloudAccount{ID: strconv.FormatInt(100000000000+rng.Int64N(900000000000), 10), Region: "eu-west-1",
		Egress: publicIP(rng), NAT: publicIP(rng)}
	a.OIDC = "arn:aws:iam::" + a.ID + ":oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/" + awsID(rng, "")[:16] + "8C1B3F0D2E9A7C64"
	if o.Kube != nil {
		for _, n := range o.Kube.Nodes {
			a.AppAddrs = append(a.AppAddrs, n.IP)
		}
	} else {
		a.AppAddrs = []netip.Addr{a.NAT}
	}
	a.Buckets = []Bucket{
		{Name: "corp-payments-data", Sensitive: true, Prefixes: []string{"invoices", "settlements"}, Keys: 40000, Bytes: 60e3},
		{Name: "corp-customer-data", Sensitive: true, Prefixes: []string{"exports", "crm"}, Keys: 15000, Bytes: 2e6},
		{Name: "corp-finance-reports", Sensitive: true, Prefixes: []string{"monthly", "board"}, Keys: 800, Bytes: 800e3},
		{Name: "corp-web-assets", Prefixes: []string{"static", "img"}, Keys: 5000, Bytes: 40e3},
		{Name: "corp-data-lake", Prefixes: []string{"raw", "curated"}, Keys: 200000, Bytes: 30e6},
		{Name: "corp-ci-artifacts", Prefixes: []string{"builds"}, Keys: 20000, Bytes: 25e6},
	}
	for i := range a.Buckets {
		a.Buckets[i].Name += "-" + a.ID[8:]
	}
	role := func(name, kind, sa string, buckets ...int) {
		a.Roles = append(a.Roles, IAMRole{Name: name, ID: awsID(rng, "AROA"), Kind: kind, SA: sa, Buckets: buckets,
			Rate: 380 * math.Exp(0.9*rng.NormFloat64()), Writes: 0.05 + 0.3*rng.Float64()})
	}
	role("web-frontend-app", "app", "web:frontend", 3)
	role("payments-app", "app", "payments:payments-api", 0)
	role("ledger-app", "app", "payments:ledger-worker", 0, 2)
	role("etl-app", "app", "data:etl-scheduler", 4, 1)
	role("ci-deploy-role", "ci", "", 5)
	role("platform-admin", "admin", "")
	for i := range o.Users {
		u := &o.Users[i]
		p := 0.0
		switch u.Role {
		case "developer":
			p = 0.6
		case "admin":
			p = 0.8
		}
		if rng.Float64() >= p {
			continue
		}
		a.Users = append(a.Users, IAMUser{Name: u.Name, User: i, ID: awsID(rng, "AIDA"), Key: awsID(rng, "AKIA"),
			Console: u.Role == "admin" || rng.Float64() < 0.5, Home: publicIP(rng),
			UA:      "aws-cli/2.15." + strconv.Itoa(20+rng.IntN(30)) + " Python/3.11.8 " + cliPlatforms[rng.IntN(len(cliPlatforms))] + " prompt/off",
			Browser: browsers[rng.IntN(len(browsers))]})
	}
	for _, m := range []string{"ci-deploy", "svc-reporting"} {
		a.Users = append(a.Users, IAMUser{Name: m, User: -1, ID: awsID(rng, "AIDA"), Key: awsID(rng, "AKIA"), Home: a.NAT,
			UA: "aws-cli/2.15.40 Python/3.11.8 Linux/6.1.0-21-amd64 exe/x86_64.debian.12 prompt/off"})
	}
	a.Users[len(a.Users)-1].UA = "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#6.1.0-21-amd64 md/arch#x86_64 lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.84"
	return a
}

func (a *CloudAccount) user(name string) *IAMUser {
	for i := range a.Users {
		if a.Users[i].Name == name {
			return &a.Users[i]
		}
	}
	return nil
}

func (a *CloudAccount) role(name string) *IAMRole {
	for i := range a.Roles {
		if a.Roles[i].Name == name {
			return &a.Roles[i]
		}
	}
	return nil
}

// UserARN is an IAM user's ARN.
func (a *CloudAccount) UserARN(u *IAMUser) string { return "arn:aws:iam::" + a.ID + ":user/" + u.Name }

// RoleARN is a role's ARN.
func (a *CloudAccount) RoleARN(r *IAMRole) string { return "arn:aws:iam::" + a.ID + ":role/" + r.Name }

// awsPrincipal is who made a call, as userIdentity says.
type awsPrincipal struct {
	user    *IAMUser // IAMUser calls
	role    *IAMRole // AssumedRole calls
	session string
	key     string    // accessKeyId; empty for ConsoleLogin
	created time.Time // session creation (console sessions, assumed roles); zero for long-term keys
	mfa     bool
	web     string // WebIdentityUser: the service account (ns:name)
}

// ctReq is one CloudTrail record's content.
type ctReq struct {
	p        *awsPrincipal
	source   string // without ".amazonaws.com"
	name     string
	region   string // the account's region unless set
	ip       netip.Addr
	ua       string
	params   string // requestParameters JSON; empty for null
	resp     string // responseElements JSON; empty for null
	addl     string // additionalEventData JSON; empty to omit
	readOnly bool
	console  bool   // AwsConsoleSignIn
	object   string // S3 data event: the object key ("" with data for bucket-level data events)
	bucket   string
	data     bool
	// s3obj: an object data event; requestParameters and additionalEventData are
	// written from bucket, object and the byte counts (no string building per record).
	s3obj             bool
	bytesIn, bytesOut int64
	errCode           string
	errMsg            string
}

func appendCTTime(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
}

// appendIdentity writes the userIdentity object.
func (a *CloudAccount) appendIdentity(b []byte, p *awsPrincipal) []byte {
	switch {
	case p.web != "":
		b = append(b, `{"type":"WebIdentityUser","principalId":"`...)
		b = append(b, a.OIDC...)
		b = append(b, `:sts.amazonaws.com:system:serviceaccount:`...)
		b = append(b, p.web...)
		b = append(b, `","userName":"system:serviceaccount:`...)
		b = append(b, p.web...)
		b = append(b, `","identityProvider":"`...)
		b = append(b, a.OIDC...)
		return append(b, `"}`...)
	case p.role != nil:
		b = append(b, `{"type":"AssumedRole","principalId":"`...)
		b = append(b, p.role.ID...)
		b = append(b, ':')
		b = append(b, p.session...)
		b = append(b, `","arn":"arn:aws:sts::`...)
		b = append(b, a.ID...)
		b = append(b, `:assumed-role/`...)
		b = append(b, p.role.Name...)
		b = append(b, '/')
		b = append(b, p.session...)
		b = append(b, `","accountId":"`...)
		b = append(b, a.ID...)
		b = append(b, `","accessKeyId":"`...)
		b = append(b, p.key...)
		b = append(b, `","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"`...)
		b = append(b, p.role.ID...)
		b = append(b, `","arn":"`...)
		b = append(b, a.RoleARN(p.role)...)
		b = append(b, `","accountId":"`...)
		b = append(b, a.ID...)
		b = append(b, `","userName":"`...)
		b = append(b, p.role.Name...)
		b = append(b, `"},"webIdFederationData":{},"attributes":{"creationDate":"`...)
		b = appendCTTime(b, p.created)
		b = append(b, `","mfaAuthenticated":"`...)
		b = strconv.AppendBool(b, p.mfa)
		return append(b, `"}}}`...)
	}
	b = append(b, `{"type":"IAMUser","principalId":"`...)
	b = append(b, p.user.ID...)
	b = append(b, `","arn":"`...)
	b = append(b, a.UserARN(p.user)...)
	b = append(b, `","accountId":"`...)
	b = append(b, a.ID...)
	if p.key != "" {
		b = append(b, `","accessKeyId":"`...)
		b = append(b, p.key...)
	}
	b = append(b, `","userName":"`...)
	b = append(b, p.user.Name...)
	b = append(b, '"')
	if !p.created.IsZero() {
		b = append(b, `,"sessionContext":{"sessionIssuer":{},"webIdFederationData":{},"attributes":{"creationDate":"`...)
		b = appendCTTime(b, p.created)
		b = append(b, `","mfaAuthenticated":"`...)
		b = strconv.AppendBool(b, p.mfa)
		b = append(b, `"}}`...)
	}
	return append(b, '}')
}

// CloudTrail writes one CloudTrail record, one JSON object per line.
func (e *Emitter) CloudTrail(t time.Time, technique string, r *ctReq) {
	a := e.org.Cloud
	b := e.buf[:0]
	b = append(b, `{"eventVersion":"1.09","userIdentity":`...)
	b = a.appendIdentity(b, r.p)
	b = append(b, `,"eventTime":"`...)
	b = appendCTTime(b, t)
	b = append(b, `","eventSource":"`...)
	b = append(b, r.source...)
	b = append(b, `.amazonaws.com","eventName":"`...)
	b = append(b, r.name...)
	b = append(b, `","awsRegion":"`...)
	region := r.region
	if region == "" {
		region = a.Region
	}
	b = append(b, region...)
	b = append(b, `","sourceIPAddress":"`...)
	b = r.ip.AppendTo(b)
	b = append(b, `","userAgent":`...)
	b = appendJSONStr(b, r.ua)
	if r.errCode != "" {
		b = append(b, `,"errorCode":`...)
		b = appendJSONStr(b, r.errCode)
	}
	if r.errMsg != "" {
		b = append(b, `,"errorMessage":`...)
		b = appendJSONStr(b, r.errMsg)
	}
	b = append(b, `,"requestParameters":`...)
	if r.s3obj {
		b = append(b, `{"bucketName":"`...)
		b = append(b, r.bucket...)
		b = append(b, `","Host":"`...)
		b = append(b, r.bucket...)
		b = append(b, ".s3."...)
		b = append(b, region...)
		b = append(b, `.amazonaws.com","key":`...)
		b = appendJSONStr(b, r.object)
		b = append(b, '}')
	} else if r.params == "" {
		b = append(b, "null"...)
	} else {
		b = append(b, r.params...)
	}
	b = append(b, `,"responseElements":`...)
	if r.resp == "" {
		b = append(b, "null"...)
	} else {
		b = append(b, r.resp...)
	}
	if r.s3obj {
		b = append(b, `,"additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":`...)
		b = strconv.AppendInt(b, r.bytesIn, 10)
		b = append(b, `,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"`...)
		for range 24 {
			b = append(b, uidChars[e.rng.IntN(len(uidChars))])
		}
		b = append(b, `=","bytesTransferredOut":`...)
		b = strconv.AppendInt(b, r.bytesOut, 10)
		b = append(b, '}')
	} else if r.addl != "" {
		b = append(b, `,"additionalEventData":`...)
		b = append(b, r.addl...)
	}
	if !r.console {
		b = append(b, `,"requestID":"`...)
		if r.source == "s3" {
			for range 16 {
				b = append(b, "0123456789ABCDEF"[e.rng.IntN(16)])
			}
		} else {
			b = appendAuditUUID(b, e.rng)
		}
		b = append(b, '"')
	}
	b = append(b, `,"eventID":"`...)
	b = appendAuditUUID(b, e.rng)
	b = append(b, `","readOnly":`...)
	b = strconv.AppendBool(b, r.readOnly)
	if r.bucket != "" && r.source == "s3" {
		b = append(b, `,"resources":[`...)
		if r.object != "" {
			b = append(b, `{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::`...)
			b = append(b, r.bucket...)
			b = append(b, '/')
			b = append(b, r.object...)
			b = append(b, `"},`...)
		}
		b = append(b, `{"accountId":"`...)
		b = append(b, a.ID...)
		b = append(b, `","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::`...)
		b = append(b, r.bucket...)
		b = append(b, `"}]`...)
	}
	if r.console {
		b = append(b, `,"eventType":"AwsConsoleSignIn"`...)
	} else {
		b = append(b, `,"eventType":"AwsApiCall"`...)
	}
	if r.data {
		b = append(b, `,"managementEvent":false,"recipientAccountId":"`...)
		b = append(b, a.ID...)
		b = append(b, `","eventCategory":"Data"`...)
	} else {
		b = append(b, `,"managementEvent":true,"recipientAccountId":"`...)
		b = append(b, a.ID...)
		b = append(b, `","eventCategory":"Management"`...)
	}
	b = append(b, `,"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"`...)
	switch {
	case r.console:
		b = append(b, "signin.aws.amazon.com"...)
	case r.source == "s3" && r.bucket != "":
		b = append(b, r.bucket...)
		b = append(b, ".s3."...)
		b = append(b, region...)
		b = append(b, ".amazonaws.com"...)
	case r.source == "iam" || r.source == "sts" && region == "us-east-1":
		b = append(b, r.source...)
		b = append(b, ".amazonaws.com"...)
	default:
		b = append(b, r.source...)
		b = append(b, '.')
		b = append(b, region...)
		b = append(b, ".amazonaws.com"...)
	}
	b = append(b, "\"}}\n"...)
	e.buf = b
	e.Line(fCloudTrail, t, technique, b)
}

// s3Object writes a GetObject or PutObject data event.
func (e *Emitter) s3Object(t time.Time, technique string, p *awsPrincipal, ip netip.Addr, ua string, put bool, bk *Bucket, key string, size int64) {
	r := ctReq{p: p, source: "s3", name: "GetObject", ip: ip, ua: ua, readOnly: true, bucket: bk.Name, object: key, data: true, s3obj: true, bytesOut: size}
	if put {
		r.name, r.readOnly, r.bytesIn, r.bytesOut = "PutObject", false, size, 0
		r.resp = `{"x-amz-server-side-encryption":"AES256"}`
	}
	e.CloudTrail(t, technique, &r)
}

var objectExts = []string{"json", "csv", "pdf", "parquet"}

// objectKey draws a key of the bucket, Zipf-like: a few objects are read very often.
func objectKey(rng *rand.Rand, bk *Bucket, day time.Time) string {
	i := int(math.Exp(rng.Float64() * math.Log(float64(bk.Keys))))
	b := make([]byte, 0, 40)
	b = append(b, bk.Prefixes[i%len(bk.Prefixes)]...)
	b = append(b, '/')
	b = day.AppendFormat(b, "2006/01/")
	b = append(b, strconv.Itoa(1000000 + i)[1:]...) // six digits, zero-padded
	b = append(b, '.')
	b = append(b, objectExts[i%len(objectExts)]...)
	return string(b)
}

// readCall is a read-only call developers make.
type readCall struct {
	source, name, params, region string
	weight                       float64
}

var devReads = []readCall{
	{"ec2", "DescribeInstances", `{"instancesSet":{},"filterSet":{}}`, "", 8},
	{"sts", "GetCallerIdentity", "", "", 6},
	{"eks", "DescribeCluster", `{"name":"prod-eu1"}`, "", 6},
	{"logs", "FilterLogEvents", `{"logGroupName":"/aws/eks/prod-eu1/cluster","startTime":0,"interleaved":true}`, "", 5},
	{"ec2", "DescribeSecurityGroups", `{"securityGroupSet":{},"securityGroupIdSet":{},"filterSet":{}}`, "", 4},
	{"s3", "ListBuckets", `{"Host":"s3.eu-west-1.amazonaws.com"}`, "", 3},
	{"cloudformation", "DescribeStacks", "", "", 3},
	{"ecr", "DescribeRepositories", "", "", 2},
	{"lambda", "ListFunctions20150331", "", "", 2},
	{"rds", "DescribeDBInstances", "", "", 2},
	{"ssm", "GetParameter", `{"name":"/prod/web/feature-flags","withDecryption":false}`, "", 2},
	{"logs", "DescribeLogGroups", `{"limit":50}`, "", 2},
	{"iam", "GetUser", "", "us-east-1", 1},
	{"iam", "ListRoles", "", "us-east-1", 0.5},
	{"s3", "GetBucketAcl", "", "", 0.4},
	{"cloudwatch", "GetMetricData", "", "", 1.5},
}

var devReadsCDF = func() []float64 {
	var c []float64
	s := 0.0
	for _, r := range devReads {
		s += r.weight
		c = append(c, s)
	}
	return c
}()

func pickRead(rng *rand.Rand) *readCall {
	x := rng.Float64() * devReadsCDF[len(devReadsCDF)-1]
	for i, c := range devReadsCDF {
		if x < c {
			return &devReads[i]
		}
	}
	return &devReads[len(devReads)-1]
}

// cloudSource is the account's benign day: console sign-ins and CLI reads by
// developers and admins in working hours, CI pipelines assuming their role, the
// cluster's workloads (web identity) reading and writing their buckets with a
// daily and weekly rhythm, a nightly reporting job, admins rotating keys.
type cloudSource struct {
	rng *rand.Rand
	org *Org
	a   *CloudAccount
}

func newCloudSource(rng *rand.Rand, org *Org) Source {
	return &cloudSource{rng: rng, org: org, a: org.Cloud}
}

// appHour is the share of a day's application traffic in each UTC hour.
var appHour = func() [24]float64 {
	var w [24]float64
	s := 0.0
	for h := range 24 {
		w[h] = 0.25 + math.Exp(-math.Pow(float64(h)-13, 2)/18)
		s += w[h]
	}
	for h := range w {
		w[h] /= s
	}
	return w
}()

// Day implements Source.
func (s *cloudSource) Day(em *Emitter, day time.Time) {
	rng, a := s.rng, s.a
	wd := day.Weekday()
	weekend := wd == time.Saturday || wd == time.Sunday
	for i := range a.Users {
		if a.Users[i].User >= 0 {
			s.person(em, day, weekend, &a.Users[i])
		}
	}
	s.workloads(em, day, weekend)
	s.pipelines(em, day, weekend)
	// The nightly finance report job.
	rep := a.user("svc-reporting")
	fin := &a.Buckets[2]
	t := day.Add(2*time.Hour + time.Duration(rng.IntN(600))*time.Second)
	p := &awsPrincipal{user: rep, key: rep.Key}
	for range 10 + poissonCount(rng, 25) {
		t = t.Add(time.Duration(200+rng.IntN(3000)) * time.Millisecond)
		em.s3Object(t, "", p, a.NAT, rep.UA, false, fin, objectKey(rng, fin, day), int64(fin.Bytes*math.Exp(0.7*rng.NormFloat64())))
	}
}

// person: one employee's console and CLI use of the day.
func (s *cloudSource) person(em *Emitter, day time.Time, weekend bool, iu *IAMUser) {
	rng, a := s.rng, s.a
	u := &s.org.Users[iu.User]
	pActive := 0.6
	if weekend {
		pActive = 0.04
	}
	if rng.Float64() > pActive {
		return
	}
	// The same office egress and home addresses the identity providers see, when
	// the organisation has a geography.
	office, home := a.Egress, iu.Home
	if g := s.org.Geo; g != nil {
		if e := g.Egress(u.Office); e.IsValid() {
			office = e
		}
		if h := g.Home(iu.User, u.Office); h.IsValid() {
			home = h
		}
	}
	ip := office
	if rng.Float64() < 0.2 || u.Traveller && rng.Float64() < 0.5 {
		ip = home
	}
	local := day.Add(-time.Duration(u.Office.Offset) * time.Hour)
	on := local.Add(time.Duration((u.StartHour + 0.5*rng.NormFloat64()) * float64(time.Hour)))
	span := time.Duration(u.WorkHours * float64(time.Hour))
	at := func() time.Time { return on.Add(time.Duration(rng.Float64() * float64(span))).Truncate(time.Second) }
	if iu.Console && rng.Float64() < 0.8 {
		t := at()
		login := &awsPrincipal{user: iu}
		if rng.Float64() < 0.03 { // a mistyped password first
			em.CloudTrail(t, "", &ctReq{p: login, source: "signin", name: "ConsoleLogin", region: "us-east-1", ip: ip, ua: iu.Browser, console: true,
				resp: `{"ConsoleLogin":"Failure"}`, addl: `{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"No"}`,
				errMsg: "Failed authentication"})
			t = t.Add(time.Duration(10+rng.IntN(40)) * time.Second)
		}
		em.CloudTrail(t, "", &ctReq{p: login, source: "signin", name: "ConsoleLogin", region: "us-east-1", ip: ip, ua: iu.Browser, console: true,
			resp: `{"ConsoleLogin":"Success"}`, addl: `{"LoginTo":"https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true","MobileVersion":"No","MFAIdentifier":"arn:aws:iam::` + a.ID + `:mfa/` + iu.Name + `","MFAUsed":"Yes"}`})
		sess := &awsPrincipal{user: iu, key: awsID(rng, "ASIA"), created: t, mfa: true}
		for range min(int(math.Ceil(4*math.Exp(0.9*rng.NormFloat64()))), 120) {
			t = t.Add(time.Duration(rng.ExpFloat64() * float64(90*time.Second)))
			rc := pickRead(rng)
			em.CloudTrail(t, "", s.readReq(sess, rc, ip, iu.Browser))
		}
	}
	if u.Role == "admin" && !weekend && rng.Float64() < 0.12 {
		s.adminChange(em, at(), iu, ip)
	}
	if rng.Float64() < 0.75 {
		p := &awsPrincipal{user: iu, key: iu.Key}
		t := at()
		n := min(int(math.Ceil(8*math.Exp(1.0*rng.NormFloat64()))), 400)
		for range n {
			t = t.Add(time.Duration(rng.ExpFloat64() * float64(span) / float64(2*n+1)))
			rc := pickRead(rng)
			em.CloudTrail(t.Truncate(time.Second), "", s.readReq(p, rc, ip, iu.UA+" command/"+rc.source+"."+rc.name))
		}
	}
}

// readReq is a read-only call.
func (s *cloudSource) readReq(p *awsPrincipal, rc *readCall, ip netip.Addr, ua string) *ctReq {
	r := &ctReq{p: p, source: rc.source, name: rc.name, region: rc.region, ip: ip, ua: ua, params: rc.params, readOnly: true}
	if rc.name == "GetBucketAcl" {
		bk := &s.a.Buckets[s.rng.IntN(len(s.a.Buckets))]
		r.bucket = bk.Name
		r.params = `{"bucketName":"` + bk.Name + `","Host":"` + bk.Name + `.s3.` + s.a.Region + `.amazonaws.com","acl":""}`
	}
	return r
}

// adminChange: an admin assumes the admin role with MFA and rotates a user's key or
// grants a managed policy, benign IAM writes that look like the attack's.
func (s *cloudSource) adminChange(em *Emitter, t time.Time, iu *IAMUser, ip netip.Addr) {
	rng, a := s.rng, s.a
	adm := a.role("platform-admin")
	p := &awsPrincipal{user: iu, key: iu.Key}
	session := iu.Name
	key := awsID(rng, "ASIA")
	em.CloudTrail(t, "", &ctReq{p: p, source: "sts", name: "AssumeRole", ip: ip, ua: iu.UA + " command/sts.assume-role", readOnly: true,
		params: `{"roleArn":"` + a.RoleARN(adm) + `","roleSessionName":"` + session + `","durationSeconds":3600,"serialNumber":"arn:aws:iam::` + a.ID + `:mfa/` + iu.Name + `","tokenCode":"***"}`,
		resp:   `{"credentials":{"accessKeyId":"` + key + `","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLE","expiration":"` + t.Add(time.Hour).UTC().Format("Jan 2, 2006, 3:04:05 PM") + `"},"assumedRoleUser":{"assumedRoleId":"` + adm.ID + `:` + session + `","arn":"arn:aws:sts::` + a.ID + `:assumed-role/` + adm.Name + `/` + session + `"}}`})
	ap := &awsPrincipal{role: adm, session: session, key: key, created: t, mfa: true}
	target := &a.Users[rng.IntN(len(a.Users))]
	t = t.Add(time.Duration(30+rng.IntN(300)) * time.Second)
	ua := iu.UA + " command/iam."
	if rng.Float64() < 0.6 {
		nk := awsID(rng, "AKIA")
		em.CloudTrail(t, "", &ctReq{p: ap, source: "iam", name: "CreateAccessKey", region: "us-east-1", ip: ip, ua: ua + "create-access-key",
			params: `{"userName":"` + target.Name + `"}`,
			resp:   `{"accessKey":{"userName":"` + target.Name + `","accessKeyId":"` + nk + `","status":"Active","createDate":"` + t.UTC().Format("Jan 2, 2006, 3:04:05 PM") + `"}}`})
		t = t.Add(time.Duration(60+rng.IntN(600)) * time.Second)
		em.CloudTrail(t, "", &ctReq{p: ap, source: "iam", name: "UpdateAccessKey", region: "us-east-1", ip: ip, ua: ua + "update-access-key",
			params: `{"userName":"` + target.Name + `","accessKeyId":"` + target.Key + `","status":"Inactive"}`})
		return
	}
	em.CloudTrail(t, "", &ctReq{p: ap, source: "iam", name: "AttachUserPolicy", region: "us-east-1", ip: ip, ua: ua + "attach-user-policy",
		params: `{"userName":"` + target.Name + `","policyArn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}`})
}

// workloads: the cluster's applications use their buckets through web identity.
func (s *cloudSource) workloads(em *Emitter, day time.Time, weekend bool) {
	rng, a := s.rng, s.a
	f := 1.0
	if weekend {
		f = 0.35
	}
	for ri := range a.Roles {
		r := &a.Roles[ri]
		if r.Kind != "app" {
			continue
		}
		ip := a.AppAddrs[ri%len(a.AppAddrs)]
		ua := "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.1"
		dayRate := r.Rate * f * math.Exp(0.25*rng.NormFloat64())
		for h := range 24 {
			hs := day.Add(time.Duration(h) * time.Hour)
			created := hs.Add(time.Duration(rng.IntN(120)) * time.Second)
			session := "aws-go-sdk-" + strconv.FormatInt(created.UnixNano()/1e6, 10)
			web := &awsPrincipal{web: r.SA}
			key := awsID(rng, "ASIA")
			em.CloudTrail(created, "", &ctReq{p: web, source: "sts", name: "AssumeRoleWithWebIdentity", ip: ip, ua: "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.6",
				readOnly: true, params: `{"roleArn":"` + a.RoleARN(r) + `","roleSessionName":"` + session + `"}`,
				resp: `{"credentials":{"accessKeyId":"` + key + `","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLE","expiration":"` + created.Add(time.Hour).UTC().Format("Jan 2, 2006, 3:04:05 PM") + `"},"subjectFromWebIdentityToken":"system:serviceaccount:` + r.SA + `","assumedRoleUser":{"assumedRoleId":"` + r.ID + `:` + session + `","arn":"arn:aws:sts::` + a.ID + `:assumed-role/` + r.Name + `/` + session + `"},"provider":"` + a.OIDC + `","audience":"sts.amazonaws.com"}`})
			p := &awsPrincipal{role: r, session: session, key: key, created: created}
			for range poissonCount(rng, dayRate*appHour[h]) {
				t := created.Add(time.Duration(rng.Int64N(int64(58 * time.Minute)))).Truncate(time.Second)
				bk := &a.Buckets[r.Buckets[rng.IntN(len(r.Buckets))]]
				size := int64(bk.Bytes * math.Exp(1.1*rng.NormFloat64()))
				em.s3Object(t, "", p, ip, ua, rng.Float64() < r.Writes, bk, objectKey(rng, bk, day), size)
			}
		}
	}
}

// pipelines: CI jobs assume the deploy role, log in to ECR, upload artifacts and
// look up the cluster.
func (s *cloudSource) pipelines(em *Emitter, day time.Time, weekend bool) {
	rng, a := s.rng, s.a
	ci, role := a.user("ci-deploy"), a.role("ci-deploy-role")
	mean := 7.0
	if weekend {
		mean = 0.6
	}
	art := &a.Buckets[role.Buckets[0]]
	for range poissonCount(rng, mean) {
		t := day.Add(time.Duration((7 + 11*rng.Float64()) * float64(time.Hour))).Truncate(time.Second)
		session := "gitlab-ci-" + strconv.Itoa(100000+rng.IntN(900000))
		key := awsID(rng, "ASIA")
		em.CloudTrail(t, "", &ctReq{p: &awsPrincipal{user: ci, key: ci.Key}, source: "sts", name: "AssumeRole", ip: a.NAT, ua: ci.UA + " command/sts.assume-role", readOnly: true,
			params: `{"roleArn":"` + a.RoleARN(role) + `","roleSessionName":"` + session + `","durationSeconds":3600}`,
			resp:   `{"credentials":{"accessKeyId":"` + key + `","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLE","expiration":"` + t.Add(time.Hour).UTC().Format("Jan 2, 2006, 3:04:05 PM") + `"},"assumedRoleUser":{"assumedRoleId":"` + role.ID + `:` + session + `","arn":"arn:aws:sts::` + a.ID + `:assumed-role/` + role.Name + `/` + session + `"}}`})
		p := &awsPrincipal{role: role, session: session, key: key, created: t}
		t = t.Add(time.Duration(2+rng.IntN(5)) * time.Second)
		em.CloudTrail(t, "", &ctReq{p: p, source: "ecr", name: "GetAuthorizationToken", ip: a.NAT, ua: ci.UA + " command/ecr.get-login-password", readOnly: true,
			resp: `{"authorizationData":[{"authorizationToken":"HIDDEN_DUE_TO_SECURITY_REASONS","expiresAt":"` + t.Add(12*time.Hour).UTC().Format("Jan 2, 2006, 3:04:05 PM") + `","proxyEndpoint":"https://` + a.ID + `.dkr.ecr.eu-west-1.amazonaws.com"}]}`})
		for range 1 + rng.IntN(3) {
			t = t.Add(time.Duration(20+rng.IntN(200)) * time.Second)
			em.s3Object(t, "", p, a.NAT, ci.UA+" command/s3.cp", true, art, objectKey(rng, art, day), int64(art.Bytes*math.Exp(0.8*rng.NormFloat64())))
		}
		t = t.Add(time.Duration(5+rng.IntN(60)) * time.Second)
		em.CloudTrail(t, "", &ctReq{p: p, source: "eks", name: "DescribeCluster", ip: a.NAT, ua: ci.UA + " command/eks.update-kubeconfig", readOnly: true, params: `{"name":"prod-eu1"}`})
	}
}

// CloudCampaign: a developer's access key, leaked, is used from an unfamiliar
// address: identity checks and IAM discovery, a refused AttachUserPolicy, then
// privilege escalation through a new default version of the developers' policy,
// AdministratorAccess attached, an access key created for a machine user; bucket
// discovery, a bulk download of a sensitive bucket, and replication of it to an
// account outside the organisation.
type CloudCampaign struct {
	id string
	schedule
	attacker netip.Addr
	victim   *IAMUser
	person   *User
	other    *IAMUser // given a new access key
	bucket   *Bucket
	external string // the attacker's account
	arns     [2]string
}

// NewCloudCampaign returns the campaign with the given id.
func NewCloudCampaign(id string) *CloudCampaign { return &CloudCampaign{id: id} }

// ID implements Campaign.
func (c *CloudCampaign) ID() string { return c.id }

// Plan implements Campaign.
func (c *CloudCampaign) Plan(rng *rand.Rand, org *Org, from, to time.Time) {
	a := org.Cloud
	var devs []*IAMUser
	for i := range a.Users {
		if iu := &a.Users[i]; iu.User >= 0 && org.Users[iu.User].Role == "developer" {
			devs = append(devs, iu)
		}
	}
	if len(devs) == 0 { // a tiny organisation: any person with a key
		for i := range a.Users {
			if a.Users[i].User >= 0 {
				devs = append(devs, &a.Users[i])
			}
		}
	}
	if len(devs) == 0 {
		devs = append(devs, &a.Users[0])
	}
	c.victim = devs[rng.IntN(len(devs))]
	if c.victim.User >= 0 {
		c.person = &org.Users[c.victim.User]
	}
	c.other = a.user("svc-reporting")
	c.bucket = &a.Buckets[1+rng.IntN(2)] // customer data or finance reports
	c.attacker = netip.AddrFrom4([4]byte{193, 142, 146, byte(2 + rng.IntN(250))})
	c.external = strconv.FormatInt(100000000000+rng.Int64N(900000000000), 10)
	c.arns = [2]string{a.UserARN(c.victim), a.UserARN(c.other)}
	cli := "aws-cli/1.29.62 Python/3.11.6 Linux/6.5.0-kali3-amd64 botocore/1.31.62"
	boto := "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#6.5.0-kali3-amd64 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.11"
	p := &awsPrincipal{user: c.victim, key: c.victim.Key}
	call := func(r ctReq) func(em *Emitter, t time.Time, tech string) {
		return func(em *Emitter, t time.Time, tech string) {
			if r.p == nil {
				r.p = p
			}
			r.ip = c.attacker
			if r.ua == "" {
				r.ua = cli
			}
			em.CloudTrail(t, tech, &r)
		}
	}
	policy := "arn:aws:iam::" + a.ID + ":policy/" + DevPolicy
	t := within(rng, from, to, 0.5)
	step := func(lo, hi int) { t = t.Add(time.Duration(lo+rng.IntN(hi-lo+1)) * time.Second) }
	// 1. Whose key is this, and what may it do.
	c.at(t, "T1078.004", call(ctReq{source: "sts", name: "GetCallerIdentity", readOnly: true}))
	step(30, 120)
	c.at(t, "T1087.004", call(ctReq{source: "iam", name: "ListUsers", region: "us-east-1", readOnly: true}))
	step(10, 60)
	c.at(t, "T1069.003", call(ctReq{source: "iam", name: "ListAttachedUserPolicies", region: "us-east-1", readOnly: true, params: `{"userName":"` + c.victim.Name + `"}`}))
	step(10, 60)
	c.at(t, "T1069.003", call(ctReq{source: "iam", name: "GetPolicyVersion", region: "us-east-1", readOnly: true, params: `{"policyArn":"` + policy + `","versionId":"v3"}`}))
	// 2. Escalation: refused directly, then through the policy's new default version.
	step(60, 400)
	attach := `{"userName":"` + c.victim.Name + `","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}`
	c.at(t, "T1098.003", call(ctReq{source: "iam", name: "AttachUserPolicy", region: "us-east-1", params: attach, errCode: "AccessDenied",
		errMsg: "User: " + c.arns[0] + " is not authorized to perform: iam:AttachUserPolicy on resource: user " + c.victim.Name + " because no identity-based policy allows the iam:AttachUserPolicy action"}))
	step(120, 600)
	ts := t
	c.at(t, "T1098.003", call(ctReq{source: "iam", name: "CreatePolicyVersion", region: "us-east-1",
		params: `{"policyArn":"` + policy + `","policyDocument":"{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"*\"}]}","setAsDefault":true}`,
		resp:   `{"policyVersion":{"versionId":"v4","isDefaultVersion":true,"createDate":"` + ts.UTC().Format("Jan 2, 2006, 3:04:05 PM") + `"}}`}))
	step(20, 90)
	c.at(t, "T1098.003", call(ctReq{source: "iam", name: "AttachUserPolicy", region: "us-east-1", params: attach}))
	// 3. A second way in: a key for a machine user nobody watches.
	step(60, 300)
	nk := awsID(rng, "AKIA")
	tk := t
	c.at(t, "T1098.001", call(ctReq{source: "iam", name: "CreateAccessKey", region: "us-east-1", params: `{"userName":"` + c.other.Name + `"}`,
		resp: `{"accessKey":{"userName":"` + c.other.Name + `","accessKeyId":"` + nk + `","status":"Active","createDate":"` + tk.UTC().Format("Jan 2, 2006, 3:04:05 PM") + `"}}`}))
	step(30, 120)
	c.at(t, "T1078.004", call(ctReq{p: &awsPrincipal{user: c.other, key: nk}, source: "sts", name: "GetCallerIdentity", readOnly: true, ua: boto}))
	// 4. What is stored where.
	step(300, 1500)
	c.at(t, "T1580", call(ctReq{source: "s3", name: "ListBuckets", readOnly: true, params: `{"Host":"s3.amazonaws.com"}`}))
	bk := c.bucket
	host := bk.Name + ".s3." + a.Region + ".amazonaws.com"
	step(10, 60)
	c.at(t, "T1619", call(ctReq{source: "s3", name: "GetBucketAcl", readOnly: true, bucket: bk.Name, params: `{"bucketName":"` + bk.Name + `","Host":"` + host + `","acl":""}`}))
	step(5, 30)
	c.at(t, "T1619", call(ctReq{source: "s3", name: "GetBucketPolicy", readOnly: true, bucket: bk.Name, params: `{"bucketName":"` + bk.Name + `","Host":"` + host + `","policy":""}`,
		errCode: "NoSuchBucketPolicy", errMsg: "The bucket policy does not exist"}))
	for range 2 + rng.IntN(4) {
		step(2, 10)
		c.at(t, "T1619", call(ctReq{source: "s3", name: "ListObjects", readOnly: true, bucket: bk.Name, data: true, ua: boto,
			params: `{"list-type":"2","bucketName":"` + bk.Name + `","encoding-type":"url","prefix":"","Host":"` + host + `"}`,
			addl:   `{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","bytesTransferredOut":` + strconv.Itoa(180000+rng.IntN(80000)) + `}`}))
	}
	// 5. The bulk download: many objects, large, fast.
	step(60, 300)
	day := t.Truncate(24 * time.Hour)
	for range 80 + rng.IntN(170) {
		step(1, 8)
		key := objectKey(rng, bk, day)
		size := int64(3 * bk.Bytes * math.Exp(0.8*rng.NormFloat64()))
		c.at(t, "T1530", func(em *Emitter, t time.Time, tech string) {
			em.s3Object(t, tech, &awsPrincipal{user: c.victim, key: c.victim.Key}, c.attacker, boto, false, bk, key, size)
		})
	}
	// 6. And a standing copy in the attacker's account.
	step(300, 1200)
	c.at(t, "T1537", call(ctReq{source: "s3", name: "PutBucketPolicy", bucket: bk.Name,
		params: `{"bucketPolicy":{"Version":"2012-10-17","Statement":[{"Sid":"sync","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + c.external + `:root"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::` + bk.Name + `","arn:aws:s3:::` + bk.Name + `/*"]}]},"bucketName":"` + bk.Name + `","Host":"` + host + `","policy":""}`}))
	step(30, 180)
	c.at(t, "T1537", call(ctReq{source: "s3", name: "PutBucketReplication", bucket: bk.Name,
		params: `{"ReplicationConfiguration":{"Role":"arn:aws:iam::` + a.ID + `:role/platform-admin","Rule":{"ID":"dr-copy","Status":"Enabled","Priority":1,"Filter":{"Prefix":""},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"arn:aws:s3:::dr-sync-` + c.external + `","Account":"` + c.external + `"}}},"bucketName":"` + bk.Name + `","Host":"` + host + `","replication":""}`}))
}

// Emit implements Campaign.
func (c *CloudCampaign) Emit(em *Emitter, from, to time.Time) { c.emit(em, from, to) }

// Truth implements Campaign.
func (c *CloudCampaign) Truth() TruthCampaign {
	a, b, techs := c.span()
	ents := []TruthEntity{
		{Kind: "cloud_principal", Value: c.arns[0], Aliases: []string{c.victim.Name}},
		{Kind: "cloud_principal", Value: c.arns[1], Aliases: []string{c.other.Name}},
		ipEntity(c.attacker)}
	if c.person != nil {
		u := c.person.Entity()
		u.Aliases = append(u.Aliases, c.person.Name)
		ents = append([]TruthEntity{u}, ents...)
	}
	return TruthCampaign{ID: c.id, Name: "leaked access key to IAM escalation and S3 exfiltration", Start: a, End: b, Techniques: techs, Entities: ents}
}
