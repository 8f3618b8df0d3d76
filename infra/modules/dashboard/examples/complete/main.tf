# A Redash host for the nightly ETL's dashboard in an existing VPC, reachable over HTTPS from the office/VPN
# range only. The tables are the ones the tracking module created (infra/modules/tracking outputs).

provider "aws" {
  region = var.region
}

module "dashboard" {
  source = "../.."

  name_prefix         = var.name_prefix
  vpc_id              = var.vpc_id
  instance_subnet_id  = var.private_subnet_ids[0]
  alb_subnet_ids      = var.private_subnet_ids
  internal            = true
  allowed_cidr_blocks = var.allowed_cidr_blocks
  certificate_arn     = var.certificate_arn
  runs_table_arn      = var.runs_table_arn
  orders_table_arn    = var.orders_table_arn
  tags                = { project = "nightly-etl", component = "dashboard" }
}
