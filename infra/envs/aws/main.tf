locals {
  repository_root = "${path.root}/../../.."
}

provider "aws" {
  region = var.region
  # A dev credential must never change prod, and the other way round.
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = merge(var.tags, {
      Project     = "nightly-etl"
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}

module "nightly_etl" {
  source = "../../modules/nightly_etl"

  name_prefix     = var.name_prefix
  environment     = var.environment
  artifacts_dir   = coalesce(var.artifacts_dir, "${local.repository_root}/build")
  definition_file = "${local.repository_root}/statemachine/etl.asl.json"

  notification_emails                = var.notification_emails
  schedule_expression                = var.schedule_expression
  missed_run_check_hour_utc          = var.missed_run_check_hour_utc
  schedule_enabled                   = var.schedule_enabled
  kms_key_arn                        = var.kms_key_arn
  sns_kms_master_key_id              = var.status_topic_kms_key_arn
  deletion_protection_enabled        = var.deletion_protection_enabled
  force_destroy_buckets              = var.force_destroy_buckets
  staging_runs_expiration_days       = var.staging_runs_expiration_days
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  retry_max_receive_count            = var.retry_max_receive_count
  log_retention_days                 = var.log_retention_days
  log_kms_key_arn                    = var.log_kms_key_arn
  lambda_memory_sizes                = var.lambda_memory_sizes
  max_attempts                       = var.max_attempts
  orders_source                      = var.orders_source
  catalog_source                     = var.catalog_source
  chunk_rows                         = var.chunk_rows
  log_level                          = var.log_level
  redash_url                         = var.redash_url
  redash_api_key_parameter           = var.redash_api_key_parameter
  state_machine_log_level            = var.state_machine_log_level
  state_machine_tracing_enabled      = var.state_machine_tracing_enabled
  alarms_enabled                     = var.alarms_enabled
  retry_backlog_threshold            = var.retry_backlog_threshold
  quarantine_threshold               = var.quarantine_threshold
}
