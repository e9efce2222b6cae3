environment "qa" {
  account = "qa"

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
