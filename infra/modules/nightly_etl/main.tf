data "aws_caller_identity" "current" {}

locals {
  # The states that receive queue messages and delete them on a later attempt: their messages stay hidden
  # for the state's whole retry budget, every attempt (1 + each retrier's MaxAttempts) at the longer of
  # its TimeoutSeconds and the function's timeout, plus every retry's longest wait (IntervalSeconds x
  # BackoffRate^n, capped by MaxDelaySeconds; Step Functions' defaults 1, 3, 2.0). The same sum as
  # pipeline/config.py::retry_budget_seconds, which the tests hold it to.
  definition = jsondecode(file(var.definition_file))
  receiving_states = {
    Extract     = "extract"
    TrackResult = "track_result"
  }
  retry_budgets = {
    for state, role in local.receiving_states : state => (
      (1 + sum(concat([0], [for r in try(local.definition.States[state].Retry, []) : try(r.MaxAttempts, 3)])))
      * max(try(local.definition.States[state].TimeoutSeconds, 0), module.compute.lambda_timeouts[role])
      + ceil(sum(concat([0], flatten([
        for r in try(local.definition.States[state].Retry, []) : [
          for n in range(try(r.MaxAttempts, 3)) : min(
            try(r.IntervalSeconds, 1) * pow(try(r.BackoffRate, 2.0), n),
            # No delay cap: a number written out, as checkov's HCL parser reads no exponent.
            try(r.MaxDelaySeconds, 1000000000),
          )
        ]
      ]))))
    )
  }
  drain_visibility_seconds = max(values(local.retry_budgets)...)
}

module "storage" {
  source = "../storage"

  name_prefix                        = var.name_prefix
  name_suffix                        = data.aws_caller_identity.current.account_id
  kms_key_arn                        = var.kms_key_arn
  staging_runs_expiration_days       = var.staging_runs_expiration_days
  retry_payload_expiration_days      = var.retry_payload_expiration_days
  quarantine_expiration_days         = var.quarantine_expiration_days
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  force_destroy                      = var.force_destroy_buckets
}

module "tracking" {
  source = "../tracking"

  name_prefix                 = var.name_prefix
  kms_key_arn                 = var.kms_key_arn
  deletion_protection_enabled = var.deletion_protection_enabled
  retry_max_receive_count     = var.retry_max_receive_count
  # A received retry message stays hidden as long as the extract, which drains the queue, may retry.
  retry_visibility_timeout_seconds = local.drain_visibility_seconds
}

module "notifications" {
  source = "../notifications"

  name_prefix         = var.name_prefix
  notification_emails = var.notification_emails
  kms_master_key_id   = var.sns_kms_master_key_id
}

module "compute" {
  source = "../compute"

  name_prefix = var.name_prefix
  # The name orchestration gives the state machine (its ARN would make a cycle: it invokes these functions).
  state_machine_name = "${var.name_prefix}-etl"
  environment        = var.environment
  artifacts_dir      = var.artifacts_dir

  artifacts_bucket_name = module.storage.artifacts_bucket_name
  artifacts_bucket_arn  = module.storage.artifacts_bucket_arn
  landing_bucket_name   = module.storage.landing_bucket_name
  landing_bucket_arn    = module.storage.landing_bucket_arn
  staging_bucket_name   = module.storage.staging_bucket_name
  staging_bucket_arn    = module.storage.staging_bucket_arn
  orders_table_name     = module.tracking.orders_table_name
  orders_table_arn      = module.tracking.orders_table_arn
  runs_table_name       = module.tracking.runs_table_name
  runs_table_arn        = module.tracking.runs_table_arn
  retry_queue_url       = module.tracking.retry_queue_url
  retry_queue_arn       = module.tracking.retry_queue_arn
  retry_dlq_url         = module.tracking.retry_dlq_url
  retry_dlq_arn         = module.tracking.retry_dlq_arn
  status_topic_arn      = module.notifications.status_topic_arn
  kms_key_arn           = var.kms_key_arn

  status_topic_kms_key_arn = module.notifications.kms_key_arn

  lambda_timeouts          = var.lambda_timeouts
  lambda_memory_sizes      = var.lambda_memory_sizes
  log_retention_days       = var.log_retention_days
  log_kms_key_arn          = var.log_kms_key_arn
  lambda_tracing_mode      = var.lambda_tracing_mode
  max_attempts             = var.max_attempts
  orders_source            = var.orders_source
  catalog_source           = var.catalog_source
  chunk_rows               = var.chunk_rows
  drain_visibility_seconds = local.drain_visibility_seconds
  log_level                = var.log_level
  redash_url               = var.redash_url
  redash_api_key_parameter = var.redash_api_key_parameter
}

module "orchestration" {
  source = "../orchestration"

  name_prefix          = var.name_prefix
  definition_file      = var.definition_file
  lambda_function_arns = module.compute.lambda_function_arns
  glue_job_name        = module.compute.glue_job_name
  glue_job_arn         = module.compute.glue_job_arn
  log_level            = var.state_machine_log_level
  log_retention_days   = var.log_retention_days
  log_kms_key_arn      = var.log_kms_key_arn
  tracing_enabled      = var.state_machine_tracing_enabled
}

module "schedule" {
  source = "../schedule"

  name_prefix         = var.name_prefix
  schedule_expression = var.schedule_expression
  enabled             = var.schedule_enabled
  state_machine_arn   = module.orchestration.state_machine_arn

  tracker_function_arn      = module.compute.lambda_function_arns["track_failure"]
  missed_run_check_hour_utc = var.missed_run_check_hour_utc
}

module "alarms" {
  source = "../alarms"
  count  = var.alarms_enabled ? 1 : 0

  name_prefix             = var.name_prefix
  alarm_topic_arn         = module.notifications.status_topic_arn
  state_machine_arn       = module.orchestration.state_machine_arn
  lambda_function_names   = module.compute.lambda_function_names
  retry_queue_arn         = module.tracking.retry_queue_arn
  retry_dlq_arn           = module.tracking.retry_dlq_arn
  retry_backlog_threshold = var.retry_backlog_threshold
  quarantine_threshold    = var.quarantine_threshold
  # Without the schedule no daily run is expected, so its absence is no alarm.
  no_recent_success_alarm_enabled = var.schedule_enabled
}
