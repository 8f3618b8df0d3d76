output "alarm_arns" {
  description = "ARN of each alarm, by name."
  value = merge(
    { for alarm in aws_cloudwatch_metric_alarm.execution : alarm.alarm_name => alarm.arn },
    { for alarm in aws_cloudwatch_metric_alarm.no_recent_success : alarm.alarm_name => alarm.arn },
    { for alarm in aws_cloudwatch_metric_alarm.queue : alarm.alarm_name => alarm.arn },
    { for alarm in aws_cloudwatch_metric_alarm.lambda_errors : alarm.alarm_name => alarm.arn },
  )
}

output "alarm_names" {
  description = "Names of all alarms."
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.execution : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.no_recent_success : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.queue : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.lambda_errors : alarm.alarm_name],
  )
}
