output "lambda_function_names" {
  description = "Function name per role (track_begin, extract, track_result, notify, track_failure, refresh_dashboard)."
  value       = { for role, function in aws_lambda_function.this : role => function.function_name }
}

output "lambda_function_arns" {
  description = "Function ARN per role."
  value       = { for role, function in aws_lambda_function.this : role => function.arn }
}

output "lambda_role_arns" {
  description = "ARN of each function's IAM role, per role."
  value       = { for role, iam_role in aws_iam_role.lambda : role => iam_role.arn }
}

output "lambda_timeouts" {
  description = "Timeout in seconds per function role, as deployed."
  value       = local.timeouts
}

output "lambda_log_group_names" {
  description = "CloudWatch log group per function role."
  value       = { for role, group in aws_cloudwatch_log_group.lambda : role => group.name }
}

output "lambda_environment" {
  description = "The environment variables every function receives."
  value       = local.environment
}

output "glue_job_name" {
  description = "Name of the load_orders Glue job."
  value       = aws_glue_job.load_orders.name
}

output "glue_job_arn" {
  description = "ARN of the load_orders Glue job."
  value       = aws_glue_job.load_orders.arn
}

output "glue_role_arn" {
  description = "ARN of the load_orders job's IAM role."
  value       = aws_iam_role.glue.arn
}
