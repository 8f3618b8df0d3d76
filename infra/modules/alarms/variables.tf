variable "name_prefix" {
  description = "Prefix of every alarm name, e.g. \"nightly-etl\"."
  type        = string
}

variable "alarm_topic_arn" {
  description = "ARN of the SNS topic the alarms notify (the run status topic). With SSE, its KMS key policy must let cloudwatch.amazonaws.com use the key: the AWS managed key alias/aws/sns does not."
  type        = string
}

variable "state_machine_arn" {
  description = "ARN of the ETL state machine whose executions are watched."
  type        = string
}

variable "lambda_function_names" {
  description = "Function name per role; each function gets an Errors alarm."
  type        = map(string)
}

variable "retry_queue_arn" {
  description = "ARN of the SQS retry queue whose backlog is watched."
  type        = string
}

variable "retry_dlq_arn" {
  description = "ARN of the retry queue's dead-letter queue (quarantined records)."
  type        = string
}

variable "retry_backlog_threshold" {
  description = "Visible messages on the retry queue above which the retry backlog alarm fires."
  type        = number
  default     = 1000

  validation {
    condition     = var.retry_backlog_threshold >= 0
    error_message = "retry_backlog_threshold must not be negative."
  }
}

variable "quarantine_threshold" {
  description = "Visible messages on the dead-letter queue above which the quarantine alarm fires (0: any quarantined record)."
  type        = number
  default     = 0

  validation {
    condition     = var.quarantine_threshold >= 0
    error_message = "quarantine_threshold must not be negative."
  }
}

variable "no_recent_success_alarm_enabled" {
  description = "Alarm when no execution succeeded within success_window_hours. Off when the schedule is off: no run is then expected."
  type        = bool
  default     = true
}

variable "success_window_hours" {
  description = "Hours without a successful execution after which the no-recent-success alarm fires (26: a daily run plus slack)."
  type        = number
  default     = 26

  validation {
    condition     = var.success_window_hours >= 1 && var.success_window_hours <= 168 && floor(var.success_window_hours) == var.success_window_hours
    error_message = "success_window_hours must be a whole number of hours within 1..168 (CloudWatch evaluates at most 7 days)."
  }
}
