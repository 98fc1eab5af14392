"""kbench: benchmarking and evaluation suite for human keypoint models.

Importing the package is cheap: it imports no numpy-heavy module and no deep-learning framework.
Public entry points live in the sub-packages (``kbench.evaluators``, ``kbench.datasets``, ...).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
