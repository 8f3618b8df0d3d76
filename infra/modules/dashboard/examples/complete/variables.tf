variable "region" {
  description = "AWS region of the ETL."
  type        = string
  default     = "eu-west-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "nightly-etl-prod"
}

variable "vpc_id" {
  description = "An existing VPC."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets in at least two availability zones, with a NAT gateway."
  type        = list(string)
}

variable "allowed_cidr_blocks" {
  description = "Who may open Redash, e.g. [\"10.0.0.0/8\"] for the VPN."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate for the dashboard's host name."
  type        = string
}

variable "runs_table_arn" {
  description = "ARN of the etl_runs table."
  type        = string
}

variable "orders_table_arn" {
  description = "ARN of the orders table."
  type        = string
}
