variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"
}

variable "allowed_account_ids" {
  description = "Accounts this environment may be applied to; Terraform refuses any other. Null allows any."
  type        = list(string)
  default     = null
}

variable "environment" {
  description = "Name of the environment."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name; distinct per environment when environments share an account."
  type        = string
}

variable "tags" {
  description = "Tags on every resource, besides Project, Environment and ManagedBy."
  type        = map(string)
  default     = {}
}

variable "artifacts_dir" {
  description = "Folder of the build outputs (`make package`). Null means the repository's build/."
  type        = string
  default     = null
}

variable "notification_emails" {
  description = "Email addresses subscribed to the run status topic (each receives a confirmation link)."
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

variable "kms_key_arn" {
  description = "Customer managed KMS key for buckets, tables and queues. Null uses SSE-S3 and the AWS managed/owned keys."
  type        = string
  default     = null
}

variable "status_topic_kms_key_arn" {
  description = "ARN of a KMS key of your own for the status topic. Null (the default) creates a customer managed key whose policy lets CloudWatch alarms and EventBridge rules publish; a key of your own needs those grants in its policy."
  type        = string
  default     = null
}

variable "deletion_protection_enabled" {
  description = "Refuse to delete the DynamoDB tables."
  type        = bool
  default     = true
}

variable "force_destroy_buckets" {
  description = "Allow destroying buckets that still hold objects."
  type        = bool
  default     = false
}

variable "staging_runs_expiration_days" {
  description = "Days after which a run's staging files expire."
  type        = number
  default     = 30
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
  description = "Retention of the log groups, in days."
  type        = number
  default     = 365
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
  description = "Where the day's orders are read (ORDERS_SOURCE), with a {run_date} placeholder. Null means the landing bucket."
  type        = string
  default     = null
}

variable "catalog_source" {
  description = "Where the product catalog is read (CATALOG_SOURCE). Null means the landing bucket."
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
  default     = "ERROR"
}

variable "state_machine_tracing_enabled" {
  description = "Trace executions with AWS X-Ray."
  type        = bool
  default     = true
}

variable "log_kms_key_arn" {
  description = "Customer managed KMS key for the log groups; its key policy must allow the region's CloudWatch Logs service principal. Null keeps CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "alarms_enabled" {
  description = "Create the CloudWatch alarms notifying the status topic (see infra/modules/alarms)."
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

variable "missed_run_check_hour_utc" {
  description = "Hour (UTC, 0..23) of the daily missed-run check: it emails when the day's run is not recorded by then. Must fall after the daily schedule on the same UTC day."
  type        = number
  default     = 12
}
