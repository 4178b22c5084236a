"""The HTML report: one self-contained page with the sortable, filterable table, inline plots and per-row
configuration links. Checked with html.parser here; test_html_browser.py (slow) loads the page in headless
Chromium."""

import json
from html.parser import HTMLParser

from rnnzoo.bench import Suite, TaskRun, run_suite
from rnnzoo.bench.html import family
from rnnzoo.cli import main


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.rows, self.headers, self.scripts, self.ids, self.hrefs, self.images = [], [], [], [], set(), [], []
        self._cell, self._in = None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "tr" and "data-task" in a:
            self.rows.append(a)
        if tag == "a":
            self.hrefs.append(a["href"])
        if tag == "img":
            self.images.append(a["src"])
        if tag == "script":
            assert "src" not in a  # inline only: no network
        if tag == "link":
            raise AssertionError("no external stylesheets")
        self._in.append(tag)

    def handle_endtag(self, tag):
        self._in.pop()

    def handle_data(self, data):
        if self._in and self._in[-1] == "th":
            self.headers.append(data)
        if self._in and self._in[-1] == "script":
            self.scripts.append(data)


def test_report_of_a_tiny_suite_has_the_table_sort_filters_plots_and_configs(tmp_path, capsys):
    suite = Suite(name="tiny", mixers=("gru", "lstm"), tasks=(TaskRun("parity:seq_len=6:test_lens=(6,12)", steps=2,
                                                                      batch_size=4),),
                  d_models=(8,), seeds=(0, 1), n_layers=1, test_n=8)
    run_suite(suite, tmp_path / "res", progress=False, log=lambda msg: None)
    assert main(["bench", "report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "r.html")]) == 0
    assert "report:" in capsys.readouterr().out
    text = (tmp_path / "r.html").read_text()
    page = Page()
    page.feed(text)
    assert page.headers[:3] == ["mixer", "family", "task"] and "score" in page.headers and "vs best" in page.headers
    assert [r["data-family"] for r in page.rows] in (["rnn", "rnn"],) and {r["data-task"] for r in page.rows} == {
        "parity:seq_len=6:test_lens=(6,12)"}
    assert {"board", "family", "task"} <= page.ids
    script = "".join(page.scripts)
    assert "function sortBy" in script and "addEventListener('click'" in script and "applyFilters" in script
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    for href in page.hrefs:  # every link resolves on the page
        assert href.startswith("#") and href[1:] in page.ids
    assert sum(h.startswith("#cfg-") for h in page.hrefs) == 2 and any(h.startswith("#plot-") for h in page.hrefs)
    assert "http://" not in text and "https://" not in text
    assert json.loads(text.split('<pre>')[1].split('</pre>')[0].replace("&quot;", '"'))[0]["seed"] in (0, 1)
    assert family("gated_deltanet") == "deltanet" and family("nope") == "unknown"
