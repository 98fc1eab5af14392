"""Handlers of the ``kbench`` sub-commands, one module each, imported only when their command runs."""
