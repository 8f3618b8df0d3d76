variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"nightly-etl\"."
  type        = string
}

variable "notification_emails" {
  description = "Email addresses subscribed to the run status topic. AWS sends each a confirmation link."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for email in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", email))])
    error_message = "Every entry of notification_emails must be an email address."
  }
}

variable "kms_master_key_id" {
  description = "KMS key (id, ARN or alias) that encrypts the topic's messages at rest."
  type        = string
  default     = "alias/aws/sns"
}
