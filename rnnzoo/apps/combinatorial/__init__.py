"""Combinatorial sequence-to-sequence tasks (sorting, convex hull, TSP, string reversal) with exact solvers,
for ``rnnzoo.models.seq2seq`` (Pointer Networks, Order Matters). ``rnnzoo seq2seq --help``."""

from rnnzoo.apps.combinatorial.data import ORDERS, TASKS, make_batch, reorder
from rnnzoo.apps.combinatorial.solvers import convex_hull, held_karp, polygon_area, sort_order, tour_length
from rnnzoo.apps.combinatorial.train import (
                                             Seq2SeqTrainConfig,
                                             build_model,
                                             evaluate,
                                             load_model,
                                             predict,
                                             train_seq2seq,
)

__all__ = ["ORDERS", "TASKS", "make_batch", "reorder", "convex_hull", "held_karp", "polygon_area", "sort_order",
           "tour_length", "Seq2SeqTrainConfig", "build_model", "evaluate", "load_model", "predict", "train_seq2seq"]
