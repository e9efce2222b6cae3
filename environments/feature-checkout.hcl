# A short-lived API environment for branch feature/checkout, sharing the dev infrastructure.
environment "feature-checkout" {
  account = "dev"
  uses    = "dev"
  ttl     = "7d"
  branch  = "feature/checkout"
  layout  = "branch-api"
}
