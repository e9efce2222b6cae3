# A short-lived API environment for branch feature/checkout, sharing the dev infrastructure.
environment "feature-checkout" {
  account = "dev"
  uses    = "dev"
  ttl     = "7d"
  branch  = "feature/checkout"

  module "api" {
    source = "api"
    inputs = {
      table_name  = uses.infra.table_name
      bucket_name = uses.infra.bucket_name
    }
  }
}
