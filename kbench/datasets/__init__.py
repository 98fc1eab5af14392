"""Readers that turn data-set files into arrays: COCO keypoints and results, detector boxes, MPII.

Also :mod:`kbench.datasets.synthetic`, seeded COCO-like data for tests, benchmarks and the demo.
"""
