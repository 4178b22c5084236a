"""A headless Chromium driven through the DevTools protocol over ``--remote-debugging-pipe`` (JSON messages
ending in NUL on file descriptors 3 and 4), so tests need no websocket client or browser-automation package.

```python
with Browser(find_chromium()) as browser:
    page = browser.open("file:///tmp/report.html")      # waits for the load event
    page.evaluate("document.title")                     # -> the value
    page.errors                                          # console errors and uncaught exceptions so far
```
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "headless_shell")


def find_chromium() -> str | None:
    """The first Chromium binary on PATH (or in $CHROMIUM), None when there is none."""
    return os.environ.get("CHROMIUM") or next((path for name in NAMES if (path := shutil.which(name))), None)


class Page:
    def __init__(self, browser: "Browser", session: str):
        self.browser, self.session, self.errors = browser, session, []

    def send(self, method: str, **params) -> dict:
        return self.browser.send(method, params, self.session)

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression in the page; an exception raises RuntimeError."""
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression!r} raised: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def click(self, selector: str) -> None:
        """A real left click (mouse press and release) at the centre of the first element matching ``selector``."""
        box = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView();"
                            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)


class Browser:
    """A headless Chromium process; ``open`` gives a Page. Use as a context manager (the process is ended)."""

    def __init__(self, binary: str, timeout: float = 30.0):
        self.binary, self.timeout, self._id, self._buffer, self._pages = binary, timeout, 0, b"", {}

    def __enter__(self) -> "Browser":
        self._profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        to_chrome, self._out = os.pipe()
        self._in, from_chrome = os.pipe()

        def onto_3_and_4():  # chromium reads commands from fd 3 and writes replies to fd 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome, from_chrome)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [self.binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--no-first-run", f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=onto_3_and_4, start_new_session=True)
        os.close(to_chrome)
        os.close(from_chrome)
        return self

    def __exit__(self, *exc) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the browser and its helper processes
        self.process.wait()
        os.close(self._out)
        os.close(self._in)
        self._profile.cleanup()

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and return its result; events read meanwhile go to their page's handler."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        reply = self._wait(lambda m: m.get("id") == self._id)
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    def open(self, url: str) -> Page:
        """A new tab at ``url``, returned after its load event, console errors and exceptions recorded."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = self._pages[session] = Page(self, session)
        for domain in ("Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.send("Page.navigate", url=url)
        self._wait(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session)
        return page

    def _wait(self, done) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                self._record(message)
                if done(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError(f"no answer from {self.binary} within {self.timeout} s")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError(f"{self.binary} closed its DevTools pipe (exit code {self.process.poll()})")
            self._buffer += chunk

    def _record(self, message: dict) -> None:
        page, method, params = self._pages.get(message.get("sessionId")), message.get("method"), message.get("params", {})
        if page is None:
            return
        if method == "Runtime.exceptionThrown":
            page.errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            page.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            page.errors.append(params["entry"].get("text", "log error"))
