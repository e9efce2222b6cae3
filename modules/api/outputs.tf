output "role_arn" {
  description = "ARN of the IAM role assumed by the API's Lambda functions."
  value       = aws_iam_role.api.arn
}
