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
  description = "ARN of the KMS key that encrypts the topic's messages at rest. Null (the default) creates a customer managed key whose policy lets CloudWatch alarms and EventBridge rules publish; a key of your own needs the same grants. Never alias/aws/sns: its policy cannot grant them, so no alarm could arrive."
  type        = string
  default     = null

  validation {
    condition     = var.kms_master_key_id == null || can(regex("^arn:[^:]+:kms:[^:]+:[0-9]{12}:key/", var.kms_master_key_id))
    error_message = "kms_master_key_id must be a key ARN (arn:aws:kms:<region>:<account>:key/<id>), so the publishing functions can be granted it; alias/aws/sns cannot be used at all (CloudWatch alarms and EventBridge rules cannot publish through it). Leave it null to create a customer managed key."
  }
}
