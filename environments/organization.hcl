# The example organization, laid out as the seed recommends (see README, "The account layout").
organization "acme" {
  region      = "us-east-1"
  deploy_role = "TerraformDeploy"
  plan_role   = "TerraformPlan"

  # Principals the deploy and plan roles trust: two CI roles in the management account, never one
  # for both (a pull-request job plans, and a pull request can change the workflow it runs under).
  deploy_principals = ["arn:aws:iam::123456789012:role/platform-ci-deploy"]
  plan_principals   = ["arn:aws:iam::123456789012:role/platform-ci-plan"]

  # Typed cdktf customizations from generators/extensions/, switched on by name.
  extensions = ["developer-budget"]
}
