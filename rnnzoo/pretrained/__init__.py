"""Other people's trained recurrent networks, run exactly on rnnzoo's mixers (weights read from installed
packages, never downloaded)."""
