"""`jupyter tos-guard`: scan, validate, test and explain, for operators."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .policy import Engine, PolicyError, load_policy
from .policy.loader import default_policy_texts, load_texts, parse_layer, read_sources
from .policy.matchers.regex import RegexMatcher
from .policy.patterns import line_end_hint
from .policy.ruletests import run_rule_tests
from .policy.verdict import Verdict


def _load(files: Sequence[str], no_default: bool) -> Engine:
    return Engine(load_policy(files, include_default=not no_default))


def _policy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="FILE",
        help="a policy file layered over the default (repeatable, applied in order)",
    )
    p.add_argument("--no-default", action="store_true", help="do not include the embedded default policy")


def _print_problems(err: PolicyError) -> None:
    for problem in err.problems:
        print(problem, file=sys.stderr)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of processes")
    return value


def cmd_scan(args: argparse.Namespace) -> int:
    from .scan import default_jobs, scan_paths

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        for p in missing:
            print(f"tos-guard scan: {p}: no such file or directory", file=sys.stderr)
        return 2
    try:
        engine = _load(args.policy, args.no_default)
    except PolicyError as err:
        _print_problems(err)
        return 2
    report = scan_paths(engine, args.paths, jobs=args.jobs or default_jobs())
    if args.format == "json":
        print(report.to_json())
    elif args.format == "sarif":
        from . import __version__
        from .scan import to_sarif

        print(to_sarif(report, engine.policy, __version__))
    else:
        for f in report.findings:
            where = f"{f.path}" + (f" cell {f.cell}" if f.cell is not None else "") + f" line {f.line}:{f.column}"
            print(f"{where}: {f.action.upper()} {f.rule} [{f.category}] {f.excerpt}")
        for e in report.errors:
            print(f"{e['path']}: error: {e['error']}", file=sys.stderr)
        print(f"{report.files_scanned} files scanned, {len(report.findings)} findings, {len(report.errors)} errors")
    if report.flagged:
        return 1
    return 3 if report.errors else 0  # in CI, a file that could not be read is not a pass


def cmd_validate(args: argparse.Namespace) -> int:
    """Layer the files in order over the default, as the server does, and list every problem
    in them (a later file may override or disable rules of an earlier one)."""
    texts, problems = read_sources(args.files)
    if texts:
        try:
            policy = load_texts(default_policy_texts() + texts)
            for source, _ in texts:
                print(f"{source}: OK")
            print(f"{len(policy.rules)} rules in force")
            ours = {source for source, _ in texts}
            for rule in policy.rules:
                if rule.origin is None or rule.origin.source not in ours:
                    continue
                for matcher in rule.matchers:
                    hint = line_end_hint(matcher.regex) if isinstance(matcher, RegexMatcher) else None
                    if hint:  # a warning, not a problem: the pattern runs, perhaps not as meant
                        print(f"{rule.origin.source}:{rule.origin.line}: warning: rule {rule.id}: {hint}")
        except PolicyError as err:
            ours = {source for source, _ in texts}
            problems.extend(p for p in err.problems if p.source in ours)
            if not problems:  # only the embedded default is broken: say so rather than pass
                problems.extend(err.problems)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def cmd_test(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.files, include_default=not args.no_default)
    except PolicyError as err:
        _print_problems(err)
        return 2
    rules = list(policy.rules)
    if args.files:
        texts, _ = read_sources(args.files)
        wanted = set()
        for source, text in texts:
            layer, _ = parse_layer(text, source)
            if layer:
                wanted |= {entry.fields["id"] for entry in layer.rules}
        rules = [r for r in rules if r.id in wanted]
    if args.rule:
        rules = [r for r in rules if any(r.id == x or r.id.startswith(x + ".") for x in args.rule)]
    results = run_rule_tests(policy, rules=rules)
    untested = [r.id for r in rules if not r.tests.flag]
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(f"FAIL {r.rule.id}: {r.expectation} example: {r.explain()}")
        for line in r.example.rstrip("\n").splitlines()[:12]:
            print(f"    | {line}")
    for rid in untested:
        print(f"NOTE {rid}: has no flag examples")
    print(f"{len(rules)} rules, {len(results)} examples")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def format_verdict(code: str, verdict: Verdict) -> str:
    if not verdict.hits:
        return f"allow: no rule matched ({verdict.elapsed_ms:.3f} ms)"
    out = [f"{verdict.action.label}: {len(verdict.hits)} rule(s) matched ({verdict.elapsed_ms:.3f} ms)"]
    lines = code.splitlines()
    for hit in verdict.hits:
        r = hit.rule
        out.append(f"- {r.id} [{r.category}, {r.severity.label}, action {r.action.label}] {r.title}")
        out.append(f"  why: {r.message_for()}")
        for m in hit.matches:
            pattern = "(private)" if r.private else repr(m.pattern)
            how = f" via {'+'.join(m.via)}" if m.via else ""
            exact = "" if m.exact else " (derived from this source)"
            out.append(
                f"  {m.matcher} {pattern} matched {m.evidence!r}{how} at line {m.span.line}, column {m.span.column + 1}{exact}"
            )
            if 0 < m.span.line <= len(lines):
                src = lines[m.span.line - 1]
                out.append(f"    {m.span.line:>4} | {src}")
                if m.span.end_line == m.span.line:
                    width = max(1, m.span.end_column - m.span.column)
                    out.append("         | " + " " * m.span.column + "^" * width)
    return "\n".join(out)


def cmd_explain(args: argparse.Namespace) -> int:
    code = sys.stdin.read() if args.code == "-" else args.code
    try:
        engine = _load(args.policy, args.no_default)
    except PolicyError as err:
        _print_problems(err)
        return 2
    verdict = engine.evaluate(code)
    if args.format == "json":
        print(json.dumps(verdict.to_dict(reveal_private=True), indent=2))
    else:
        print(format_verdict(code, verdict))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """Every option of the server extension with its help (jupyter_server's --help-all parses the
    command line before extensions are found, so it cannot list them)."""
    from .app import TosGuardApp

    for cls in TosGuardApp.classes:
        print(cls.class_get_help())
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from .bench.engine import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter tos-guard", description="Terms-of-use guard for Jupyter: operator tools."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "scan",
        help="scan notebooks, scripts and folders",
        description="Scan notebooks, scripts and folders with the policy. Cells, lines and columns "
        "count from 1; cells count every cell of a notebook, markdown included.",
        epilog="exit status: 0 nothing found and every file read; 1 a warn, confirm or block rule "
        "matched; 2 bad arguments or a broken policy; 3 nothing matched but some file could not be read",
    )
    _policy_args(p)
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text", help="sarif: for code-scanning views")
    p.add_argument(
        "-j",
        "--jobs",
        type=_positive,
        default=0,
        metavar="N",
        help="processes that read files at once (default: every core; a few files are read in one)",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=cmd_scan)
    p = sub.add_parser("validate", help="check policy files; list every problem")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser(
        "test",
        help="run the rules' embedded flag/allow examples",
        epilog="exit status: 0 every example passed; 1 some failed; 2 a broken policy",
    )
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("--no-default", action="store_true", help="test the files alone, without the default policy")
    p.add_argument("--rule", action="append", default=[], help="only this rule id or id prefix (repeatable)")
    p.set_defaults(func=cmd_test)
    p = sub.add_parser(
        "explain",
        help="show the verdict for a snippet (or - for stdin)",
        epilog="exit status: 0 (whatever the verdict); 2 a broken policy",
    )
    _policy_args(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("code", metavar="CODE|-")
    p.set_defaults(func=cmd_explain)
    p = sub.add_parser("config", help="list the server options (c.TosGuard.*, c.TosGuardHub.*, ...) with their help")
    p.set_defaults(func=cmd_config)
    p = sub.add_parser("benchmark", help="measure engine latency, throughput and load time")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    p.add_argument("--server", action="store_true", help="also measure execute round trips through a real server")
    p.set_defaults(func=cmd_benchmark)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
