"""Model cards: one YAML file per zoo model, named as PaddleDetection names its config.

The files are package data; reading them needs only the standard library, numpy and yaml.
"""
