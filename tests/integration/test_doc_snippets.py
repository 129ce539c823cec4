"""Every Python block of README.md and docs/*.md runs as written, each in its own process.

A block runs from the repository's root (so ``config/...`` and ``../shared/data/...``
resolve as they do for the tests) in a fresh interpreter, and must exit 0 within
`TIMEOUT` without writing log lines to stdout: the snippets configure logging
themselves, as the docs tell hosts to. A block that cannot run on its own says so in
the Markdown, on the line before its fence:

- ``<!-- snippet: skip (the reason) -->``: reported as skipped, with the reason;
- ``<!-- snippet: continues -->``: a fragment, run after the previous block of the file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
TIMEOUT = 60.0  # seconds a block may take; a hang fails instead of stalling the suite
RUNTIME = os.environ.get("TRADEACTORS_RUNTIME", "threads")

OPEN_FENCE = re.compile(r"^(\s*)```(?:python3?|py)\s*$")
CLOSE_FENCE = re.compile(r"^\s*```\s*$")
OTHER_FENCE = re.compile(r"^\s*```")  # any other block: skipped whole, markers included
MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(?P<body>.*?)\s*-->\s*$")
SKIP = re.compile(r"^skip\s*\((?P<reason>.+)\)$")
# What a configured structlog writes (JSON lines), and what an unconfigured one prints
# (its console renderer: "2024-08-08 12:00:00 [info     ] event"), colours removed.
JSON_LOG_LINE = re.compile(r"^\{\"")
CONSOLE_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d\S* \[\s*[a-z]+\s*\]")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class SnippetMarkerError(ValueError):
    """A ``<!-- snippet: ... -->`` comment that is misspelled or not before a block."""


@dataclass(frozen=True)
class Snippet:
    """One ```python block: where it is, and the program that runs it."""

    document: str  # relative to the repository root
    line: int  # of the opening fence, 1-based
    program: str  # padded with blank lines: line N of the program is line N of the file
    skip: str | None = None  # why it does not run, if it does not

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def read_snippets(document: str, text: str) -> list[Snippet]:
    """The Python blocks of one Markdown file, with their markers applied."""
    lines = text.splitlines()
    snippets: list[Snippet] = []
    marker: tuple[int, str] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        found = MARKER.match(line)
        opening = OPEN_FENCE.match(line)
        if found:
            marker = (index + 1, found["body"])
        elif opening:
            indent = len(opening[1])
            end = index + 1
            while end < len(lines) and not CLOSE_FENCE.match(lines[end]):
                end += 1
            body = [text_line[indent:] for text_line in lines[index + 1 : end]]
            snippets.append(_snippet(document, index + 1, body, marker, snippets))
            marker = None
            index = end
        elif marker is not None and line.strip():
            raise SnippetMarkerError(
                f"{document}:{marker[0]}: a snippet marker must be right before a ```python fence"
            )
        elif OTHER_FENCE.match(line):
            index += 1
            while index < len(lines) and not CLOSE_FENCE.match(lines[index]):
                index += 1
        index += 1
    if marker is not None:
        raise SnippetMarkerError(f"{document}:{marker[0]}: a snippet marker ends the file")
    return snippets


def _snippet(
    document: str,
    line: int,
    body: list[str],
    marker: tuple[int, str] | None,
    previous: list[Snippet],
) -> Snippet:
    padding = "\n" * line  # the block's first line is line `line + 1` of the file
    code = padding + "\n".join(body) + "\n"
    if marker is None:
        return Snippet(document, line, code)
    where, spec = marker
    skipped = SKIP.match(spec)
    if skipped:
        return Snippet(document, line, code, skip=skipped["reason"])
    if spec == "continues":
        if not previous:
            raise SnippetMarkerError(f"{document}:{where}: 'continues' needs a block before it")
        before = previous[-1]
        # Pad on from where the previous block's program ends, so lines still match.
        gap = "\n" * (line - before.program.count("\n"))
        program = before.program + gap + "\n".join(body) + "\n"
        skip = None if before.skip is None else f"continues {before.id}: {before.skip}"
        return Snippet(document, line, program, skip=skip)
    raise SnippetMarkerError(
        f"{document}:{where}: unknown snippet marker {spec!r}; use 'skip (why)' or 'continues'"
    )


def all_snippets() -> list[Snippet]:
    """Every Python block of README.md and docs/*.md, in file order."""
    return [
        snippet
        for path in DOCUMENTS
        for snippet in read_snippets(path.relative_to(ROOT).as_posix(), path.read_text())
    ]


SNIPPETS = all_snippets()


def log_lines(stdout: str) -> list[str]:
    """The lines of ``stdout`` that a logger wrote."""
    lines = (ANSI.sub("", line) for line in stdout.splitlines())
    return [line for line in lines if JSON_LOG_LINE.match(line) or CONSOLE_LOG_LINE.match(line)]


# Under gevent in CI too (`-m supervision`): the docs promise the same host code works.
@pytest.mark.supervision
@pytest.mark.parametrize("snippet", SNIPPETS, ids=[snippet.id for snippet in SNIPPETS])
def test_the_docs_python_block_runs_as_written_without_logging_to_stdout(
    snippet: Snippet, tmp_path: Path
) -> None:
    if snippet.skip is not None:
        pytest.skip(f"{snippet.id}: {snippet.skip}")
    program = snippet.program
    if RUNTIME == "gevent":  # the suite's runtime, chosen first thing (on a padding line)
        program = "import tradeactors; tradeactors.use_gevent()" + program
    script = tmp_path / Path(snippet.document).name.replace(".md", "_md.py")
    script.write_text(program)
    environment = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "state"),  # where ControlServer writes its token
    }
    try:
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # run() has killed it
        pytest.fail(f"{snippet.id} still ran after {TIMEOUT:.0f} s:\n{exc.stderr!r}")
    assert result.returncode == 0, (
        f"{snippet.id} exited {result.returncode} (line numbers are the Markdown's):\n"
        f"{result.stderr}"
    )
    flood = log_lines(result.stdout)
    assert not flood, (
        f"{snippet.id} logged {len(flood)} lines to stdout (configure logging in the "
        f"snippet), e.g.:\n" + "\n".join(flood[:5])
    )


class TestReadingTheMarkdown:
    """The block finder itself: what it runs, skips and joins."""

    def test_the_docs_have_python_blocks(self) -> None:
        assert any(snippet.document == "README.md" for snippet in SNIPPETS)
        assert any(snippet.document.startswith("docs/") for snippet in SNIPPETS)

    def test_a_block_keeps_the_markdown_line_numbers(self) -> None:
        text = "# t\n\n```python\nx = 1\nraise SystemExit(x)\n```\n"
        (snippet,) = read_snippets("t.md", text)
        assert snippet.id == "t.md:3"
        assert snippet.program.splitlines()[4] == "raise SystemExit(x)"  # line 5 of t.md

    def test_a_skip_marker_carries_its_reason(self) -> None:
        text = "<!-- snippet: skip (needs a Binance API key) -->\n```python\nconnect()\n```\n"
        (snippet,) = read_snippets("t.md", text)
        assert snippet.skip == "needs a Binance API key"

    def test_a_continuation_runs_after_the_block_before_it(self) -> None:
        text = "```python\nx = 1\n```\ntext\n<!-- snippet: continues -->\n```python\ny = x\n```\n"
        first, second = read_snippets("t.md", text)
        assert second.program.startswith(first.program)
        assert second.program.splitlines()[6] == "y = x"  # line 7 of t.md
        assert second.skip is None

    def test_a_continuation_of_a_skipped_block_is_skipped(self) -> None:
        text = (
            "<!-- snippet: skip (a live venue) -->\n```python\nx = 1\n```\n"
            "<!-- snippet: continues -->\n```python\ny = x\n```\n"
        )
        _first, second = read_snippets("t.md", text)
        assert second.skip == "continues t.md:2: a live venue"

    @pytest.mark.parametrize(
        "text",
        [
            "<!-- snippet: skp (typo) -->\n```python\nx = 1\n```\n",
            "<!-- snippet: skip -->\n```python\nx = 1\n```\n",
            "<!-- snippet: skip (why) -->\nprose\n```python\nx = 1\n```\n",
            "<!-- snippet: skip (why) -->\n```sh\nls\n```\n",
            "<!-- snippet: continues -->\n```python\nx = 1\n```\n",
        ],
        ids=["misspelled", "no-reason", "not-before-a-fence", "before-sh", "nothing-before"],
    )
    def test_a_marker_that_would_be_ignored_is_an_error(self, text: str) -> None:
        with pytest.raises(SnippetMarkerError):
            read_snippets("t.md", text)
