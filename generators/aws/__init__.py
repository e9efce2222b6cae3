"""AWS around the workspaces: sessions and clients (clients), the Organization's accounts, guardrails,
state buckets and roles (bootstrap, policies, policy_eval), and the local AWS (sandbox, demo)."""
