output "redash_url" {
  description = "Redash's base URL (the load balancer's DNS name), for `etl dashboard publish --redash-url` and the pipeline's REDASH_URL."
  value       = "${local.https ? "https" : "http"}://${aws_lb.redash.dns_name}"
}

output "lb_dns_name" {
  description = "DNS name of the load balancer, for a CNAME/alias record matching the certificate."
  value       = aws_lb.redash.dns_name
}

output "lb_zone_id" {
  description = "Hosted zone id of the load balancer, for a Route 53 alias record."
  value       = aws_lb.redash.zone_id
}

output "instance_id" {
  description = "EC2 instance id of the Redash host (connect with `aws ssm start-session --target <id>`)."
  value       = aws_instance.redash.id
}

output "instance_role_arn" {
  description = "ARN of the instance role: read-only on the two tables, plus SSM management."
  value       = aws_iam_role.instance.arn
}

output "alb_security_group_id" {
  description = "Security group of the load balancer."
  value       = aws_security_group.alb.id
}

output "instance_security_group_id" {
  description = "Security group of the Redash instance."
  value       = aws_security_group.instance.id
}
