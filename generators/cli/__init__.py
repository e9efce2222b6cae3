"""The command line, the only package that prints or exits: main holds the core commands, one module per
command group holds the others (imported when one of its commands is asked for); common holds what
they all share (the click group, context, console, error boundary)."""
