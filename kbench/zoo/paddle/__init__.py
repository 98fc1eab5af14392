"""The zoo's networks in Paddle dygraph, parameter-compatible with PaddleDetection's checkpoints."""
