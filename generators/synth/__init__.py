"""Build and write: each environment's Terraform document as plain data (workspace), rendered by an
engine (engine/, the only cdktf importer), then planned, written and reported (pipeline, output)."""
