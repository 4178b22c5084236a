"""The optional compiled kernels' build: cached by source hash, written atomically, and a missing compiler or
RNNZOO_NATIVE=0 gives None with the reason instead of an error."""

import os
import shutil

import pytest
import torch

from rnnzoo.ops.kernels import native
from rnnzoo.ops.selective_scan import selective_scan


@pytest.fixture
def fresh_build(tmp_path, monkeypatch):
    """Builds into an empty cache, with the lru_cache cleared before and after."""
    monkeypatch.setenv("RNNZOO_CACHE", str(tmp_path))
    native._build.cache_clear()
    yield tmp_path
    native._build.cache_clear()


def test_builds_once_into_the_cache_with_no_temporary_left(fresh_build):
    if native._compiler() is None:
        pytest.skip("no C compiler on this machine")
    lib = native.load("selective_scan")
    assert lib is not None and hasattr(lib, "selective_scan_fwd_f32")
    built = sorted(p.name for p in (fresh_build / "native").iterdir())
    assert len(built) == 1 and built[0].startswith("selective_scan-") and built[0].endswith(".so")
    mtime = os.path.getmtime(fresh_build / "native" / built[0])
    native._build.cache_clear()
    assert native.load("selective_scan") is not None
    assert os.path.getmtime(fresh_build / "native" / built[0]) == mtime  # reused, not rebuilt


def test_a_failing_compiler_gives_none_and_its_message(fresh_build, monkeypatch):
    monkeypatch.setenv("CC", "false")
    lib, why = native._build("selective_scan")
    assert lib is None and "false failed to build selective_scan.c (exit code 1): no output" in why
    assert not list((fresh_build / "native").iterdir())  # the temporary file is removed
    with pytest.raises(RuntimeError, match="unavailable: false failed"):
        native.require("selective_scan")


def test_a_compiler_that_does_not_exist_gives_none_and_auto_falls_back(fresh_build, monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    lib, why = native._build("selective_scan")
    assert lib is None and "could not run the C compiler '/nonexistent/cc'" in why
    u = torch.randn(1, 4, 5)
    A, B = -torch.rand(4, 2), torch.randn(1, 2, 5)
    y = selective_scan(u, u.abs(), A, B, B, mode="auto")  # the PyTorch chunk form
    torch.testing.assert_close(y, selective_scan(u, u.abs(), A, B, B, mode="recurrent"))


def test_switched_off_by_the_environment(fresh_build, monkeypatch):
    monkeypatch.setenv("RNNZOO_NATIVE", "0")
    assert native.load("selective_scan") is None
    assert "RNNZOO_NATIVE=0" in native._build("selective_scan")[1]


def test_run_parallel_covers_every_item_once():
    seen = []
    used = native.run_parallel(lambda c0, c1, i: seen.extend(range(c0, c1)), 37)
    assert sorted(seen) == list(range(37)) and used == native.workers(37)


def test_an_unwritable_cache_gives_none_and_auto_falls_back(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("RNNZOO_CACHE", str(blocker))  # the cache's parent is a file: mkdir fails
    native._build.cache_clear()
    try:
        lib, why = native._build("selective_scan")
        assert lib is None and "could not build into" in why and "RNNZOO_CACHE" in why
        u = torch.randn(1, 4, 5)
        A, B = -torch.rand(4, 2), torch.randn(1, 2, 5)
        selective_scan(u, u.abs(), A, B, B, mode="auto")
    finally:
        native._build.cache_clear()


def test_the_cache_key_names_the_cpu(fresh_build, monkeypatch):
    # a home directory shared by machines must not hand one CPU's -march=native build to another
    if native._compiler() is None:
        pytest.skip("no C compiler on this machine")
    assert native.load("selective_scan") is not None
    native._build.cache_clear()
    monkeypatch.setattr(native, "_cpu_id", lambda: b"another cpu")
    assert native.load("selective_scan") is not None
    assert len(list((fresh_build / "native").glob("selective_scan-*.so"))) == 2


def test_a_header_edit_rebuilds_every_kernel(fresh_build, monkeypatch, tmp_path):
    # the kernels include shared headers (simd.h, rows.h): a build must not outlive an edit of one, nor text
    # moved from one header to another (the same bytes in all, in another file)
    if native._compiler() is None:
        pytest.skip("no C compiler on this machine")
    src = tmp_path / "csrc"
    shutil.copytree(native._SRC, src)
    monkeypatch.setattr(native, "_SRC", src)

    def builds():
        native._build.cache_clear()
        assert native.load("rms_norm") is not None
        return len(list((fresh_build / "native").glob("rms_norm-*.so")))

    assert builds() == 1
    rows, simd = (src / "rows.h").read_text(), (src / "simd.h").read_text()
    (src / "rows.h").write_text(rows + "/* edited */\n")
    assert builds() == 2
    (src / "rows.h").write_text(rows)
    assert builds() == 2  # back to the first build
    (src / "rows.h").write_text(rows[:-10])
    (src / "simd.h").write_text(rows[-10:] + simd)  # "rows.h" sorts before "simd.h": the same bytes in turn
    assert builds() == 3


@pytest.mark.parametrize("cc", ["gcc-11", "gcc-12", "clang"])
def test_builds_with_other_compilers_where_installed(fresh_build, monkeypatch, cc):
    # gcc before 12 has no __builtin_shufflevector: simd.h sums lanes one by one there
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed")
    monkeypatch.setenv("CC", cc)
    for name in ("selective_scan", "linear_attention"):
        lib, why = native._build(name)
        assert lib is not None, why
