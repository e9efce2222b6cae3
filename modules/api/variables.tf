variable "name_prefix" {
  description = "Prefix for every resource name (the environment name, passed automatically by the generator). Lowercase letters, digits and hyphens; must start with a letter."
  type        = string

  validation {
    # IAM role is "<name_prefix>-api" and IAM role names are limited to
    # 64 characters: 64 - len("-api") = 60.
    condition     = length(var.name_prefix) <= 60 && can(regex("^[a-z][a-z0-9-]*$", var.name_prefix))
    error_message = "name_prefix must be at most 60 characters (IAM role names are limited to 64 characters, and the role is named \"<name_prefix>-api\"), start with a lowercase letter, and contain only lowercase letters, digits and hyphens."
  }
}

variable "table_name" {
  description = "Name of the DynamoDB table the API reads and writes (e.g. the infrastructure module's table_name output)."
  type        = string
}

variable "bucket_name" {
  description = "Name of the S3 bucket the API reads and writes (e.g. the infrastructure module's bucket_name output)."
  type        = string
}
