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
