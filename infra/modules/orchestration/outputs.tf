output "state_machine_arn" {
  description = "ARN of the ETL state machine."
  value       = aws_sfn_state_machine.etl.arn
}

output "state_machine_name" {
  description = "Name of the ETL state machine."
  value       = aws_sfn_state_machine.etl.name
}

output "state_machine_role_arn" {
  description = "ARN of the state machine's IAM role."
  value       = aws_iam_role.state_machine.arn
}

output "state_machine_log_group_name" {
  description = "Log group of the executions, or null when logging is off."
  value       = local.logging_enabled ? aws_cloudwatch_log_group.state_machine[0].name : null
}

output "execution_end_rule_name" {
  description = "Name of the EventBridge rule that reports failed, timed-out and aborted executions to the failure tracker."
  value       = aws_cloudwatch_event_rule.execution_end.name
}
