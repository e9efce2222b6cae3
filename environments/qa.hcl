environment "qa" {
  account = "qa"
  layout  = "full-stack"
}
