"""Model weights: safe ``.pdparams`` loading and saving, and a resumable, verified download cache.

``load_pdparams`` reads a PaddleDetection checkpoint into numpy arrays without paddle and without running
code from the file; ``fetch`` and ``resolve_weights`` turn a URL into a cached local file.
"""

from kbench.weights.checkpoint import load_pdparams, save_pdparams
from kbench.weights.download import cache_path, default_cache_dir, fetch, resolve_weights

__all__ = ["load_pdparams", "save_pdparams", "fetch", "resolve_weights", "cache_path", "default_cache_dir"]
