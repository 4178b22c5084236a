"""The Chomsky-hierarchy length-generalisation tasks (Delétang et al. 2023), registered as ``chomsky_<name>``."""

from rnnzoo.tasks.chomsky.base import TEST_LENS, ChomskyTask
from rnnzoo.tasks.chomsky.cs import BinaryAddition, BucketSort, DuplicateString, OddsFirst
from rnnzoo.tasks.chomsky.dcf import ModularArithmeticBrackets, ReverseString, SolveEquation, StackManipulation
from rnnzoo.tasks.chomsky.regular import CycleNavigation, EvenPairs, ModularArithmetic, ParityCheck

CHOMSKY_TASKS = {
    "chomsky_even_pairs": EvenPairs,
    "chomsky_parity_check": ParityCheck,
    "chomsky_cycle_navigation": CycleNavigation,
    "chomsky_modular_arithmetic": ModularArithmetic,
    "chomsky_reverse_string": ReverseString,
    "chomsky_stack_manipulation": StackManipulation,
    "chomsky_modular_arithmetic_brackets": ModularArithmeticBrackets,
    "chomsky_solve_equation": SolveEquation,
    "chomsky_duplicate_string": DuplicateString,
    "chomsky_odds_first": OddsFirst,
    "chomsky_bucket_sort": BucketSort,
    "chomsky_binary_addition": BinaryAddition,
}

__all__ = ["CHOMSKY_TASKS", "TEST_LENS", "BinaryAddition", "BucketSort", "ChomskyTask", "CycleNavigation",
           "DuplicateString", "EvenPairs", "ModularArithmetic", "ModularArithmeticBrackets", "OddsFirst",
           "ParityCheck", "ReverseString", "SolveEquation", "StackManipulation"]
