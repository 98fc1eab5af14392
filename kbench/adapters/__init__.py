"""Runtime adapters (Paddle, ONNX Runtime, TensorRT, Paddle Lite, PyTorch) behind one small protocol.

Each runtime lives in its own module and is imported only when first used, so that ``kbench --help``
and the evaluators never load a deep-learning framework. The model-zoo and runtime issues fill this
package; nothing here is imported by the evaluators.
"""
