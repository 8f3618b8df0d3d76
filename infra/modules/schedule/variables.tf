variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"nightly-etl\"."
  type        = string
}

variable "schedule_expression" {
  description = "When the daily run starts (EventBridge cron or rate expression, UTC)."
  type        = string
  default     = "cron(0 6 * * ? *)"
}

variable "enabled" {
  description = "Whether the schedule fires."
  type        = bool
  default     = true
}

variable "state_machine_arn" {
  description = "ARN of the state machine each firing starts."
  type        = string
}

variable "tracker_function_arn" {
  description = "ARN of the failure tracker function (track_failure) the missed-run check invokes."
  type        = string
}

variable "missed_run_check_hour_utc" {
  description = "Hour (UTC, 0-23) at which the day's run must be recorded; the missed-run check emails otherwise. It checks the UTC day it fires on, so it must fall after the daily schedule plus the run's usual duration on the same day."
  type        = number
  default     = 12

  validation {
    condition     = var.missed_run_check_hour_utc >= 0 && var.missed_run_check_hour_utc <= 23 && floor(var.missed_run_check_hour_utc) == var.missed_run_check_hour_utc
    error_message = "missed_run_check_hour_utc must be a whole hour within 0..23."
  }
}
