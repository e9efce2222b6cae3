data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

locals {
  table_arn  = "arn:aws:dynamodb:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:table/${var.table_name}"
  bucket_arn = "arn:aws:s3:::${var.bucket_name}"
}

data "aws_iam_policy_document" "assume_role" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "api" {
  name               = "${var.name_prefix}-api"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
}

data "aws_iam_policy_document" "api" {
  statement {
    sid    = "NotesTable"
    effect = "Allow"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:Query",
    ]
    resources = [local.table_arn]
  }

  statement {
    sid    = "UploadsObjects"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
    ]
    resources = ["${local.bucket_arn}/*"]
  }

  statement {
    sid       = "UploadsBucket"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
  }
}

resource "aws_iam_role_policy" "api" {
  name   = "${var.name_prefix}-api"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api.json
}

resource "aws_ssm_parameter" "table_name" {
  name  = "/${var.name_prefix}/api/table_name"
  type  = "String"
  value = var.table_name
}

resource "aws_ssm_parameter" "bucket_name" {
  name  = "/${var.name_prefix}/api/bucket_name"
  type  = "String"
  value = var.bucket_name
}
