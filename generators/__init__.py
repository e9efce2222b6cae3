"""Turns one declarative description of an AWS Organization into per-account Terraform workspaces.

The packages read top to bottom as a pipeline (see ARCHITECTURE.md):

    config/   -> read environments/*.hcl into located raw blocks and validate them into immutable models
    synth/    -> build each environment's Terraform document as plain data, render it through an engine
                 (synth/engine/, the only place that imports cdktf), plan the files, write them, report
    run/      -> run terraform init/plan/apply over the synthesized workspaces
    review/   -> review plans, find what a change affects, write the CI files
    envs/     -> branch environments
    aws/      -> AWS around the workspaces: clients, bootstrap, policies, the local sandbox
    insights/ -> the Organization read live from AWS: limits, costs, access, graph

Only the CLI (cli/) prints or exits.
"""

TOOL_NAME = "aws-org-workspaces"
