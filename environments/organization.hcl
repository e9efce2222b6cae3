# The example organization, laid out as the seed recommends (see README, "The account layout").
organization "acme" {
  region      = "us-east-1"
  deploy_role = "TerraformDeploy"
  plan_role   = "TerraformPlan"

  # Principals the deploy and plan roles trust: two CI roles in the management account, never one
  # for both (a pull-request job plans, and a pull request can change the workflow it runs under).
  deploy_principals = ["arn:aws:iam::123456789012:role/platform-ci-deploy"]
  plan_principals   = ["arn:aws:iam::123456789012:role/platform-ci-plan"]

  # GitHub Actions signs in to each account's roles directly (OIDC): plan roles trust pull requests,
  # deploy roles pushes to main, production only its protected GitHub environment (README, "Security model").
  github_repository = "acme/infrastructure"

  # Typed cdktf customizations from generators/extensions/, switched on by name.
  extensions = ["developer-budget"]
}
