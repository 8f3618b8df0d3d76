output "state_machine_arn" {
  description = "ARN of the ETL state machine."
  value       = module.orchestration.state_machine_arn
}

output "orders_table_name" {
  description = "Name of the orders table."
  value       = module.tracking.orders_table_name
}

output "runs_table_name" {
  description = "Name of the runs table."
  value       = module.tracking.runs_table_name
}

output "landing_bucket_name" {
  description = "Name of the landing bucket."
  value       = module.storage.landing_bucket_name
}

output "staging_bucket_name" {
  description = "Name of the staging bucket."
  value       = module.storage.staging_bucket_name
}

output "artifacts_bucket_name" {
  description = "Name of the artifacts bucket."
  value       = module.storage.artifacts_bucket_name
}

output "retry_queue_url" {
  description = "URL of the retry queue."
  value       = module.tracking.retry_queue_url
}

output "retry_dlq_url" {
  description = "URL of the retry queue's dead-letter queue."
  value       = module.tracking.retry_dlq_url
}

output "status_topic_arn" {
  description = "ARN of the status topic."
  value       = module.notifications.status_topic_arn
}

output "daily_rule_name" {
  description = "Name of the daily EventBridge rule."
  value       = module.schedule.daily_rule_name
}

output "load_job_name" {
  description = "Name of the load_orders Glue job."
  value       = module.compute.glue_job_name
}

output "lambda_function_names" {
  description = "Function name per role (track_begin, extract, track_result, notify, track_failure)."
  value       = module.compute.lambda_function_names
}
