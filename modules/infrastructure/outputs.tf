output "table_name" {
  description = "Name of the DynamoDB notes table."
  value       = aws_dynamodb_table.notes.name
}

output "table_arn" {
  description = "ARN of the DynamoDB notes table."
  value       = aws_dynamodb_table.notes.arn
}

output "bucket_name" {
  description = "Name of the S3 uploads bucket."
  value       = aws_s3_bucket.uploads.id
}
