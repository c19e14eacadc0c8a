"""`package: NAME` or `package: {name: NAME, via: [pip, conda, apt, npm, import]}`: a package
(a `*` glob) installed through one of those sources or imported. Names compare as pip does
(PEP 503: case and runs of `-`, `_`, `.` do not distinguish them)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import yaml

from ..evidence import Evidence
from ..indexes import GlobIndex, TextWords, literal_runs
from ..matching import Found, FoundMap
from ..nodes import NodeReader
from .base import Index, Kind, Needle, check_name_glob

PACKAGE_SOURCES = ("pip", "conda", "apt", "npm", "import")


@dataclass(frozen=True)
class PackageMatcher:
    """A package name (glob) installed through `via` sources or imported."""

    name: str
    via: tuple[str, ...] = PACKAGE_SOURCES
    kind: Literal["package"] = "package"

    @property
    def pattern(self) -> str:
        return self.name


_SEPARATORS = re.compile(r"[-_.]+")


def normalize_package(name: str) -> str:
    """PEP 503 style: case and runs of -, _ and . do not distinguish package names."""
    return _SEPARATORS.sub("-", name.lower())


def _normalized_glob(name: str) -> str:
    return normalize_package(name.replace("*", "\0")).replace("\0", "*")


class PackageIndex(Index[PackageMatcher]):
    evidence = ("package",)

    def __init__(self) -> None:
        self.names: dict[str, list[tuple[int, PackageMatcher]]] = defaultdict(list)
        self.globs = GlobIndex()  # payload: (rule index, matcher)

    def add(self, rule: int, matcher: PackageMatcher) -> None:
        norm = _normalized_glob(matcher.name)
        if "*" in norm:
            self.globs.add(norm, (rule, matcher))
        else:
            self.names[norm].append((rule, matcher))

    def build(self) -> None:
        self.globs.build()

    def match(self, ev: Evidence, found: FoundMap) -> None:
        names = {normalize_package(ev.value)}
        if ev.detail == "import":
            names.add(normalize_package(ev.value.split(".")[0]))
        for name in names:
            candidates = list(self.names.get(name, ()))
            candidates += self.globs.matches(name)
            for idx, m in candidates:
                if ev.detail in m.via:
                    found[idx].append(Found.whole(m, ev, f"{ev.detail}: {ev.value}"))


class PackageKind(Kind[PackageMatcher]):
    name = "package"
    names_a_tool = True
    unless_reads = "token"

    def parse(self, reader: NodeReader, node: yaml.Node) -> PackageMatcher | None:
        if isinstance(node, yaml.ScalarNode):
            name = reader.string(node, "the package matcher")
            if name is None or not check_name_glob(reader, node, name, "package"):
                return None
            return PackageMatcher(name.lower())
        entries = reader.mapping(node, "a package matcher", ("name", "via"))
        if "name" not in entries:
            reader.problem(node, "a package matcher needs a name")
            return None
        name = reader.string(entries["name"][1], "package name")
        if name is None or not check_name_glob(reader, entries["name"][1], name, "package"):
            return None
        via: tuple[str, ...] = PACKAGE_SOURCES
        if "via" in entries:
            via_node = entries["via"][1]
            via = (
                reader.strings(via_node, "via")
                if isinstance(via_node, yaml.SequenceNode)
                else ((reader.string(via_node, "via") or ""),)
            )
            bad = [v for v in via if v not in PACKAGE_SOURCES]
            if bad or not via:
                reader.problem(via_node, f"via must list some of: {', '.join(PACKAGE_SOURCES)}")
                return None
        return PackageMatcher(name.lower(), tuple(via))

    def needles(self, matcher: PackageMatcher) -> Iterable[Needle]:
        # installed under any spelling pip accepts: x-tool, x_tool, x.tool
        for run, left, right in literal_runs(_normalized_glob(matcher.name)):
            for sep in ("-", "_", "."):
                yield run.replace("-", sep), left, right

    def index(self, words: TextWords) -> PackageIndex:
        return PackageIndex()


KIND = PackageKind()
