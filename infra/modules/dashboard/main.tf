# An optional Redash host for the nightly ETL's dashboard: one EC2 instance in a private subnet running
# Redash's official images with Docker Compose, behind an application load balancer that only the allowed
# CIDR blocks can reach. Redash's secrets are generated on the instance at first boot: they never pass
# through Terraform, its state or the repository.

locals {
  https        = var.certificate_arn != null
  listen_ports = local.https ? [80, 443] : [80]
  redash_port  = 5000
  ami_id       = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.ubuntu[0].value
  ingress = {
    for pair in setproduct(var.allowed_cidr_blocks, local.listen_ports) :
    "${pair[0]}:${pair[1]}" => { cidr = pair[0], port = pair[1] }
  }
  egress = {
    for pair in setproduct(var.instance_egress_cidr_blocks, [80, 443]) :
    "${pair[0]}:${pair[1]}" => { cidr = pair[0], port = pair[1] }
  }
}

data "aws_region" "current" {}

data "aws_ssm_parameter" "ubuntu" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
}

# --- network access -----------------------------------------------------------------------------

resource "aws_security_group" "alb" {
  name        = "${var.name_prefix}-redash-alb"
  description = "Redash load balancer: reachable from the allowed CIDR blocks only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-redash-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "alb_from_allowed" {
  for_each = local.ingress

  security_group_id = aws_security_group.alb.id
  description       = "Redash users on port ${each.value.port}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = strcontains(each.value.cidr, ":") ? null : each.value.cidr
  cidr_ipv6         = strcontains(each.value.cidr, ":") ? each.value.cidr : null
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "alb_to_redash" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward to the Redash server"
  ip_protocol                  = "tcp"
  from_port                    = local.redash_port
  to_port                      = local.redash_port
  referenced_security_group_id = aws_security_group.instance.id
  tags                         = var.tags
}

resource "aws_security_group" "instance" {
  name        = "${var.name_prefix}-redash-instance"
  description = "Redash host: the load balancer in, HTTPS/HTTP out"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-redash-instance" })
}

resource "aws_vpc_security_group_ingress_rule" "instance_from_alb" {
  security_group_id            = aws_security_group.instance.id
  description                  = "Redash server from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.redash_port
  to_port                      = local.redash_port
  referenced_security_group_id = aws_security_group.alb.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "instance_out" {
  for_each = local.egress

  security_group_id = aws_security_group.instance.id
  description       = "Images, OS packages and AWS APIs on port ${each.value.port}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = strcontains(each.value.cidr, ":") ? null : each.value.cidr
  cidr_ipv6         = strcontains(each.value.cidr, ":") ? each.value.cidr : null
  tags              = var.tags
}

# --- the instance's identity: read the two tables, be managed through SSM --------------------------

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "read_tables" {
  statement {
    sid = "ReadEtlTables"
    # BatchGetItem: the dashboard's queries read the window's run dates by key in one call.
    actions = [
      "dynamodb:GetItem",
      "dynamodb:BatchGetItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "dynamodb:DescribeTable",
    ]
    resources = [var.runs_table_arn, var.orders_table_arn]
  }
}

resource "aws_iam_role" "instance" {
  name               = "${var.name_prefix}-redash"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "read_tables" {
  name   = "read-etl-tables"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.read_tables.json
}

resource "aws_iam_role_policy_attachment" "ssm_managed" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "instance" {
  name = "${var.name_prefix}-redash"
  role = aws_iam_role.instance.name
  tags = var.tags
}

# --- the Redash host --------------------------------------------------------------------------------

resource "aws_instance" "redash" {
  #checkov:skip=CKV_AWS_126:Basic 5-minute metrics suffice for a single dashboard host behind a health-checked load balancer; detailed monitoring is billed per metric.
  ami                    = local.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.instance_subnet_id
  vpc_security_group_ids = [aws_security_group.instance.id]
  iam_instance_profile   = aws_iam_instance_profile.instance.name
  ebs_optimized          = true

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    aws_region     = data.aws_region.current.name
    redash_image   = var.redash_image
    postgres_image = var.postgres_image
    redis_image    = var.redis_image
    redash_port    = local.redash_port
  })

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required" # IMDSv2 only
    # Two hops: Redash runs in containers, one network hop away from the instance.
    http_put_response_hop_limit = 2
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size_gb
    encrypted             = true
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
  }

  lifecycle {
    # A newer AMI must not replace the host (and its PostgreSQL data) on the next apply.
    ignore_changes = [ami, user_data]
  }

  tags = merge(var.tags, { Name = "${var.name_prefix}-redash" })
}

resource "aws_lb" "redash" {
  #checkov:skip=CKV2_AWS_20:With certificate_arn set, aws_lb_listener.http (count) redirects port 80 to HTTPS; only the documented no-certificate opt-in serves plain HTTP.
  #checkov:skip=CKV_AWS_91:Access logs need an S3 bucket with the regional ELB log-delivery policy, which this module does not own; Redash logs its own requests and queries.
  name                       = substr("${var.name_prefix}-redash", 0, 32)
  load_balancer_type         = "application"
  internal                   = var.internal
  subnets                    = var.alb_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection_enabled
  tags                       = var.tags
}

resource "aws_lb_target_group" "redash" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the hop to Redash stays inside the VPC, to an instance whose security group admits only the load balancer.
  name     = substr("${var.name_prefix}-redash", 0, 32)
  port     = local.redash_port
  protocol = "HTTP"
  vpc_id   = var.vpc_id

  health_check {
    path                = "/ping"
    matcher             = "200"
    interval            = 30
    healthy_threshold   = 2
    unhealthy_threshold = 5
  }

  tags = var.tags
}

resource "aws_lb_target_group_attachment" "redash" {
  target_group_arn = aws_lb_target_group.redash.arn
  target_id        = aws_instance.redash.id
  port             = local.redash_port
}

resource "aws_lb_listener" "https" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.redash.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.redash.arn
  }

  tags = var.tags
}

# With a certificate, plain HTTP only redirects to HTTPS.
resource "aws_lb_listener" "http" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.redash.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

# Without a certificate, port 80 serves Redash (see the README's warning).
resource "aws_lb_listener" "http_forward" {
  count = local.https ? 0 : 1

  #checkov:skip=CKV_AWS_103:No TLS here by construction: exists only when certificate_arn is null (documented plain-HTTP opt-in); with a certificate the HTTPS listener uses ELBSecurityPolicy-TLS13-1-2-2021-06.
  #checkov:skip=CKV_AWS_2:Exists only when certificate_arn is null, an explicit choice the README warns about (API keys and sessions cross the network unencrypted); with a certificate port 80 only redirects to HTTPS.
  load_balancer_arn = aws_lb.redash.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.redash.arn
  }

  tags = var.tags
}
