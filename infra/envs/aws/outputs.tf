output "state_machine_arn" {
  description = "ARN of the ETL state machine."
  value       = module.nightly_etl.state_machine_arn
}

output "orders_table_name" {
  description = "Name of the orders table."
  value       = module.nightly_etl.orders_table_name
}

output "runs_table_name" {
  description = "Name of the runs table."
  value       = module.nightly_etl.runs_table_name
}

output "landing_bucket_name" {
  description = "Name of the landing bucket."
  value       = module.nightly_etl.landing_bucket_name
}

output "staging_bucket_name" {
  description = "Name of the staging bucket."
  value       = module.nightly_etl.staging_bucket_name
}

output "artifacts_bucket_name" {
  description = "Name of the artifacts bucket."
  value       = module.nightly_etl.artifacts_bucket_name
}

output "retry_queue_url" {
  description = "URL of the retry queue."
  value       = module.nightly_etl.retry_queue_url
}

output "retry_dlq_url" {
  description = "URL of the retry queue's dead-letter queue."
  value       = module.nightly_etl.retry_dlq_url
}

output "status_topic_arn" {
  description = "ARN of the status topic."
  value       = module.nightly_etl.status_topic_arn
}

output "daily_rule_name" {
  description = "Name of the daily EventBridge rule."
  value       = module.nightly_etl.daily_rule_name
}

output "load_job_name" {
  description = "Name of the load_orders Glue job."
  value       = module.nightly_etl.load_job_name
}

output "lambda_function_names" {
  description = "Function name per role (track_begin, extract, track_result, notify, track_failure)."
  value       = module.nightly_etl.lambda_function_names
}
