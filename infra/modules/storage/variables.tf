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
