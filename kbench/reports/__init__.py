"""Reports built from run records: HTML pages, plots, the CI gate's Markdown and JUnit output.

Reports read only run records (see :mod:`kbench.bench.records`), never evaluator internals.
"""
