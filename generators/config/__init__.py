"""Load and validate: environments/*.hcl read into located raw blocks (hcl_loader, layouts, expressions),
checked by the layout rules into the immutable models every later stage reads (organization, models)."""
