variable "name_prefix" {
  description = "Prefix for every resource name (the environment name, passed automatically by the generator). Lowercase letters, digits and hyphens; must start with a letter."
  type        = string

  validation {
    # Bucket name is "<name_prefix>-uploads-<12-digit account id>" and S3 bucket
    # names are limited to 63 characters: 63 - len("-uploads-") - 12 = 42.
    condition     = length(var.name_prefix) <= 42 && can(regex("^[a-z][a-z0-9-]*$", var.name_prefix))
    error_message = "name_prefix must be at most 42 characters (S3 bucket names are limited to 63 characters, and the bucket is named \"<name_prefix>-uploads-<12-digit account id>\"), start with a lowercase letter, and contain only lowercase letters, digits and hyphens."
  }
}
