variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"nightly-etl\"."
  type        = string
}

variable "definition_file" {
  description = "Path of the ASL definition template (statemachine/etl.asl.json), relative to the root module or absolute."
  type        = string
}

variable "lambda_function_arns" {
  description = "Function ARN per role: track_begin, extract, track_result, notify, track_failure, refresh_dashboard."
  type        = map(string)

  validation {
    condition     = length(setsubtract(["track_begin", "extract", "track_result", "notify", "track_failure", "refresh_dashboard"], keys(var.lambda_function_arns))) == 0
    error_message = "lambda_function_arns must name track_begin, extract, track_result, notify, track_failure and refresh_dashboard."
  }
}

variable "glue_job_name" {
  description = "Name of the Glue job the Load state runs."
  type        = string
}

variable "glue_job_arn" {
  description = "ARN of the Glue job the Load state runs."
  type        = string
}

variable "log_level" {
  description = "Execution history logged to CloudWatch Logs: OFF, ERROR, FATAL or ALL."
  type        = string
  default     = "OFF"

  validation {
    condition     = contains(["OFF", "ERROR", "FATAL", "ALL"], var.log_level)
    error_message = "log_level must be one of OFF, ERROR, FATAL, ALL."
  }
}

variable "log_include_execution_data" {
  description = "Include states' input and output in the logs (they hold ids and counts, never rows)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the state machine's log group, in days (when logging is on)."
  type        = number
  default     = 365
}

variable "tracing_enabled" {
  description = "Trace executions with AWS X-Ray."
  type        = bool
  default     = true
}

variable "log_kms_key_arn" {
  description = "KMS key encrypting the state machine's log group (when logging is on). Its key policy must allow the CloudWatch Logs service principal of the region. Null keeps CloudWatch Logs' own encryption."
  type        = string
  default     = null
}
