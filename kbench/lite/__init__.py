"""Paddle Lite support: a Python 3.10 worker environment, and the worker process that runs ``.nb`` models.

Paddle Lite's Python wheel (``paddlelite==2.13rc0``) is published only up to Python 3.10, while kbench runs on
newer Pythons. So kbench keeps a small separate virtual environment (:mod:`kbench.lite.env`) with ``paddlelite`` and
``numpy<2`` in it, and talks to one worker process per loaded model (:mod:`kbench.lite.worker`) over pipes. The
worker also runs Paddle Lite's ``opt`` converter (:func:`kbench.export.lite.convert_to_lite`).

Nothing here imports paddlelite into the kbench process.
"""

from kbench.lite.env import LiteEnv, ensure_lite_env, env_dir, find_python310

__all__ = ["LiteEnv", "ensure_lite_env", "env_dir", "find_python310"]
