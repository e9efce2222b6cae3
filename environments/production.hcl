environment "production" {
  account = "prod"
  layout  = "full-stack"
}
