"""Capability bench: train every mixer on the synthetic tasks and compare (``rnnzoo bench``)."""

from rnnzoo.bench.runner import bench_from_args, load_records, run_suite, suite_from_args, validate
from rnnzoo.bench.suites import SUITES, Suite, TaskRun, get_suite
from rnnzoo.spec import parse_mixer_spec, parse_spec, split_list

__all__ = ["SUITES", "bench_from_args", "suite_from_args", "Suite", "TaskRun", "get_suite", "load_records", "parse_mixer_spec", "parse_spec", "run_suite", "split_list",
           "validate"]
