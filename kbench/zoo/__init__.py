"""Framework-bound network definitions, imported only by adapters and the profiler (never by the CLI at start)."""
