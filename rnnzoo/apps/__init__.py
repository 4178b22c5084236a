"""Applications on real data, each a data pipeline in the field's own format (RecBole atomic files,
MovieLens, plain text) plus a train/evaluate function the CLI calls."""
