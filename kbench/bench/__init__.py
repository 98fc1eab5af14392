"""Measurement plumbing: run records (``records``), the params/FLOPs counter (``flops``), the latency harness
(``timing``, ``latency``, ``latency_runners``, ``latency_pipeline``) and the machine fingerprint (``machine``)."""
