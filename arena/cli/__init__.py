"""The ``arena`` command line: one module per command group; imports stay lazy so ``arena --help`` is cheap."""
