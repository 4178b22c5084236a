"""Sequence parallelism on ``torch.distributed`` (gloo on CPU, NCCL on GPUs): LASP-2 for the mixers whose
state transition is linear in the state, LASP-2H for attention layers in the same model.

- ``group``: sequence-parallel groups and chunks (``sequence_groups``, ``split_sizes``, ``local_chunk``);
- ``collectives``: the all-gathers with their backward (``prefix_states``, ``gather_chunks``);
- ``lasp``: a mixer or a whole model on its chunk (``sequence_parallel_forward``, ``sequence_parallel``).
"""

from rnnzoo.distributed.collectives import gather_chunks, prefix_states
from rnnzoo.distributed.group import chunk_lengths, local_chunk, sequence_groups, split_sizes
from rnnzoo.distributed.lasp import sequence_parallel, sequence_parallel_forward, support

__all__ = ["chunk_lengths", "gather_chunks", "local_chunk", "prefix_states", "sequence_groups",
           "sequence_parallel", "sequence_parallel_forward", "split_sizes", "support"]
