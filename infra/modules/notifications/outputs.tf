output "status_topic_arn" {
  description = "ARN of the SNS topic that carries each run's status message."
  value       = aws_sns_topic.status.arn
}

output "status_topic_name" {
  description = "Name of the status topic."
  value       = aws_sns_topic.status.name
}

output "email_subscription_arns" {
  description = "Subscription ARN per subscribed email address (\"pending confirmation\" until the link is followed)."
  value       = { for email, subscription in aws_sns_topic_subscription.email : email => subscription.arn }
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the topic (created here unless kms_master_key_id names one): whoever publishes needs kms:GenerateDataKey and kms:Decrypt on it."
  value       = local.create_key ? aws_kms_key.status[0].arn : var.kms_master_key_id
}
