"""Run Terraform: requests and reports (model), which environments in which order (selection), and
init/plan/apply in parallel (runner), with locks, signals and Terraform's JSON output."""
