"""The label that every loss and metric skips: padding, prompt positions, unlabelled tokens.

-100 is PyTorch's ``cross_entropy`` default ``ignore_index``; tasks, models, apps and the trainer import it
from here so that a batch built by one is scored correctly by another.
"""

IGNORE = -100
