"""The committed HTML report in a real headless Chromium: it loads with no console error or uncaught
exception, a click on a header sorts the table (ascending, then descending), the filters hide rows, and every
plot decodes. Skipped when no Chromium is installed (Debian: ``apt-get install chromium-headless-shell``)."""

from pathlib import Path

import pytest

from tests.bench.chromium import Browser, find_chromium

PAGE = Path(__file__).resolve().parents[2] / "docs" / "results" / "bench_standard.html"
CHROMIUM = find_chromium()

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary on PATH (install chromium-headless-shell "
                                                          "or set $CHROMIUM) to load the report in a browser")]


def column(page, index: int) -> list:
    """The sort keys of column ``index`` (data-value where set, else the text), numbers as floats."""
    values = page.evaluate("Array.from(document.querySelectorAll('#board tbody tr'))"
                           f".map(r => r.cells[{index}].dataset.value ?? r.cells[{index}].textContent)")
    return [float(v) if v.replace(".", "", 1).replace("-", "", 1).isdigit() else v for v in values]


def test_report_loads_sorts_filters_and_shows_its_plots():
    with Browser(CHROMIUM) as browser:
        page = browser.open(PAGE.as_uri())
        assert page.evaluate("document.readyState") == "complete"
        assert page.errors == []
        headers = page.evaluate("Array.from(document.querySelectorAll('#board th')).map(t => t.textContent)")
        score = headers.index("score")
        before = column(page, score)
        assert len(before) > 10 and before != sorted(before)
        page.click(f"#board th:nth-child({score + 1})")
        assert column(page, score) == sorted(before)
        page.click(f"#board th:nth-child({score + 1})")
        assert column(page, score) == sorted(before, reverse=True)
        mixers = column(page, headers.index("mixer"))
        page.click(f"#board th:nth-child({headers.index('mixer') + 1})")
        assert column(page, headers.index("mixer")) == sorted(mixers)

        shown = "Array.from(document.querySelectorAll('#board tbody tr')).filter(r => r.style.display !== 'none')"
        page.evaluate("(() => { const s = document.getElementById('family'); s.value = 'rnn';"
                      " s.dispatchEvent(new Event('change')); })()")
        families = page.evaluate(f"{shown}.map(r => r.dataset.family)")
        assert families and set(families) == {"rnn"} and len(families) < len(before)

        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.src.slice(0, 22)])")
        assert images and all(done and width > 0 and src == "data:image/png;base64," for done, width, src in images)
        assert page.errors == []
