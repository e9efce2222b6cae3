environment "uat" {
  account = "uat"
  layout  = "full-stack"
}
