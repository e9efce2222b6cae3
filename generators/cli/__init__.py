"""The command line, the only package that prints or exits: main holds the core commands and imports
one module per command group; common holds what they all share (context, console, error boundary)."""
