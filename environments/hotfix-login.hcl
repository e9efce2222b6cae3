# A short-lived API environment for branch hotfix/login, sharing the dev infrastructure.
environment "hotfix-login" {
  account = "dev"
  uses    = "dev"
  ttl     = "7d"
  branch  = "hotfix/login"
  layout  = "branch-api"
}
