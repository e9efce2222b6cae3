# The shared infrastructure environment of the development account: short-lived API
# environments read its outputs through `uses` instead of each building their own.
environment "dev" {
  account = "dev"

  module "infra" {
    source = "infrastructure"
  }
}
