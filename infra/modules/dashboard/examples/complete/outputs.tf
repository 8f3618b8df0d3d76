output "redash_url" {
  description = "Redash's base URL: open it to create the admin user, then publish the dashboard."
  value       = module.dashboard.redash_url
}

output "instance_id" {
  description = "The Redash host, for `aws ssm start-session`."
  value       = module.dashboard.instance_id
}
