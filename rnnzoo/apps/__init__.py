"""Applications on real data: each a data pipeline plus a train/evaluate function the CLI calls."""
