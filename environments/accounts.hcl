# Holds the Organization and consolidated billing; never any workloads.
account "management" {
  id    = "123456789012"
  email = "aws+management@acme.test"
  kind  = "management"
}

# Production: strict access, exactly one environment.
account "prod" {
  id    = "200000000001"
  email = "aws+prod@acme.test"
  kind  = "production"
}

# One account for EACH staging environment, so each mirrors production.
account "preprod" {
  id    = "300000000001"
  email = "aws+preprod@acme.test"
  kind  = "staging"
}

account "qa" {
  id    = "300000000002"
  email = "aws+qa@acme.test"
  kind  = "staging"
}

account "uat" {
  id    = "300000000003"
  email = "aws+uat@acme.test"
  kind  = "staging"
}

# One shared account for ALL short-lived development environments.
account "dev" {
  id    = "400000000001"
  email = "aws+dev@acme.test"
  kind  = "development"
}

# One playground account per developer.
account "alice" {
  id    = "500000000001"
  email = "aws+alice@acme.test"
  kind  = "developer"
  owner = "alice"
}

account "bob" {
  id    = "500000000002"
  email = "aws+bob@acme.test"
  kind  = "developer"
  owner = "bob"
}
