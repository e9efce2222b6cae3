environment "preprod" {
  account = "preprod"
  layout  = "full-stack"
}
