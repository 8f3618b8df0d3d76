variable "region" {
  description = "Region the emulator serves."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Name of the environment."
  type        = string
  default     = "local"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "nightly-etl"
}

variable "artifacts_dir" {
  description = "Folder of the build outputs (`make package`). Null means the repository's build/."
  type        = string
  default     = null
}

variable "notification_emails" {
  description = "Email addresses subscribed to the status topic (the emulator writes their mail to its outbox)."
  type        = list(string)
  default     = ["data-team@example.com"]
}

variable "schedule_expression" {
  description = "When the daily run starts. The emulator fires rules on request (or on schedule when started with --schedules)."
  type        = string
  default     = "cron(0 6 * * ? *)"
}

variable "orders_source" {
  description = "Where the day's orders are read (ORDERS_SOURCE). Null means the landing bucket."
  type        = string
  default     = null
}

variable "catalog_source" {
  description = "Where the product catalog is read (CATALOG_SOURCE). Null means the landing bucket."
  type        = string
  default     = null
}

variable "max_attempts" {
  description = "Attempts at loading a failed record before it is quarantined (MAX_ATTEMPTS)."
  type        = number
  default     = 3
}

variable "log_level" {
  description = "Log level of the functions (LOG_LEVEL)."
  type        = string
  default     = "INFO"
}

variable "redash_url" {
  description = "Base URL of a Redash instance (REDASH_URL); empty when there is none."
  type        = string
  default     = ""
}

variable "redash_api_key_parameter" {
  description = "SSM parameter holding the Redash API key (REDASH_API_KEY_PARAMETER); empty when there is none."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags on every resource, besides Project, Environment and ManagedBy."
  type        = map(string)
  default     = {}
}

variable "missed_run_check_hour_utc" {
  description = "Hour (UTC, 0..23) of the daily missed-run check: it emails when the day's run is not recorded by then. Must fall after the daily schedule on the same UTC day."
  type        = number
  default     = 12
}
