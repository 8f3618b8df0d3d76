variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"nightly-etl-prod\"."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the Redash host and its load balancer."
  type        = string
}

variable "instance_subnet_id" {
  description = "Private subnet of the Redash instance. It needs outbound HTTPS (a NAT gateway or VPC endpoints) to pull images and reach DynamoDB and SSM."
  type        = string
}

variable "alb_subnet_ids" {
  description = "Subnets of the load balancer, in at least two availability zones. Private subnets for an internal load balancer, public ones when internal = false."
  type        = list(string)

  validation {
    condition     = length(var.alb_subnet_ids) >= 2
    error_message = "An application load balancer needs subnets in at least two availability zones."
  }
}

variable "internal" {
  description = "Whether the load balancer is internal (reachable only from inside the VPC and its peers/VPN). Set false to give it a public address; access is still limited to allowed_cidr_blocks."
  type        = bool
  default     = true
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks allowed to reach Redash through the load balancer, e.g. the office or VPN range. No default: choose who may connect. 0.0.0.0/0 and ::/0 are refused unless allow_public_access is true."
  type        = list(string)

  validation {
    condition     = length(var.allowed_cidr_blocks) > 0 && alltrue([for cidr in var.allowed_cidr_blocks : can(cidrhost(cidr, 0))])
    error_message = "allowed_cidr_blocks needs at least one valid CIDR block, e.g. [\"10.20.0.0/16\"]."
  }

  validation {
    condition     = var.allow_public_access || length(setintersection(toset(var.allowed_cidr_blocks), toset(["0.0.0.0/0", "::/0"]))) == 0
    error_message = "allowed_cidr_blocks opens Redash to the whole internet; set allow_public_access = true if that is really intended."
  }
}

variable "allow_public_access" {
  description = "Permit 0.0.0.0/0 or ::/0 in allowed_cidr_blocks. Keep false unless the dashboard is meant to be reachable from anywhere."
  type        = bool
  default     = false
}

variable "certificate_arn" {
  description = "ACM certificate for an HTTPS listener (port 443, with port 80 redirecting to it). Null serves plain HTTP on port 80: API keys and sessions then cross the network unencrypted."
  type        = string
  default     = null
}

variable "runs_table_arn" {
  description = "ARN of the etl_runs DynamoDB table the dashboard's queries read."
  type        = string
}

variable "orders_table_arn" {
  description = "ARN of the orders DynamoDB table (read-only, for ad-hoc lookups by key; the dashboard itself never scans it)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type. Redash's server, workers, PostgreSQL and Redis share it: 4 GiB of memory is the practical minimum."
  type        = string
  default     = "t3.medium"
}

variable "ami_id" {
  description = "AMI of the instance. Null uses the latest Ubuntu 24.04 LTS (amd64) published by Canonical in SSM Parameter Store; the user data expects Ubuntu/Debian (apt)."
  type        = string
  default     = null
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted root volume, which also holds Redash's PostgreSQL data."
  type        = number
  default     = 30
}

variable "kms_key_id" {
  description = "KMS key (ARN) encrypting the root volume. Null uses the AWS managed EBS key."
  type        = string
  default     = null
}

variable "redash_image" {
  description = "Redash container image (server, scheduler and workers). Pin a released version."
  type        = string
  default     = "redash/redash:25.1.0"
}

variable "postgres_image" {
  description = "PostgreSQL container image for Redash's metadata."
  type        = string
  default     = "postgres:16-alpine"
}

variable "redis_image" {
  description = "Redis container image for Redash's queues."
  type        = string
  default     = "redis:7-alpine"
}

variable "instance_egress_cidr_blocks" {
  description = "Where the instance may open outbound HTTPS/HTTP connections (image registry, OS packages, AWS APIs). Narrow it when VPC endpoints and a package mirror are available."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "deletion_protection_enabled" {
  description = "Protect the load balancer from deletion; set false before destroying the dashboard."
  type        = bool
  default     = true
}
