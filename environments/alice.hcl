environment "alice" {
  account = "alice"
  layout  = "full-stack"
}
