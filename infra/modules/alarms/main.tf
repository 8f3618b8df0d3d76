locals {
  # An SQS ARN ends with the queue name (arn:<partition>:sqs:<region>:<account>:<name>).
  retry_queue_name = element(split(":", var.retry_queue_arn), 5)
  retry_dlq_name   = element(split(":", var.retry_dlq_arn), 5)

  # One alarm per failure signal of the state machine: any failed or timed-out execution.
  execution_alarms = {
    executions_failed = {
      metric_name = "ExecutionsFailed"
      description = "An execution of the nightly ETL state machine failed."
    }
    executions_timed_out = {
      metric_name = "ExecutionsTimedOut"
      description = "An execution of the nightly ETL state machine timed out."
    }
  }

  queue_alarms = {
    retry_backlog = {
      queue_name  = local.retry_queue_name
      threshold   = var.retry_backlog_threshold
      description = "More than ${var.retry_backlog_threshold} records wait on the retry queue: loads keep failing and retries pile up."
    }
    quarantine = {
      queue_name  = local.retry_dlq_name
      threshold   = var.quarantine_threshold
      description = "More than ${var.quarantine_threshold} records are quarantined on the retry dead-letter queue: they failed every attempt and need a look."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "execution" {
  for_each = local.execution_alarms

  alarm_name          = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = "AWS/States"
  metric_name         = each.value.metric_name
  dimensions          = { StateMachineArn = var.state_machine_arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  # No datapoint means no execution ended in the period: nothing failed.
  treat_missing_data = "notBreaching"
  alarm_actions      = [var.alarm_topic_arn]
}

# The run is daily: no successful execution within success_window_hours means a run failed, hung or never
# started (schedule or permissions broken). Hours without any datapoint count as "no success".
resource "aws_cloudwatch_metric_alarm" "no_recent_success" {
  count = var.no_recent_success_alarm_enabled ? 1 : 0

  alarm_name          = "${var.name_prefix}-no-recent-success"
  alarm_description   = "The nightly ETL state machine has not completed a run successfully in ${var.success_window_hours} hours."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsSucceeded"
  dimensions          = { StateMachineArn = var.state_machine_arn }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = var.success_window_hours
  datapoints_to_alarm = var.success_window_hours
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "queue" {
  for_each = local.queue_alarms

  alarm_name          = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value.queue_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = var.lambda_function_names

  alarm_name          = "${each.value}-errors"
  alarm_description   = "The ${each.key} function of the nightly ETL raised an error."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
}
