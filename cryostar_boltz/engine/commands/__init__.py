"""One module per command: docstring, add_args(parser), main(args)."""
