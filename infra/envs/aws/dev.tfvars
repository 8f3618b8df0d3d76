environment = "dev"
name_prefix = "nightly-etl-dev"
region      = "us-east-1"

notification_emails = ["data-team-dev@example.com"]

# Dev data is disposable: tables and buckets may be torn down.
deletion_protection_enabled = false
force_destroy_buckets       = true
log_retention_days          = 14
log_level                   = "DEBUG"
state_machine_log_level     = "ALL"

tags = {
  CostCenter = "data-platform"
}
