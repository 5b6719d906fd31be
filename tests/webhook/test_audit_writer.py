"""The audit stream: lines written together once per turn of the event loop, in order, none lost at
shutdown; the fast encoder writes what the standard library writes; a review body reads the same
whichever JSON parser reads it."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import textwrap

import pytest

from app.core.admission.audit import audit_line, compact_json
from app.core.errors import MalformedReview
from app.webhook.auditsink import AuditWriter, fast_json
from app.webhook.review import _json
from tests.support.served import REPO_ROOT


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_lines_of_one_turn_of_the_event_loop_go_out_in_order_as_one_write() -> None:
    stream = CountingStream()
    writer = AuditWriter(stream)
    for n in range(5):
        writer(f'{{"n":{n}}}')
    assert stream.getvalue() == ""  # not yet: the loop has not finished this turn
    await asyncio.sleep(0)
    assert stream.getvalue() == "".join(f'{{"n":{n}}}\n' for n in range(5)) and stream.writes == 1
    writer('{"n":5}')
    await asyncio.sleep(0)
    assert stream.getvalue().endswith('{"n":5}\n') and stream.writes == 2


def test_outside_an_event_loop_each_line_is_written_at_once() -> None:
    stream = CountingStream()
    AuditWriter(stream)('{"n":0}')
    assert stream.getvalue() == '{"n":0}\n'


def test_lines_still_queued_when_the_process_exits_are_written() -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from app.webhook.auditsink import AuditWriter
        writer = AuditWriter()

        async def main():
            writer('{"last":true}')  # queued; the loop ends before its next turn

        loop = asyncio.new_event_loop()
        loop.run_until_complete(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout == '{"last":true}\n'


@pytest.mark.parametrize(
    "record",
    [
        {"uid": "u", "images": [{"reason": "naïve ✓", "n": 3, "ok": True, "none": None}], "duration_ms": 0.1},
        {"control": "a\nb\tc\x00\x1f", "quote": '"\\', "big": 2**70, "line": "\u2028\x85\x7f"},
        {"surrogate": "\ud800", "float": 1e16},
    ],
)
def test_the_fast_encoder_writes_the_line_the_standard_library_writes(record: dict[str, object]) -> None:
    assert json.loads(audit_line(record, fast_json)) == json.loads(audit_line(record, compact_json))
    line = audit_line(record, fast_json)
    assert len(line.splitlines()) == 1 and "\x7f" not in line and "\u2028" not in line


@pytest.mark.parametrize(
    "body",
    [
        b'{"request":{"uid":"\\ud800"}}',  # a lone surrogate: orjson refuses it
        b'{"a":NaN}',
        '{"a":"utf-16"}'.encode("utf-16"),
        b'{"a":1,"a":2}',
        b'{"n":18446744073709551615,"f":1.5,"s":"\\u00e9"}',
    ],
)
def test_a_review_body_reads_as_the_standard_library_reads_it(body: bytes) -> None:
    assert repr(_json(body)) == repr(json.loads(body))


def test_a_body_no_parser_reads_is_malformed() -> None:
    with pytest.raises(MalformedReview):
        _json(b"{not json")
