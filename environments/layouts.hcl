# Modules stated once for the environments that share a shape; an environment names its layout
# with `layout = "..."` and may add modules or override inputs (README, "Layouts").

layout "full-stack" {
  description = "Its own infrastructure and the API on it: production, staging and developer environments"

  module "infra" {
    source = "infrastructure"
  }

  module "api" {
    source = "api"
    inputs = {
      table_name  = module.infra.table_name
      bucket_name = module.infra.bucket_name
    }
  }
}

layout "branch-api" {
  description = "The API alone, on the infrastructure of the environment it uses (short-lived branch environments)"

  module "api" {
    source = "api"
    inputs = {
      table_name  = uses.infra.table_name
      bucket_name = uses.infra.bucket_name
    }
  }
}
