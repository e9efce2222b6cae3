# The example organization, laid out as the seed recommends (see README, "The account layout").
organization "acme" {
  region      = "us-east-1"
  deploy_role = "TerraformDeploy"
  plan_role   = "TerraformPlan"

  # Principals the deploy and plan roles trust (the CI role in the management account).
  deploy_principals = ["arn:aws:iam::123456789012:role/platform-ci"]
  plan_principals   = ["arn:aws:iam::123456789012:role/platform-ci"]

  # Typed cdktf customizations from generators/extensions/, switched on by name.
  extensions = ["developer-budget"]
}
