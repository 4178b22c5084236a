"""Layer 1: pure functions on tensors, each with a reference mode and a fast mode."""
