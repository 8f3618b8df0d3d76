variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"nightly-etl\"."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the tables and queues. Null uses the AWS managed/owned keys."
  type        = string
  default     = null
}

variable "point_in_time_recovery_enabled" {
  description = "Keep continuous backups (point-in-time recovery) of both tables."
  type        = bool
  default     = true
}

variable "deletion_protection_enabled" {
  description = "Refuse to delete the tables. Turn off only for throwaway environments."
  type        = bool
  default     = true
}

variable "retry_max_receive_count" {
  description = "Receives of a retry message before SQS moves it to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.retry_max_receive_count >= 1 && var.retry_max_receive_count <= 1000
    error_message = "retry_max_receive_count must be within 1..1000."
  }
}

variable "retry_visibility_timeout_seconds" {
  description = "Visibility timeout of the retry queue; at least the whole retry budget of the state that drains it (Extract: every attempt plus its retry waits)."
  type        = number
  default     = 900

  validation {
    condition     = var.retry_visibility_timeout_seconds >= 0 && var.retry_visibility_timeout_seconds <= 43200
    error_message = "retry_visibility_timeout_seconds must be within 0..43200."
  }
}

variable "message_retention_seconds" {
  description = "How long the retry queue and its dead-letter queue keep a message (default 14 days, the maximum)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be within 60..1209600."
  }
}
