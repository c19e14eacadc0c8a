"""`behaviour: flood`, `password-guessing` or `runs-decoded`: what Python code does, read from
its syntax tree, whatever its names. The first two are read here from each Python text (see
`policy/behaviour.py`); the third by the Python reader as it folds the cell (`policy/decoded.py`),
which hands it on as evidence of its own.

Parsing is the costly part, so a cell reaches it only past two gates: the prefilter, where a
behaviour's signs are separate patterns that must all hit (`patterns_required`: a call that
sends and a loop or workers; a call that tries or hashes and a loop), and the same signs over
the text evidence, which is parsed once for every behaviour matcher of the policy. A further
pattern (where targets or words come from) only adds places for the focused reading to keep.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from .. import behaviour as analysis
from ..evidence import Evidence
from ..indexes import TextWords
from ..matching import Found, FoundMap
from ..nodes import NodeReader, suggest
from ..patterns import compile_re2
from .base import Index, Kind

# Signs the analysis needs, in RE2. A flood sends (a socket, an HTTP client, scapy) from a loop
# without end or from many workers; a guess tries a password or hashes, in a loop or a pool's
# map. Loops count as statements only (`for` in a comment's English is no loop), and password
# tools only inside a string (`!unzip data.zip` is a shell line, not an argv being built).
_SEND = (
    r"\.(?:sendto|sendall|send|connect|connect_ex|sendmail|send_message)\s*\(|\b(?:requests|httpx|aiohttp|urllib3|grequests|cloudscraper)\b"
    r"|\b(?:urlopen|create_connection|open_connection|HTTPS?Connection)\s*\(|\b(?:sendp?|sr1?|srp1?|srloop|sendpfast)\s*\("
)
_LOOP = (
    r"(?m:^[ \t]*while\b)|\bfor\b[^\n]*\b(?:range|count|cycle)\s*\("
    r"|\b(?:Thread|Process|ThreadPoolExecutor|ProcessPoolExecutor|Pool|start_new_thread|create_task|ensure_future"
    r"|gather|spawn|submit)\s*\("
    # a scapy call that loops by itself (both signs in one): srloop(p), send(p, loop=1), count=
    r"|\bsrp?loop\s*\(|\b(?:sendp?|sr1?|srp1?)\s*\([^\n]*\b(?:loop\s*=\s*(?:1|True)\b|count\s*=)"
)
_TRY = (
    r"\b(?:pwd|password|passwd|passphrase)\s*=|\.(?:setpassword|decrypt|load_key|login|pass_|authenticate|verify"
    r"|checkpw|unlock)\s*\(|hexdigest|\.digest\s*\(|\bhashlib\b|\bcrypt\b|\bjwt\.decode\b"
    r"""|password|passwd|passphrase|["'](?:pass|pwd|pin)["']"""
    r"""|["'][\w/.-]*\b(?:unzip|7za?|steghide|gpg2?|openssl|ssh-keygen|qpdf|unrar)\b|compare_digest"""
)
_SOURCE = (
    r"(?m:^[ \t]*(?:async[ \t]+)?(?:for|while)\b)|\b(?:map|imap|imap_unordered|starmap)\s*\("
    r"|\b(?:product|permutations|combinations|combinations_with_replacement)\s*\(|\byield\b"
)


# Where a flood's target or a guesser's words come from: places for the focused reading to
# keep (a `for o, v in getopt(...)` loop, a `with open(...)` block), which name-following alone
# does not reach; never a reason to read a cell.
_TARGETS = r"\bsys\.argv\b|\b(?:raw_)?input\s*\(|\badd_argument\s*\(|\bgetopt\b|\benviron\b|\bgetenv\s*\("
_WORDS = r"\bopen\s*\(|\breadlines?\b|\bread_text\b|\bstdin\b|\bfileinput\b"

# behaviour -> (the signs that must all be there, then places only)
SIGNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "flood": ((_SEND, _LOOP), (_TARGETS,)),
    "password-guessing": ((_TRY, _SOURCE), (_WORDS,)),
    # read by the Python reader, in cells the prefilter sends on for their signs of hiding
    "runs-decoded": ((), ()),
}
KNOWN: tuple[str, ...] = (*analysis.BEHAVIOURS, "runs-decoded")


@dataclass(frozen=True)
class BehaviourMatcher:
    behaviour: str  # one of KNOWN
    kind: Literal["behaviour"] = "behaviour"

    @property
    def pattern(self) -> str:
        return self.behaviour


class BehaviourIndex(Index[BehaviourMatcher]):
    """Every behaviour matcher of a policy: each Python text is parsed once for all of them."""

    evidence = ("text", "behaviour")

    def __init__(self) -> None:
        self.by_behaviour: dict[str, list[tuple[int, BehaviourMatcher]]] = defaultdict(list)
        self.gates: list[tuple[analysis.Behaviour, list[Any]]] = []

    def add(self, rule: int, matcher: BehaviourMatcher) -> None:
        self.by_behaviour[matcher.behaviour].append((rule, matcher))

    def build(self) -> None:
        self.gates = [(b, [compile_re2(p) for p in SIGNS[b][0]]) for b in analysis.BEHAVIOURS if b in self.by_behaviour]

    def match(self, ev: Evidence, found: FoundMap) -> None:
        if ev.kind == "behaviour":
            for rule, matcher in self.by_behaviour.get(ev.value, ()):
                found[rule].append(Found.whole(matcher, ev, ev.context))
            return
        if "python" not in ev.via or not self.gates:
            return  # shell text, strings, URLs: not code the analysis reads
        text = ev.value
        wanted = [b for b, signs in self.gates if all(sign.search(text) is not None for sign in signs)]
        if not wanted:
            return
        for seen in analysis.sightings(text, wanted):
            for rule, matcher in self.by_behaviour.get(seen.behaviour, ()):
                found[rule].append(Found.inside(matcher, ev, seen.start, seen.end))


class BehaviourKind(Kind[BehaviourMatcher]):
    name = "behaviour"

    def parse(self, reader: NodeReader, node: yaml.Node) -> BehaviourMatcher | None:
        text = reader.string(node, "the behaviour matcher")
        if text is None:
            return None
        if text not in KNOWN:
            reader.problem(
                node,
                f"behaviour {text!r} is not one the engine knows{suggest(text, KNOWN)}; "
                f"expected one of: {', '.join(KNOWN)}",
            )
            return None
        return BehaviourMatcher(text)

    def patterns(self, matcher: BehaviourMatcher) -> Iterable[str]:
        required, places = SIGNS[matcher.behaviour]
        return [*required, *places]

    def patterns_required(self, matcher: BehaviourMatcher) -> int:
        return len(SIGNS[matcher.behaviour][0])

    def index(self, words: TextWords) -> BehaviourIndex:
        return BehaviourIndex()


KIND = BehaviourKind()
