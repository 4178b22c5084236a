"""Applications on real data with the field's own formats (RecBole atomic files, MovieLens, text)."""
