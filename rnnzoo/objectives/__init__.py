"""Training objectives that change the training signal of any causal language model, one file each:

- ``meap``: mask-enhanced autoregressive prediction (mask a fraction of the inputs, keep the targets);
- ``lexinvariant``: a language model without a fixed embedding table (random per-sequence embeddings);
- ``birdie``: Birdie's mixture of objectives on a bidirectional prefix, and the bandit that reweights them.
"""
