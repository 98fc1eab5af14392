"""numpy pre- and post-processing shared by every runtime, and the evaluation loops that drive a runtime.

* ``crops`` (person boxes, affine crops, normalisation) and ``heatmaps`` (flip merge, decoding), re-exported
  with :class:`~kbench.pipelines.topdown.TopDownSettings` by ``topdown``;
* ``bottomup``: HigherHRNet's resize, flip merge, peak finding and associative-embedding grouping;
* ``oks_nms``: PaddleDetection's rescoring and OKS-NMS;
* ``prefetch``, ``topdown_run`` and ``bottomup_run``: worker processes that decode and crop ahead of the
  runtime, batching, and the per-stage time split.
"""
