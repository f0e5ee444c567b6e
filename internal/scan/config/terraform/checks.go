package terraform

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/vigilsec/vigil/internal/scan"
	"github.com/vigilsec/vigil/internal/scan/config/rule"
)

// Check runs the Terraform checks on a module and reports each finding
// through emit, in the module's resource order (callers sort a file's
// findings by line). Finding.Key is the resource's address.
func Check(m *Module, emit func(scan.Finding)) {
	c := &checker{m: m, emit: emit, byAddr: map[string]*Block{}}
	for _, b := range m.Resources {
		c.byAddr[b.Address()] = b
	}
	for _, b := range m.Data {
		c.byAddr[b.Address()] = b
	}
	for _, b := range m.Resources {
		c.resource(b)
	}
	for _, b := range m.Data {
		if b.Kind() == "aws_iam_policy_document" {
			c.policyDocument(b)
		}
	}
}

type checker struct {
	m      *Module
	emit   func(scan.Finding)
	byAddr map[string]*Block
}

func (c *checker) report(r rule.Rule, b *Block, line int, msg string) {
	if line == 0 {
		line = b.Line
	}
	c.emit(r.Finding(b.File, line, b.Address(), msg))
}

func (c *checker) resource(b *Block) {
	switch b.Kind() {
	case "aws_s3_bucket":
		c.s3Bucket(b)
	case "aws_s3_bucket_acl":
		c.s3ACL(b, b.Get("acl"))
		c.s3Grants(b)
	case "aws_s3_bucket_public_access_block", "aws_s3_account_public_access_block":
		c.publicAccessBlock(b)
	case "google_storage_bucket_iam_member", "google_storage_bucket_iam_binding",
		"google_storage_bucket_acl", "google_storage_bucket_access_control",
		"google_storage_default_object_access_control", "google_storage_object_access_control",
		"google_storage_default_object_acl", "google_storage_object_acl":
		c.gcsPublic(b)
	case "azurerm_storage_account":
		c.azureStorageAccount(b)
	case "azurerm_storage_container":
		if a := b.Get("container_access_type"); a != nil {
			if s, ok := a.Value.(string); ok && (s == "blob" || s == "container") {
				c.report(rAzureContainerPublic, b, a.Line, fmt.Sprintf("%s is readable anonymously (container_access_type = %q).", b.Address(), s))
			}
		}
	case "azurerm_managed_disk":
		for _, es := range b.Nested("encryption_settings") {
			if a := es.Get("enabled"); a != nil && isFalse(a.Value) {
				c.report(rAzureDiskUnencrypted, b, a.Line, b.Address()+" disables disk encryption (encryption_settings.enabled = false).")
			}
		}
	case "aws_security_group":
		for _, r := range b.records("ingress") {
			c.awsRule(b, r)
		}
	case "aws_security_group_rule":
		if t, _ := b.value("type"); t == "ingress" {
			c.awsRule(b, b.record())
		}
	case "aws_vpc_security_group_ingress_rule":
		c.awsRule(b, b.record())
	case "google_compute_firewall":
		c.gcpFirewall(b)
	case "azurerm_network_security_rule":
		c.azureNSGRule(b, b.record())
	case "azurerm_network_security_group":
		for _, r := range b.records("security_rule") {
			c.azureNSGRule(b, r)
		}
	case "aws_ebs_volume":
		if b.Get("snapshot_id") == nil {
			c.unencrypted(rEBSUnencrypted, b, "encrypted")
		}
	case "aws_db_instance":
		if b.Get("replicate_source_db") == nil && b.Get("snapshot_identifier") == nil {
			c.unencrypted(rRDSUnencrypted, b, "storage_encrypted")
		}
		if a := b.Get("publicly_accessible"); a != nil && isTrue(a.Value) {
			c.report(rRDSPublic, b, a.Line, b.Address()+" is publicly accessible (publicly_accessible = true).")
		}
	case "aws_rds_cluster":
		mode, _ := b.value("engine_mode")
		if mode != "serverless" && b.Get("replication_source_identifier") == nil && b.Get("snapshot_identifier") == nil {
			c.unencrypted(rRDSUnencrypted, b, "storage_encrypted")
		}
	case "google_sql_database_instance":
		c.cloudSQL(b)
	case "azurerm_sql_firewall_rule", "azurerm_mssql_firewall_rule", "azurerm_postgresql_firewall_rule",
		"azurerm_mysql_firewall_rule", "azurerm_mariadb_firewall_rule", "azurerm_postgresql_flexible_server_firewall_rule",
		"azurerm_mysql_flexible_server_firewall_rule", "azurerm_synapse_firewall_rule", "azurerm_cosmosdb_postgresql_firewall_rule":
		c.azureDBFirewall(b)
	case "aws_iam_policy", "aws_iam_role_policy", "aws_iam_user_policy", "aws_iam_group_policy":
		c.iamPolicy(b, b.Get("policy"))
	case "aws_iam_role":
		for _, ip := range b.Nested("inline_policy") {
			c.iamPolicy(b, ip.Get("policy"))
		}
	case "aws_instance", "aws_launch_template", "aws_launch_configuration":
		c.imds(b)
	}
}

// value returns an attribute's value (nil, false when absent).
func (b *Block) value(name string) (any, bool) {
	a := b.Get(name)
	if a == nil {
		return nil, false
	}
	return a.Value, true
}

// record is a set of fields with a line: a nested block, an element of an
// attribute written as a list of objects, or a resource's own attributes.
type record struct {
	vals  map[string]any
	lines map[string]int
	line  int
}

func (r record) get(name string) any { return r.vals[name] }

func (r record) lineOf(name string) int {
	if l := r.lines[name]; l > 0 {
		return l
	}
	return r.line
}

func (b *Block) record() record {
	r := record{vals: map[string]any{}, lines: map[string]int{}, line: b.Line}
	for n, a := range b.Attrs {
		r.vals[n], r.lines[n] = a.Value, a.Line
	}
	return r
}

// records returns the nested blocks of a type, or the objects of an
// attribute of that name (ingress = [{...}]).
func (b *Block) records(name string) []record {
	var out []record
	for _, nb := range b.Nested(name) {
		out = append(out, nb.record())
	}
	if a := b.Get(name); a != nil {
		if l, ok := a.Value.([]any); ok {
			for _, e := range l {
				if m, ok := e.(map[string]any); ok {
					out = append(out, record{vals: m, line: a.Line})
				}
			}
		}
	}
	return out
}

func isTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}

func isFalse(v any) bool {
	switch x := v.(type) {
	case bool:
		return !x
	case string:
		return strings.EqualFold(x, "false")
	}
	return false
}

// known reports whether v is wholly known.
func known(v any) bool {
	switch x := v.(type) {
	case Unknown:
		return false
	case []any:
		for _, e := range x {
			if !known(e) {
				return false
			}
		}
	case map[string]any:
		for _, e := range x {
			if !known(e) {
				return false
			}
		}
	}
	return true
}

// strs returns the known strings of a string or a list.
func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// unencrypted reports a resource whose encryption attribute is false or
// absent (the providers' default is unencrypted); unknown is not reported.
func (c *checker) unencrypted(r rule.Rule, b *Block, attr string) {
	a := b.Get(attr)
	switch {
	case a == nil:
		c.report(r, b, b.Line, fmt.Sprintf("%s is not encrypted (%s is not set and defaults to false).", b.Address(), attr))
	case isFalse(a.Value):
		c.report(r, b, a.Line, fmt.Sprintf("%s is not encrypted (%s = false).", b.Address(), attr))
	}
}

// refs returns the addresses of the resources and data sources an
// expression refers to (aws_s3_bucket.logs, data.aws_iam_policy_document.x).
func refs(a *Attr) []string {
	if a == nil || a.expr == nil {
		return nil
	}
	var out []string
	for _, tr := range a.expr.Variables() {
		root := tr.RootName()
		switch root {
		case "var", "local", "count", "each", "self", "path", "terraform", "module":
			continue
		case "data":
			if len(tr) >= 3 {
				t, ok1 := tr[1].(hcl.TraverseAttr)
				n, ok2 := tr[2].(hcl.TraverseAttr)
				if ok1 && ok2 {
					out = append(out, "data."+t.Name+"."+n.Name)
				}
			}
		default:
			if len(tr) >= 2 {
				if n, ok := tr[1].(hcl.TraverseAttr); ok {
					out = append(out, root+"."+n.Name)
				}
			}
		}
	}
	return out
}

// relatedTo returns the resources of a kind whose attr refers to target (by
// reference, or by the same literal value as target's attribute literal).
func (c *checker) relatedTo(kind, attr string, target *Block, literal string) []*Block {
	var lit string
	if literal != "" {
		lit, _ = target.Attrs[literal].valueString()
	}
	var out []*Block
	for _, b := range c.m.Resources {
		if b.Kind() != kind {
			continue
		}
		a := b.Get(attr)
		if a == nil {
			continue
		}
		if slices.Contains(refs(a), target.Address()) {
			out = append(out, b)
			continue
		}
		if s, ok := a.Value.(string); ok && lit != "" && s == lit {
			out = append(out, b)
		}
	}
	return out
}

func (a *Attr) valueString() (string, bool) {
	if a == nil {
		return "", false
	}
	s, ok := a.Value.(string)
	return s, ok
}

var publicACLs = map[string]bool{"public-read": true, "public-read-write": true, "authenticated-read": true}

func (c *checker) s3Bucket(b *Block) {
	// a bucket's public ACL is inert when a public access block on it
	// ignores public ACLs
	ignored := false
	for _, pab := range c.relatedTo("aws_s3_bucket_public_access_block", "bucket", b, "bucket") {
		if a := pab.Get("ignore_public_acls"); a != nil && isTrue(a.Value) {
			ignored = true
		}
	}
	if !ignored {
		c.s3ACL(b, b.Get("acl"))
	}
	if len(b.Nested("server_side_encryption_configuration")) == 0 &&
		len(c.relatedTo("aws_s3_bucket_server_side_encryption_configuration", "bucket", b, "bucket")) == 0 {
		c.report(rS3NoSSEConfig, b, b.Line, b.Address()+" has no server-side encryption configuration (S3's default SSE-S3 applies; no customer managed key).")
	}
}

func (c *checker) s3ACL(b *Block, a *Attr) {
	if s, ok := a.valueString(); ok && publicACLs[s] {
		c.report(rS3PublicACL, b, a.Line, fmt.Sprintf("%s grants public access with the %s ACL.", b.Address(), s))
	}
}

// s3Grants reports aws_s3_bucket_acl grants to the AllUsers or
// AuthenticatedUsers groups.
func (c *checker) s3Grants(b *Block) {
	for _, acp := range b.Nested("access_control_policy") {
		for _, g := range acp.Nested("grant") {
			for _, ge := range g.Nested("grantee") {
				uri, _ := ge.value("uri")
				if s, ok := uri.(string); ok && (strings.HasSuffix(s, "/global/AllUsers") || strings.HasSuffix(s, "/global/AuthenticatedUsers")) {
					c.report(rS3PublicACL, b, ge.Line, fmt.Sprintf("%s grants access to the %s group.", b.Address(), s[strings.LastIndexByte(s, '/')+1:]))
				}
			}
		}
	}
}

func (c *checker) publicAccessBlock(b *Block) {
	var off []string
	line := 0
	for _, f := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
		a := b.Get(f)
		switch {
		case a == nil:
			off = append(off, f+" is unset (false)")
		case isFalse(a.Value):
			off = append(off, f+" = false")
			if line == 0 {
				line = a.Line
			}
		}
	}
	if len(off) > 0 {
		c.report(rS3PublicAccessBlock, b, line, fmt.Sprintf("%s does not block public access: %s.", b.Address(), strings.Join(off, ", ")))
	}
}

func isPublicMember(s string) bool {
	return s == "allUsers" || s == "allAuthenticatedUsers"
}

func (c *checker) gcsPublic(b *Block) {
	for _, name := range []string{"member", "members", "entity", "role_entity"} {
		a := b.Get(name)
		if a == nil {
			continue
		}
		for _, s := range strs(a.Value) {
			// role_entity: "READER:allUsers"
			if i := strings.LastIndexByte(s, ':'); name == "role_entity" && i >= 0 {
				s = s[i+1:]
			}
			if isPublicMember(s) {
				c.report(rGCSPublic, b, a.Line, fmt.Sprintf("%s grants access to %s.", b.Address(), s))
				return
			}
		}
	}
	if a := b.Get("predefined_acl"); a != nil {
		if s, ok := a.valueString(); ok && (s == "publicRead" || s == "publicReadWrite" || s == "authenticatedRead") {
			c.report(rGCSPublic, b, a.Line, fmt.Sprintf("%s uses the %s predefined ACL.", b.Address(), s))
		}
	}
}

func (c *checker) azureStorageAccount(b *Block) {
	for _, f := range []string{"allow_nested_items_to_be_public", "allow_blob_public_access"} {
		if a := b.Get(f); a != nil && isTrue(a.Value) {
			c.report(rAzureBlobPublicAllowed, b, a.Line, fmt.Sprintf("%s allows public blob containers (%s = true).", b.Address(), f))
		}
	}
	if a := b.Get("min_tls_version"); a != nil {
		if s, ok := a.valueString(); ok && (s == "TLS1_0" || s == "TLS1_1") {
			c.report(rAzureWeakTLS, b, a.Line, fmt.Sprintf("%s accepts %s (min_tls_version = %q).", b.Address(), strings.Replace(strings.ReplaceAll(s, "_", "."), "TLS1", "TLS 1", 1), s))
		}
	}
	for _, f := range []string{"enable_https_traffic_only", "https_traffic_only_enabled"} {
		if a := b.Get(f); a != nil && isFalse(a.Value) {
			c.report(rAzureHTTP, b, a.Line, fmt.Sprintf("%s accepts plain HTTP (%s = false).", b.Address(), f))
		}
	}
}

// Ports the Internet must not reach.
var adminPorts = []struct {
	port int64
	name string
}{{22, "SSH"}, {3389, "RDP"}}

// exposure is what a rule opens: every port, or some admin ports.
type exposure struct {
	all   bool
	admin []string
}

// portRange returns the exposure of a protocol and a port range.
func portRange(proto string, from, to int64) exposure {
	switch strings.ToLower(proto) {
	case "-1", "all", "*":
		return exposure{all: true}
	case "tcp", "6":
	default:
		return exposure{}
	}
	if from <= 0 && to >= 65535 || from <= 1 && to >= 65535 {
		return exposure{all: true}
	}
	var e exposure
	for _, p := range adminPorts {
		if from <= p.port && p.port <= to {
			e.admin = append(e.admin, fmt.Sprintf("%d (%s)", p.port, p.name))
		}
	}
	return e
}

// parsePorts reads "22", "1000-2000" or "*" as a range.
func parsePorts(s string) (from, to int64, ok bool) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return 0, 65535, true
	}
	a, b, isRange := strings.Cut(s, "-")
	f, err := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if !isRange {
		return f, f, true
	}
	t, err := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return f, t, true
}

func openCIDR(s string) bool {
	return s == "0.0.0.0/0" || s == "::/0"
}

func (c *checker) reportExposure(b *Block, e exposure, line int, from string) {
	switch {
	case e.all:
		c.report(rAllPortsOpen, b, line, fmt.Sprintf("%s opens every port to %s.", b.Address(), from))
	case len(e.admin) > 0:
		c.report(rAdminPortOpen, b, line, fmt.Sprintf("%s opens port %s to %s.", b.Address(), strings.Join(e.admin, " and "), from))
	}
}

// awsRule checks an ingress rule of a security group (inline ingress block,
// aws_security_group_rule or aws_vpc_security_group_ingress_rule).
func (c *checker) awsRule(b *Block, r record) {
	var open []string
	line := r.line
	for _, f := range []string{"cidr_blocks", "ipv6_cidr_blocks", "cidr_ipv4", "cidr_ipv6"} {
		for _, s := range strs(r.get(f)) {
			if openCIDR(s) && !slices.Contains(open, s) {
				open = append(open, s)
				line = r.lineOf(f)
			}
		}
	}
	if len(open) == 0 {
		return
	}
	proto := r.get("protocol")
	if proto == nil {
		proto = r.get("ip_protocol")
	}
	p, ok := protoString(proto)
	if !ok {
		return
	}
	from, fok := toInt(r.get("from_port"))
	to, tok := toInt(r.get("to_port"))
	e := portRange(p, from, to)
	if !e.all && (!fok || !tok) {
		return
	}
	c.reportExposure(b, e, line, strings.Join(open, " and "))
}

// protoString reads a protocol given as a string or a number.
func protoString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatInt(int64(x), 10), true
	}
	return "", false
}

func (c *checker) gcpFirewall(b *Block) {
	if a := b.Get("disabled"); a != nil && !isFalse(a.Value) {
		return
	}
	if d, ok := b.value("direction"); ok && !strings.EqualFold(fmt.Sprint(d), "INGRESS") {
		return
	}
	var open []string
	line := b.Line
	if a := b.Get("source_ranges"); a != nil {
		for _, s := range strs(a.Value) {
			if openCIDR(s) {
				open = append(open, s)
				line = a.Line
			}
		}
	} else if b.Get("source_tags") == nil && b.Get("source_service_accounts") == nil {
		open = []string{"0.0.0.0/0 (the default source)"}
	}
	if len(open) == 0 {
		return
	}
	var e exposure
	for _, al := range b.Nested("allow") {
		p, ok := al.value("protocol")
		ps, pok := p.(string)
		if !ok || !pok {
			continue
		}
		ports := al.Get("ports")
		if ports == nil {
			x := portRange(ps, 0, 65535)
			e.all = e.all || x.all
			continue
		}
		for _, s := range strs(ports.Value) {
			if f, t, ok := parsePorts(s); ok {
				x := portRange(ps, f, t)
				e.all = e.all || x.all
				e.admin = appendNew(e.admin, x.admin...)
			}
		}
	}
	c.reportExposure(b, e, line, strings.Join(open, " and "))
}

func appendNew(s []string, vs ...string) []string {
	for _, v := range vs {
		if !slices.Contains(s, v) {
			s = append(s, v)
		}
	}
	return s
}

var azureAnySource = map[string]bool{"*": true, "0.0.0.0/0": true, "0.0.0.0": true, "internet": true, "any": true, "::/0": true}

func (c *checker) azureNSGRule(b *Block, r record) {
	if d, _ := r.get("direction").(string); !strings.EqualFold(d, "Inbound") {
		return
	}
	if a, _ := r.get("access").(string); !strings.EqualFold(a, "Allow") {
		return
	}
	var open []string
	line := r.line
	for _, f := range []string{"source_address_prefix", "source_address_prefixes"} {
		for _, s := range strs(r.get(f)) {
			if azureAnySource[strings.ToLower(s)] {
				open = append(open, fmt.Sprintf("%q", s))
				line = r.lineOf(f)
			}
		}
	}
	if len(open) == 0 {
		return
	}
	proto, ok := r.get("protocol").(string)
	if !ok {
		return
	}
	if strings.EqualFold(proto, "Asterisk") {
		proto = "*"
	}
	var e exposure
	for _, f := range []string{"destination_port_range", "destination_port_ranges"} {
		for _, s := range strs(r.get(f)) {
			if from, to, ok := parsePorts(s); ok {
				x := portRange(proto, from, to)
				if proto == "*" && !(from <= 1 && to >= 65535) {
					// any protocol on some ports: admin ports only
					x = portRange("tcp", from, to)
				}
				e.all = e.all || x.all
				e.admin = appendNew(e.admin, x.admin...)
			}
		}
	}
	c.reportExposure(b, e, line, strings.Join(open, " and "))
}

func (c *checker) cloudSQL(b *Block) {
	for _, s := range b.Nested("settings") {
		ipcs := s.Nested("ip_configuration")
		if len(ipcs) == 0 {
			c.report(rCloudSQLPublicIP, b, s.Line, b.Address()+" has a public IP (no ip_configuration: ipv4_enabled defaults to true).")
			continue
		}
		for _, ipc := range ipcs {
			for _, an := range ipc.Nested("authorized_networks") {
				if a := an.Get("value"); a != nil {
					if v, ok := a.valueString(); ok && openCIDR(v) {
						c.report(rCloudSQLOpen, b, a.Line, fmt.Sprintf("%s accepts connections from %s (authorized_networks).", b.Address(), v))
					}
				}
			}
			ipv4 := ipc.Get("ipv4_enabled")
			if ipv4 != nil && !isTrue(ipv4.Value) {
				continue // false or unknown
			}
			pn := ipc.Get("private_network")
			if pn == nil || pn.Value == nil {
				line := ipc.Line
				if ipv4 != nil {
					line = ipv4.Line
				}
				c.report(rCloudSQLPublicIP, b, line, b.Address()+" has a public IP and no private network (ipv4_enabled is true).")
			}
		}
	}
}

func (c *checker) azureDBFirewall(b *Block) {
	start, _ := b.value("start_ip_address")
	end, _ := b.value("end_ip_address")
	if start != "0.0.0.0" || end != "255.255.255.255" {
		return
	}
	// the rule is inert on a server that disables public network access
	for _, attr := range []string{"server_id", "server_name"} {
		for _, ref := range refs(b.Get(attr)) {
			if srv := c.byAddr[ref]; srv != nil {
				if a := srv.Get("public_network_access_enabled"); a != nil && isFalse(a.Value) {
					return
				}
			}
		}
	}
	c.report(rAzureDBOpen, b, b.Get("start_ip_address").Line, b.Address()+" allows every IP address (0.0.0.0 to 255.255.255.255).")
}

// iamPolicy checks a policy attribute: jsonencode({...}), a JSON string or
// heredoc (interpolations read as unknown), not a reference to an
// aws_iam_policy_document (checked on its own).
func (c *checker) iamPolicy(b *Block, a *Attr) {
	if a == nil {
		return
	}
	doc := c.policyValue(a)
	if doc == nil {
		return
	}
	if i := adminStatement(doc); i >= 0 {
		c.report(rIAMAdmin, b, a.Line, fmt.Sprintf("%s allows every action on every resource (statement %d: Action \"*\", Resource \"*\").", b.Address(), i))
	}
}

// policyValue returns a policy document as plain data, or nil.
func (c *checker) policyValue(a *Attr) any {
	switch e := a.expr.(type) {
	case *hclsyntax.FunctionCallExpr:
		if e.Name == "jsonencode" && len(e.Args) == 1 {
			return c.m.Eval(e.Args[0])
		}
	case *hclsyntax.TemplateExpr:
		if s, ok := c.renderTemplate(e); ok {
			var v any
			if json.Unmarshal([]byte(s), &v) == nil {
				return v
			}
		}
		return nil
	}
	if s, ok := a.Value.(string); ok {
		var v any
		if json.Unmarshal([]byte(s), &v) == nil {
			return v
		}
	}
	return nil
}

// renderTemplate renders a template with unknown interpolations replaced by
// a placeholder, so a policy heredoc with "${aws_s3_bucket.x.arn}" still
// reads as JSON (the placeholder is never "*").
func (c *checker) renderTemplate(e *hclsyntax.TemplateExpr) (string, bool) {
	var sb strings.Builder
	for _, p := range e.Parts {
		if lit, ok := p.(*hclsyntax.LiteralValueExpr); ok {
			v := fromCty(lit.Val)
			s, ok := v.(string)
			if !ok {
				return "", false
			}
			sb.WriteString(s)
			continue
		}
		switch v := c.m.Eval(p).(type) {
		case string:
			sb.WriteString(v)
		case int64, float64, bool:
			fmt.Fprint(&sb, v)
		default:
			sb.WriteString("${unknown}")
		}
	}
	return sb.String(), true
}

// adminStatement returns the index of the first statement allowing "*" on
// "*" (Action and Resource as a string or a list), or -1.
func adminStatement(doc any) int {
	m, ok := doc.(map[string]any)
	if !ok {
		return -1
	}
	var stmts []any
	switch s := m["Statement"].(type) {
	case []any:
		stmts = s
	case map[string]any:
		stmts = []any{s}
	}
	for i, s := range stmts {
		st, ok := s.(map[string]any)
		if !ok {
			continue
		}
		if eff, _ := st["Effect"].(string); eff != "Allow" {
			continue
		}
		if hasStar(st["Action"]) && hasStar(st["Resource"]) {
			return i
		}
	}
	return -1
}

func hasStar(v any) bool {
	for _, s := range strs(v) {
		if s == "*" || s == "*:*" {
			return true
		}
	}
	return false
}

// policyDocument checks data "aws_iam_policy_document" statements (effect
// defaults to Allow).
func (c *checker) policyDocument(b *Block) {
	for i, st := range b.Nested("statement") {
		if eff, ok := st.value("effect"); ok && eff != "Allow" {
			continue // Deny, or unknown
		}
		acts, res := st.Get("actions"), st.Get("resources")
		if acts == nil || res == nil {
			continue
		}
		if hasStar(acts.Value) && hasStar(res.Value) {
			c.report(rIAMAdmin, b, st.Line, fmt.Sprintf("%s allows every action on every resource (statement %d: actions [\"*\"], resources [\"*\"]).", b.Address(), i))
			return
		}
	}
}

func (c *checker) imds(b *Block) {
	mos := b.Nested("metadata_options")
	if len(mos) == 0 {
		c.report(rIMDSv1, b, b.Line, b.Address()+" allows IMDSv1 (no metadata_options: http_tokens defaults to optional).")
		return
	}
	mo := mos[0]
	if ep := mo.Get("http_endpoint"); ep != nil {
		if s, ok := ep.valueString(); !ok || s == "disabled" {
			return // no metadata service, or unknown
		}
	}
	tok := mo.Get("http_tokens")
	if tok == nil {
		c.report(rIMDSv1, b, mo.Line, b.Address()+" allows IMDSv1 (metadata_options.http_tokens defaults to optional).")
		return
	}
	if s, ok := tok.valueString(); ok && s != "required" {
		c.report(rIMDSv1, b, tok.Line, fmt.Sprintf("%s allows IMDSv1 (http_tokens = %q).", b.Address(), s))
	}
}
