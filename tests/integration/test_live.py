"""`flowlab compare` on a terminal shows the live dashboard; piped or `--no-live`, plain lines."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from orchestration.live import HEADINGS

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"
FLOWLAB = [sys.executable, "-m", "orchestration.cli"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(
    args: list[str], cwd: Path, timeout: float = 120, size: tuple[int, int] = (50, 160)
) -> tuple[int, str]:
    """Run ``args`` with a pseudo-terminal of ``size`` (rows, columns; default 50x160) as
    stdin/stdout/stderr; all it printed."""
    rows, columns = size
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
    proc = subprocess.Popen(
        args, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
    )
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, output.decode("utf-8", errors="replace")


def test_compare_on_a_terminal_shows_dashboard_headings_refreshing(tmp_path: Path):
    started = time.monotonic()
    code, output = run_in_pty(
        [
            *FLOWLAB,
            "compare",
            "--scenario",
            str(TINY),
            "--orders",
            "60",
            "--rate",
            "30",
            "--out",
            str(tmp_path / "rep"),
        ],
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - started

    assert code == 0, output[-3000:]
    text = ANSI.sub("", output)
    for heading in HEADINGS:
        assert heading in text
    # the stream alone lasts ~2 s: at >= 2 redraws a second there are several frames
    frames = text.count(HEADINGS[0])
    assert frames >= 4 and frames >= elapsed * 0.3, (frames, elapsed)
    assert "ACME" in text.split(HEADINGS[1])[-1]  # the NBBO of the tiny scenario's symbol
    assert re.search(r"orders .*60/60", text)
    assert "\x1b[" in output  # drawn for a terminal


def test_compare_on_an_80x24_terminal_fits_cuts_no_number_title_once(tmp_path: Path):
    args = [*FLOWLAB, "compare", "--scenario", str(TINY), "--orders", "60", "--rate", "30"]

    code, output = run_in_pty([*args, "--out", str(tmp_path / "rep")], tmp_path, size=(24, 80))

    assert code == 0, output[-3000:]
    text = ANSI.sub("", output)
    assert text.count("flowlab compare: scenario") == 1  # the title, above the view only
    assert "…" not in text  # rich's mark of a cut cell
    start = text.index(HEADINGS[0])
    end = text.rindex(f"{HEADINGS[2]}: ")
    frames = [line for line in re.split(r"\r\n|\r|\n", text[start:end]) if line.strip()]
    assert frames and max(len(line) for line in frames) <= 80
    assert re.search(rf"{HEADINGS[2]}: (\d+)/\1 running", text)  # one line, all well
    assert "vs pfof" in text  # the running difference, with its interval
    final = text[text.rindex("By regime") :].split("report:")[0]
    assert max(len(line) for line in re.split(r"\r\n|\r|\n", final)) <= 80


def test_compare_no_live_prints_plain_lines(tmp_path: Path):
    result = subprocess.run(
        [
            *FLOWLAB,
            "compare",
            "--scenario",
            str(TINY),
            "--orders",
            "40",
            "--rate",
            "40",
            "--no-live",
            "--out",
            str(tmp_path / "rep"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "\x1b[" not in result.stdout
    assert not any(heading in result.stdout for heading in HEADINGS)
    assert re.search(r"sent \d+/40", result.stdout) or "stream done: sent 40" in result.stdout
    assert "stream done: sent 40, terminal 40" in result.stdout
