output "daily_rule_name" {
  description = "Name of the EventBridge rule that starts the daily run."
  value       = aws_cloudwatch_event_rule.daily.name
}

output "daily_rule_arn" {
  description = "ARN of the daily rule."
  value       = aws_cloudwatch_event_rule.daily.arn
}

output "events_role_arn" {
  description = "ARN of the role EventBridge uses to start executions."
  value       = aws_iam_role.events.arn
}

output "missed_run_rule_name" {
  description = "Name of the EventBridge rule of the missed-run check."
  value       = aws_cloudwatch_event_rule.missed_run.name
}
