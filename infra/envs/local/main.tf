locals {
  repository_root = "${path.root}/../../.."
}

# Every API call goes to the emulator: scripts/deploy.py runs Terraform with AWS_ENDPOINT_URL set to it, which
# the provider honours for every service. An `endpoints` block would do the same at about two seconds of
# validation each time a command starts the provider (four times per apply).
provider "aws" {
  region                      = var.region
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  # The provider asks the emulator's STS for the account id: ARNs it builds itself (e.g. the Glue job's,
  # which IAM policies and tags refer to) would otherwise lack the account.
  skip_requesting_account_id = false
  skip_metadata_api_check    = true
  skip_region_validation     = true
  s3_use_path_style          = true

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

  notification_emails       = var.notification_emails
  schedule_expression       = var.schedule_expression
  missed_run_check_hour_utc = var.missed_run_check_hour_utc
  orders_source             = var.orders_source
  catalog_source            = var.catalog_source
  max_attempts              = var.max_attempts
  log_level                 = var.log_level
  redash_url                = var.redash_url
  redash_api_key_parameter  = var.redash_api_key_parameter

  # A laptop stack is thrown away with the emulator: nothing here needs protecting from deletion.
  force_destroy_buckets       = true
  deletion_protection_enabled = false
  log_retention_days          = 7
  # The emulator has no X-Ray and no AWS managed IAM policies to attach for it.
  lambda_tracing_mode = "PassThrough"
}
