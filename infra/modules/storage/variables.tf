variable "name_prefix" {
  description = "Prefix of every bucket name, e.g. \"nightly-etl\"."
  type        = string
}

variable "name_suffix" {
  description = "Suffix that makes the bucket names globally unique, e.g. the AWS account id."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the buckets' default encryption (SSE-KMS). Null keeps SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "staging_runs_expiration_days" {
  description = "Days after which the staging bucket's run files (runs/) expire."
  type        = number
  default     = 30

  validation {
    condition     = var.staging_runs_expiration_days >= 1
    error_message = "staging_runs_expiration_days must be at least 1."
  }
}

variable "retry_payload_expiration_days" {
  description = "Days after which the payloads of retry messages too large for SQS (tracking/retry/) expire. A pointer message can live 14 days on the retry queue and 14 more on its FIFO dead-letter queue (the move resets its retention): at least 28."
  type        = number
  default     = 35

  validation {
    condition     = var.retry_payload_expiration_days >= 28
    error_message = "retry_payload_expiration_days must be at least 28 (the retry queue's and the DLQ's longest retention, 14 days each)."
  }
}

variable "quarantine_expiration_days" {
  description = "Days after which quarantined records and unreadable messages (tracking/quarantine/) expire."
  type        = number
  default     = 400

  validation {
    condition     = var.quarantine_expiration_days >= 28
    error_message = "quarantine_expiration_days must be at least 28: the DLQ's announcements (up to 14 days after a FIFO move from a 14-day retry queue) point at these objects."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions expire (all three buckets)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Allow destroying the buckets while they still hold objects. Only for throwaway environments."
  type        = bool
  default     = false
}
