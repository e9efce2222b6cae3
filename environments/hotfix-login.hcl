# A short-lived API environment for branch hotfix/login, sharing the dev infrastructure.
environment "hotfix-login" {
  account = "dev"
  uses    = "dev"
  ttl     = "7d"
  branch  = "hotfix/login"

  module "api" {
    source = "api"
    inputs = {
      table_name  = uses.infra.table_name
      bucket_name = uses.infra.bucket_name
    }
  }
}
