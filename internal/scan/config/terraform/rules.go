package terraform

import (
	"github.com/vigilsec/vigil/internal/scan"
	"github.com/vigilsec/vigil/internal/scan/config/rule"
)

// References: CIS AWS Foundations Benchmark v3.0.0, CIS Microsoft Azure
// Foundations Benchmark v1.5.0, CIS Google Cloud Platform Foundation
// Benchmark v2.0.0, and the provider documentation where no CIS section
// covers the setting.
const (
	cisAWS   = "CIS AWS Foundations Benchmark v3.0.0 "
	cisAzure = "CIS Microsoft Azure Foundations Benchmark v1.5.0 "
	cisGCP   = "CIS Google Cloud Platform Foundation Benchmark v2.0.0 "
	awsDocs  = "https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/"
	azDocs   = "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/"
	gcpDocs  = "https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/"
)

var (
	rS3PublicACL = rule.Rule{ID: "VGL-TF-001", Severity: scan.SeverityHigh,
		Title:       "S3 bucket ACL grants public access",
		Remediation: "Use the private ACL (or none: BucketOwnerEnforced object ownership) and serve public content through CloudFront with origin access control.",
		References:  []string{cisAWS + "2.1.4", awsDocs + "s3_bucket_acl"}}
	rS3PublicAccessBlock = rule.Rule{ID: "VGL-TF-002", Severity: scan.SeverityMedium,
		Title:       "S3 public access block disabled",
		Remediation: "Set block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets to true (each defaults to false).",
		References:  []string{cisAWS + "2.1.4", awsDocs + "s3_bucket_public_access_block"}}
	rGCSPublic = rule.Rule{ID: "VGL-TF-003", Severity: scan.SeverityHigh,
		Title:       "Cloud Storage bucket readable by anyone",
		Remediation: "Remove allUsers and allAuthenticatedUsers from the bucket's IAM members and ACLs; enable uniform bucket-level access and public access prevention.",
		References:  []string{cisGCP + "5.1", gcpDocs + "storage_bucket_iam"}}
	rAzureBlobPublicAllowed = rule.Rule{ID: "VGL-TF-004", Severity: scan.SeverityMedium,
		Title:       "Storage account allows public blob access",
		Remediation: "Set allow_nested_items_to_be_public (allow_blob_public_access in older providers) to false.",
		References:  []string{cisAzure + "3.7", azDocs + "storage_account"}}
	rAzureContainerPublic = rule.Rule{ID: "VGL-TF-005", Severity: scan.SeverityHigh,
		Title:       "Storage container readable anonymously",
		Remediation: "Set container_access_type to \"private\" and grant access with SAS tokens or Azure AD.",
		References:  []string{cisAzure + "3.7", azDocs + "storage_container"}}
	rAdminPortOpen = rule.Rule{ID: "VGL-TF-006", Severity: scan.SeverityHigh,
		Title:       "SSH or RDP open to the Internet",
		Remediation: "Restrict the source to known address ranges, or reach hosts through a bastion, VPN, SSM Session Manager, IAP or Azure Bastion.",
		References:  []string{cisAWS + "5.2", cisAWS + "5.3", cisAzure + "6.1", cisAzure + "6.2", cisGCP + "3.6", cisGCP + "3.7"}}
	rAllPortsOpen = rule.Rule{ID: "VGL-TF-007", Severity: scan.SeverityCritical,
		Title:       "Every port open to the Internet",
		Remediation: "Allow only the ports the service needs, from the sources that need them.",
		References:  []string{cisAWS + "5.2", cisAWS + "5.3", awsDocs + "security_group", gcpDocs + "compute_firewall", azDocs + "network_security_rule"}}
	rEBSUnencrypted = rule.Rule{ID: "VGL-TF-008", Severity: scan.SeverityMedium,
		Title:       "EBS volume not encrypted",
		Remediation: "Set encrypted = true (and kms_key_id for a customer managed key), or enable EBS encryption by default in the account.",
		References:  []string{cisAWS + "2.2.1", awsDocs + "ebs_volume"}}
	rRDSUnencrypted = rule.Rule{ID: "VGL-TF-009", Severity: scan.SeverityMedium,
		Title:       "RDS storage not encrypted",
		Remediation: "Set storage_encrypted = true (it defaults to false; it cannot be changed on an existing instance without a snapshot restore).",
		References:  []string{cisAWS + "2.3.1", awsDocs + "db_instance"}}
	// S3 has encrypted every new object with SSE-S3 since January 2023, so a
	// bucket without an encryption configuration is encrypted at rest; the
	// finding is low and says what is missing: a key the account controls.
	rS3NoSSEConfig = rule.Rule{ID: "VGL-TF-010", Severity: scan.SeverityLow,
		Title:       "S3 bucket without an explicit encryption configuration",
		Remediation: "Add an aws_s3_bucket_server_side_encryption_configuration (SSE-KMS with a customer managed key where access to the data must be auditable and revocable). S3 applies SSE-S3 by default since 2023.",
		References:  []string{awsDocs + "s3_bucket_server_side_encryption_configuration", "https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-encryption-faq.html"}}
	rAzureDiskUnencrypted = rule.Rule{ID: "VGL-TF-011", Severity: scan.SeverityMedium,
		Title:       "Managed disk encryption disabled",
		Remediation: "Remove encryption_settings.enabled = false; use a disk encryption set with a customer managed key where required.",
		References:  []string{azDocs + "managed_disk"}}
	rAzureWeakTLS = rule.Rule{ID: "VGL-TF-012", Severity: scan.SeverityMedium,
		Title:       "Storage account accepts TLS older than 1.2",
		Remediation: "Set min_tls_version = \"TLS1_2\".",
		References:  []string{cisAzure + "3.15", azDocs + "storage_account"}}
	rAzureHTTP = rule.Rule{ID: "VGL-TF-013", Severity: scan.SeverityMedium,
		Title:       "Storage account accepts plain HTTP",
		Remediation: "Set https_traffic_only_enabled (enable_https_traffic_only in provider 3.x) to true.",
		References:  []string{cisAzure + "3.1", azDocs + "storage_account"}}
	rRDSPublic = rule.Rule{ID: "VGL-TF-014", Severity: scan.SeverityHigh,
		Title:       "RDS instance publicly accessible",
		Remediation: "Set publicly_accessible = false and reach the database from inside the VPC.",
		References:  []string{cisAWS + "2.3.3", awsDocs + "db_instance"}}
	rCloudSQLOpen = rule.Rule{ID: "VGL-TF-015", Severity: scan.SeverityHigh,
		Title:       "Cloud SQL instance open to the world",
		Remediation: "Remove 0.0.0.0/0 from authorized_networks; connect through private IP or the Cloud SQL Auth Proxy.",
		References:  []string{cisGCP + "6.5", gcpDocs + "sql_database_instance"}}
	rCloudSQLPublicIP = rule.Rule{ID: "VGL-TF-016", Severity: scan.SeverityMedium,
		Title:       "Cloud SQL instance has a public IP",
		Remediation: "Set ip_configuration.ipv4_enabled = false and give the instance a private_network.",
		References:  []string{cisGCP + "6.6", gcpDocs + "sql_database_instance"}}
	rAzureDBOpen = rule.Rule{ID: "VGL-TF-017", Severity: scan.SeverityHigh,
		Title:       "Database firewall allows every IP address",
		Remediation: "Remove the 0.0.0.0-255.255.255.255 firewall rule; allow the clients' ranges or use private endpoints with public_network_access_enabled = false.",
		References:  []string{cisAzure + "4.1.2", azDocs + "mssql_firewall_rule"}}
	rIAMAdmin = rule.Rule{ID: "VGL-TF-018", Severity: scan.SeverityHigh,
		Title:       "IAM policy allows every action on every resource",
		Remediation: "Grant the actions and resources the principal needs; full administrative rights belong to a break-glass role, not a workload.",
		References:  []string{cisAWS + "1.16", "CWE-269", awsDocs + "iam_policy"}}
	rIMDSv1 = rule.Rule{ID: "VGL-TF-019", Severity: scan.SeverityMedium,
		Title:       "Instance metadata service v1 allowed",
		Remediation: "Add metadata_options { http_tokens = \"required\" } (IMDSv2 only; http_tokens defaults to optional).",
		References:  []string{cisAWS + "5.6", awsDocs + "instance#metadata-options"}}
)

// Rules are the Terraform checks, in id order.
func Rules() []rule.Rule {
	return []rule.Rule{rS3PublicACL, rS3PublicAccessBlock, rGCSPublic, rAzureBlobPublicAllowed, rAzureContainerPublic,
		rAdminPortOpen, rAllPortsOpen, rEBSUnencrypted, rRDSUnencrypted, rS3NoSSEConfig, rAzureDiskUnencrypted,
		rAzureWeakTLS, rAzureHTTP, rRDSPublic, rCloudSQLOpen, rCloudSQLPublicIP, rAzureDBOpen, rIAMAdmin, rIMDSv1}
}
