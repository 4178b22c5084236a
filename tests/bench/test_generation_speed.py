"""benchmarks/generation_speed.py's --context mode: one row per (mixer, N) from a fresh process, the decoding
state sized as the mixer says, resumable, and a failed worker leaves a row with its error."""

import json

import generation_speed


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_context_rows_resume_and_failures(tmp_path):
    out = tmp_path / "ctx.jsonl"
    flags = ["--mixers", "attention", "--context", "12", "--steps", "2", "--prefill-chunk", "5",
             "--d-model", "32", "--layers", "1", "--out", str(out)]
    generation_speed.main(flags)
    rows = _rows(out)
    assert [(r["mixer"], r["context"]) for r in rows] == [("attention", 12)]
    row = rows[0]
    assert row["tokens_per_s"] > 0 and row["cpu_ms_per_token"] > 0 and row["decode_peak_rss_mib"] > 0
    assert "commit" in row["provenance"]
    # the KV cache after 12 context tokens, 4 warm-up and 2 timed steps: keys and values, 18 x 32 floats each
    assert row["state_mib"] * 2**20 == 2 * 18 * 32 * 4 + 8  # + the int64 position
    generation_speed.main(flags)  # resumes: nothing left to do
    assert len(_rows(out)) == 1
    generation_speed.main([*flags[:8], "--d-model", "32", "--layers", "1", "--timeout", "0.01", "--out", str(out),
                           "--context", "13"])
    failed = _rows(out)[1:]
    assert [r["mixer"] for r in failed] == ["attention"] and "--timeout" in failed[0]["error"]
