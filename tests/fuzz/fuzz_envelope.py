"""atheris: the envelope decoder and the checks of one event (protocol.envelope,
protocol.encoding, protocol.validate). Anything but an InvalidEvent is a crash; an
accepted event must be exactly canonical.

    .venv/bin/python tests/fuzz/fuzz_envelope.py -max_total_time=300 /tmp/corpus-envelope
"""

from __future__ import annotations

import sys

import _common
import atheris

with atheris.instrument_imports(include=["protocol", "crypto"]):
    from protocol import encoding
    from protocol.envelope import strip_body
    from protocol.errors import InvalidEvent
    from protocol.validate import check_event

from tests.helpers import feed, fixed_key, forge

progress = _common.Progress("envelope")


def seeds() -> list[bytes]:
    events = feed(fixed_key(3), 3)
    out = [e.raw for e in events] + [strip_body(events[1]).raw]
    out += [forge(fixed_key(4), kind="member.admit"), forge(fixed_key(4), kind="sealed")]
    return out


def test_one_input(data: bytes) -> None:
    progress.tick()
    try:
        event = check_event(data)
    except InvalidEvent as e:
        if not e.code or not e.message:
            raise AssertionError("a refusal without a code or a message") from e
        return
    if encoding.encode(encoding.decode(data)) != data or event.raw != data:
        raise AssertionError("an accepted event is not in its canonical form")


if __name__ == "__main__":
    _common.seed(sys.argv, seeds())
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
