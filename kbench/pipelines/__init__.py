"""numpy pre- and post-processing shared by every runtime: rescoring, OKS-NMS (crops and decoding to come)."""
