"""A static HTML page of a bench results folder (``rnnzoo bench report --out FILE.html``): one self-contained
file, no network resources (plots are inlined as data URIs, the script is inline).

The page has the leaderboard as one table (a row per mixer x task x width x budget: score ± 95% interval over
seeds, "vs best", state size, params, seconds), sortable by clicking a header, filtered by mixer family (the
``rnnzoo/mixers/<family>.py`` that defines it) and task; every score links to its run configuration (the
exact config of each seed's record, on the page) and to its task's plot (accuracy vs length or state size).

```python
from rnnzoo.bench.html import write_html
write_html("results/bench/standard", "docs/results/bench_standard.html")
```
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections import defaultdict
from pathlib import Path
from statistics import mean

from rnnzoo import mixers
from rnnzoo.bench.report import _budget, _slug, _versus, _with_interval, mixer_label
from rnnzoo.bench.runner import load_records
from rnnzoo.bench.stats import LABEL
from rnnzoo.models.hybrid import is_hybrid
from rnnzoo.spec import parse_spec

SCRIPT = """
function sortBy(th) {
  const table = th.closest('table'), body = table.tBodies[0], col = th.cellIndex;
  const up = th.dataset.dir !== 'asc'; th.dataset.dir = up ? 'asc' : 'desc';
  const key = td => { const v = td.dataset.value ?? td.textContent; const n = parseFloat(v); return isNaN(n) ? v : n; };
  const rows = Array.from(body.rows);
  rows.sort((a, b) => { const x = key(a.cells[col]), y = key(b.cells[col]);
    return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1); });
  rows.forEach(r => body.appendChild(r));
}
function applyFilters() {
  const fam = document.getElementById('family').value, task = document.getElementById('task').value;
  for (const r of document.querySelectorAll('#board tbody tr'))
    r.style.display = (!fam || r.dataset.family === fam) && (!task || r.dataset.task === task) ? '' : 'none';
}
document.querySelectorAll('#board th').forEach(th => th.addEventListener('click', () => sortBy(th)));
document.getElementById('family').addEventListener('change', applyFilters);
document.getElementById('task').addEventListener('change', applyFilters);
"""

STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:1400px}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,td:nth-child(2),td:nth-child(3){text-align:left}
th{cursor:pointer;background:#f3f3f3}img{max-width:900px;display:block;margin:0.5em 0 1.5em}
pre{font-size:11px;background:#f8f8f8;padding:6px;overflow-x:auto}"""


def family(mixer_spec: str) -> str:
    """The mixer's family: the module of ``rnnzoo/mixers`` that defines it ("rnn" for lstm, "deltanet" for
    gated_deltanet); "hybrid" for a hybrid stack; "unknown" for a mixer this install lacks."""
    if is_hybrid(mixer_spec):
        return "hybrid"
    name = parse_spec(mixer_spec)[0]
    return mixers.get(name).__module__.rsplit(".", 1)[-1] if name in mixers.names() else "unknown"


def _image(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def render(records: list[dict], plots: list[Path], title: str) -> str:
    """The page for ``records`` (bench records) and the PNG ``plots`` of their folder."""
    rows: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        rows[(r["task"], r["mixer"], r["d_model"], *_budget(r))].append(r)
    best: dict[str, list[float]] = {}
    scores = {key: [r.get("headline", r["accuracy"][max(r["accuracy"], key=int)]) for r in rs]
              for key, rs in rows.items()}
    for key, values in scores.items():
        if key[0] not in best or mean(values) > mean(best[key[0]]):
            best[key[0]] = values
    plot_of = {p.name: p for p in plots}
    e = html.escape
    body, configs = [], []
    for i, (key, rs) in enumerate(sorted(rows.items(), key=lambda kv: (kv[0][0], -mean(scores[kv[0]])))):
        task, mixer, d_model, layers, steps, lr, batch = key
        values = scores[key]
        plot = next((n for n in plot_of if n.startswith(_slug(task) + "_acc_vs")), None)
        curve = f' <a href="#plot-{e(plot)}">curve</a>' if plot else ""
        state = rs[0].get("state_size")
        body.append(
            f'<tr data-family="{e(family(mixer))}" data-task="{e(task)}"><td>{e(mixer_label(mixer))}</td>'
            f"<td>{e(family(mixer))}</td><td>{e(task)}</td><td>{d_model}</td><td>{layers}</td><td>{steps}</td>"
            f"<td>{lr}</td><td>{batch}</td>"
            f'<td data-value="{mean(values):.6f}"><a href="#cfg-{i}">{e(_with_interval(values))}</a>{curve}</td>'
            f"<td>{e(_versus(values, best[task], values is best[task]))}</td><td>{len(rs)}</td>"
            f'<td data-value="{-1 if state is None else state}">{"grows" if state is None else f"{state:,}"}</td>'
            f"<td data-value=\"{rs[0]['params']}\">{rs[0]['params']:,}</td>"
            f"<td>{mean(r.get('wall_seconds', r['train_seconds']) for r in rs):.0f}</td></tr>")
        configs.append(f'<details id="cfg-{i}"><summary>{e(mixer)} on {e(task)}, d_model {d_model}</summary>'
                       f"<pre>{e(json.dumps([{k: r.get(k) for k in ('seed', 'key', 'accuracy', 'config', 'code', 'provenance')} for r in rs], indent=1, sort_keys=True))}</pre></details>")
    families = sorted({family(r["mixer"]) for r in records})
    tasks = sorted({r["task"] for r in records})
    options = lambda values: "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in values)  # noqa: E731
    headers = ["mixer", "family", "task", "d_model", "layers", "steps", "lr", "batch", "score", "vs best", "seeds",
               "state (floats)", "params", "wall s"]
    images = "".join(f'<h3 id="plot-{e(p.name)}">{e(p.stem)}</h3><img alt="{e(p.stem)}" src="{_image(p)}">'
                     for p in plots)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title><style>{STYLE}</style></head><body>
<h1>{e(title)}</h1>
<p>{len(records)} runs. Score: the task's headline (accuracy at its longest test length; Chomsky tasks: mean over
test lengths) as mean ± {e(LABEL)}; "vs best": Welch's t-test at 5% against the task's best row ("n.s.": not
told apart). Click a header to sort; a score links to its configuration, "curve" to its task's plot.</p>
<p>Family <select id="family"><option value="">all</option>{options(families)}</select>
Task <select id="task"><option value="">all</option>{options(tasks)}</select></p>
<table id="board"><thead><tr>{"".join(f"<th>{h}</th>" for h in headers)}</tr></thead>
<tbody>{"".join(body)}</tbody></table>
<h2>Plots</h2>{images}
<h2>Configurations</h2>{"".join(configs)}
<script>{SCRIPT}</script>
</body></html>
"""


def write_html(results_dir: str | os.PathLike, out_file: str | os.PathLike, title: str | None = None) -> Path:
    """Write the page of ``results_dir`` (its results.jsonl and plots/*.png) to ``out_file``; returns its path."""
    results = Path(results_dir)
    records = load_records(results)
    if not records:
        raise ValueError(f"no bench records in {results / 'results.jsonl'}; run `rnnzoo bench --out {results}` first")
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    page = render(records, sorted((results / "plots").glob("*.png")), title or f"rnnzoo bench: {results.name}")
    out.write_text(page, encoding="utf-8")
    return out
