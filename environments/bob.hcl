environment "bob" {
  account = "bob"
  layout  = "full-stack"
}
