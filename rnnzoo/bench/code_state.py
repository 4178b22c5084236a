"""Which code a bench record was made by, so that a results file never silently mixes code versions.

```python
from rnnzoo.bench.code_state import code_state, other_code
record["code"] = code_state()                  # {"commit": "c1d8...", "diff": None} on a clean checkout
stale = other_code(records, code_state())      # the records a resumed run must not be mixed with
```

``code_state()`` is the git commit of the checkout that holds the imported package plus a hash of its
uncommitted edits to tracked files (``git diff HEAD``), so two runs from the same dirty tree match and a
run after any further edit does not. Outside a git checkout it is the rnnzoo version. Records written
before this key existed are judged by their ``provenance`` stamp: same commit and a clean tree match;
a dirty tree or no stamp at all cannot be shown to match, so they count as other code.
"""

from __future__ import annotations

import hashlib
import subprocess

import rnnzoo
from rnnzoo.provenance import PACKAGE_DIR, git_state


def code_state() -> dict:
    """{"commit", "diff"}: the commit and the sha256 (16 hex digits) of ``git diff HEAD``, None when clean;
    {"version"} outside a git checkout."""
    commit, dirty = git_state(PACKAGE_DIR)
    if commit is None:
        return {"version": rnnzoo.__version__}
    diff = None
    if dirty:
        done = subprocess.run(["git", "-C", str(PACKAGE_DIR), "diff", "HEAD", "--binary"], capture_output=True,
                              timeout=30)
        diff = hashlib.sha256(done.stdout).hexdigest()[:16]
    return {"commit": commit, "diff": diff}


def record_code(record: dict) -> dict | None:
    """The code state of a record: its "code" key, or one derived from its provenance stamp when that shows
    a clean checkout; None when it cannot be known."""
    if "code" in record:
        return record["code"]
    stamp = record.get("provenance") or {}
    if stamp.get("commit") and stamp.get("dirty") is False:
        return {"commit": stamp["commit"], "diff": None}
    return None


def describe(code: dict | None) -> str:
    if code is None:
        return "unknown code (no stamp, or uncommitted edits before edits were hashed)"
    if "version" in code:
        return f"rnnzoo {code['version']} outside git"
    return f"commit {code['commit'][:10]}" + (f" with uncommitted edits {code['diff']}" if code["diff"] else "")


def other_code(records: list[dict], current: dict) -> list[dict]:
    """The records not made by the ``current`` code state."""
    return [r for r in records if record_code(r) != current]
