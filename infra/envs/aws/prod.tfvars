environment = "prod"
name_prefix = "nightly-etl"
region      = "us-east-1"

notification_emails = ["data-team@example.com"]

deletion_protection_enabled   = true
force_destroy_buckets         = false
log_retention_days            = 90
state_machine_log_level       = "ERROR"
state_machine_tracing_enabled = true

tags = {
  CostCenter = "data-platform"
}
