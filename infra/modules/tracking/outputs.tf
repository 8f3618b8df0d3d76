output "orders_table_name" {
  description = "Name of the DynamoDB table of loaded orders (hash key order_id)."
  value       = aws_dynamodb_table.orders.name
}

output "orders_table_arn" {
  description = "ARN of the orders table."
  value       = aws_dynamodb_table.orders.arn
}

output "runs_table_name" {
  description = "Name of the DynamoDB table of runs, one item per run date (hash key run_date)."
  value       = aws_dynamodb_table.runs.name
}

output "runs_table_arn" {
  description = "ARN of the runs table."
  value       = aws_dynamodb_table.runs.arn
}

output "retry_queue_url" {
  description = "URL of the SQS queue of records to retry on the next run."
  value       = aws_sqs_queue.retry.id
}

output "retry_queue_arn" {
  description = "ARN of the retry queue."
  value       = aws_sqs_queue.retry.arn
}

output "retry_dlq_url" {
  description = "URL of the retry queue's dead-letter queue."
  value       = aws_sqs_queue.retry_dlq.id
}

output "retry_dlq_arn" {
  description = "ARN of the retry queue's dead-letter queue."
  value       = aws_sqs_queue.retry_dlq.arn
}
