"""benchmarks/generation_speed.py's --context mode: one row per (mixer, N) from a fresh process, the decoding
state sized as the mixer says, resumable, and a failed worker leaves a row with its error."""

import json

import generation_speed


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_context_rows_resume_and_failures(tmp_path):
    out = tmp_path / "ctx.jsonl"
    flags = ["--mixers", "lstm,attention", "--context", "12", "--steps", "2", "--prefill-chunk", "5",
             "--d-model", "32", "--layers", "1", "--out", str(out)]
    generation_speed.main(flags)
    rows = _rows(out)
    assert [(r["mixer"], r["context"]) for r in rows] == [("lstm", 12), ("attention", 12)]
    assert all(r["tokens_per_s"] > 0 and r["decode_peak_rss_mib"] > 0 and "commit" in r["provenance"] for r in rows)
    # the KV cache after 12 context tokens, 4 warm-up and 2 timed steps: keys and values, 18 x 32 floats each
    attention = rows[1]
    assert attention["state_mib"] * 2**20 == 2 * 18 * 32 * 4 + 8  # + the int64 position
    generation_speed.main(flags)  # resumes: nothing left to do
    assert len(_rows(out)) == 2
    generation_speed.main([*flags[:8], "--d-model", "32", "--layers", "1", "--timeout", "0.01", "--out", str(out),
                           "--context", "13"])
    failed = _rows(out)[2:]
    assert [r["mixer"] for r in failed] == ["lstm", "attention"] and all("--timeout" in r["error"] for r in failed)
