"""The small policy the server, mode and hub tests share: one tool to warn on, one to block."""

from __future__ import annotations

WARN_RULE = """\
  - id: test.warnme
    category: testing
    title: The warn-me test tool
    action: warn
    message: warn-me is discouraged here.
    match:
      - command: warnme-tool
"""

BLOCK_RULE = """\
  - id: test.blockme
    category: testing
    title: The block-me test tool
    action: block
    message: block-me is not allowed here.
    match:
      - command: blockme-tool
"""


def policy(*rules: str, header: str = "") -> str:
    """A policy file's text: `version: 1`, any header keys, then the rules in order."""
    return "\nversion: 1\n" + header + "rules:\n" + "".join(rules)
