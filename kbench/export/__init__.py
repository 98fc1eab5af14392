"""Exporters: Paddle Inference (static graph), ONNX, Paddle Lite and TensorRT artifacts, each with a manifest."""
