"""Review before apply: plan summaries, danger flags, orphaned state and change sets (review, render,
orphans, plan_changes), what a git change affects (affected), the CI files (ci_config, templates/)."""
