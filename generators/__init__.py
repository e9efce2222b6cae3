"""Turns one declarative description of an AWS Organization into per-account Terraform workspaces.

The package reads top to bottom as a pipeline:

    hcl_loader  -> read environments/*.hcl into located raw blocks (python-hcl2)
    config      -> validate the raw blocks into immutable models (models.py), enforcing the account layout
    workspace   -> build each environment's Terraform document as plain data (pure)
    engine      -> synthesize the documents through CDK for Terraform (the only place that imports cdktf)
    output      -> plan the files, write them atomically, report created / changed / removed

Only the CLI (cli.py) prints or exits.
"""

TOOL_NAME = "aws-org-workspaces"
