variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"nightly-etl\"."
  type        = string
  default     = "nightly-etl"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 lowercase letters, digits or hyphens (it is part of bucket names)."
  }
}

variable "environment" {
  description = "Name of the environment (local, dev, prod)."
  type        = string
}

variable "artifacts_dir" {
  description = "Folder of the build outputs (`make package`): lambdas/<function>.zip, glue/load_orders.py, glue/pipeline.zip."
  type        = string
}

variable "definition_file" {
  description = "Path of the state machine's ASL template (statemachine/etl.asl.json)."
  type        = string
}

variable "notification_emails" {
  description = "Email addresses subscribed to the run status topic."
  type        = list(string)
  default     = []
}

variable "schedule_expression" {
  description = "When the daily run starts (EventBridge cron or rate expression, UTC)."
  type        = string
  default     = "cron(0 6 * * ? *)"
}

variable "schedule_enabled" {
  description = "Whether the daily schedule fires."
  type        = bool
  default     = true
}

variable "missed_run_check_hour_utc" {
  description = "Hour (UTC) by which the day's run must be recorded: the missed-run check emails the status topic otherwise. After the daily schedule plus the run's usual duration, on the same UTC day."
  type        = number
  default     = 12
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for buckets, tables and queues. Null uses SSE-S3 and the AWS managed/owned keys."
  type        = string
  default     = null
}

variable "sns_kms_master_key_id" {
  description = "ARN of the KMS key of the status topic; null creates a customer managed key that CloudWatch alarms and EventBridge rules may use (see the notifications module)."
  type        = string
  default     = null
}

variable "force_destroy_buckets" {
  description = "Allow destroying buckets that still hold objects. Only for throwaway environments."
  type        = bool
  default     = false
}

variable "deletion_protection_enabled" {
  description = "Refuse to delete the DynamoDB tables."
  type        = bool
  default     = true
}

variable "staging_runs_expiration_days" {
  description = "Days after which a run's staging files expire."
  type        = number
  default     = 30
}

variable "retry_payload_expiration_days" {
  description = "Days after which the S3 payloads of oversized retry messages (tracking/retry/) expire; at least 28, the retry queue's and the DLQ's retention."
  type        = number
  default     = 35
}

variable "quarantine_expiration_days" {
  description = "Days after which quarantined records and unreadable messages (tracking/quarantine/) expire."
  type        = number
  default     = 400
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions expire in the landing, staging and artifacts buckets."
  type        = number
  default     = 30
}

variable "retry_max_receive_count" {
  description = "Receives of a retry message before SQS moves it to the dead-letter queue."
  type        = number
  default     = 5
}

variable "log_retention_days" {
  description = "Retention of the functions' (and the state machine's) log groups, in days."
  type        = number
  default     = 365
}

variable "lambda_timeouts" {
  description = "Timeout in seconds per function role, overriding the defaults (track_begin 30, extract 900, track_result 300, notify 60, track_failure 60)."
  type        = map(number)
  default     = {}
}

variable "lambda_memory_sizes" {
  description = "Memory in MB per function role, overriding the defaults (extract 1024, the others 256)."
  type        = map(number)
  default     = {}
}

variable "max_attempts" {
  description = "Attempts at loading a failed record before it is quarantined (MAX_ATTEMPTS)."
  type        = number
  default     = 3
}

variable "orders_source" {
  description = "Where the day's orders are read (ORDERS_SOURCE), with a {run_date} placeholder. Null means the landing bucket's landing/orders/dt={run_date}/."
  type        = string
  default     = null
}

variable "catalog_source" {
  description = "Where the product catalog is read (CATALOG_SOURCE). Null means the landing bucket's reference/products.csv."
  type        = string
  default     = null
}

variable "chunk_rows" {
  description = "Rows per staging chunk (CHUNK_ROWS)."
  type        = number
  default     = 50000
}

variable "log_level" {
  description = "Log level of the functions (LOG_LEVEL)."
  type        = string
  default     = "INFO"
}

variable "redash_url" {
  description = "Base URL of the Redash instance (REDASH_URL); empty when there is none."
  type        = string
  default     = ""
}

variable "redash_api_key_parameter" {
  description = "SSM parameter holding the Redash API key (REDASH_API_KEY_PARAMETER); empty when there is none."
  type        = string
  default     = ""
}

variable "state_machine_log_level" {
  description = "Execution history logged to CloudWatch Logs: OFF, ERROR, FATAL or ALL."
  type        = string
  default     = "OFF"
}

variable "state_machine_tracing_enabled" {
  description = "Trace executions with AWS X-Ray."
  type        = bool
  default     = true
}

variable "log_kms_key_arn" {
  description = "KMS key encrypting the log groups (functions, state machine, Glue job). Its key policy must allow the CloudWatch Logs service principal of the region. Null keeps CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "alarms_enabled" {
  description = "Create the CloudWatch alarms (failed/timed-out executions, no successful run in 26 hours, retry backlog, quarantine, function errors) notifying the status topic."
  type        = bool
  default     = true
}

variable "retry_backlog_threshold" {
  description = "Visible messages on the retry queue above which the retry backlog alarm fires."
  type        = number
  default     = 1000
}

variable "quarantine_threshold" {
  description = "Visible messages on the retry dead-letter queue above which the quarantine alarm fires (0: any quarantined record)."
  type        = number
  default     = 0
}

variable "lambda_tracing_mode" {
  description = "X-Ray tracing mode of the functions: Active (traced; the roles get AWSXRayDaemonWriteAccess) or PassThrough."
  type        = string
  default     = "Active"
}
