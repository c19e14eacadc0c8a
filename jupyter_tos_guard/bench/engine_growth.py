"""How the engine's cost grows with adversarial cells: 10 KB -> 100 KB -> 1 MB of each shape.

Shapes a student can type to make a reader work hard: many sinks, many shell expansions, sinks
fed by concatenation, long chains of statements that read each other, deep nesting, one very
long line. Linear growth means about 10x per 10x; the table marks a shape PASS when every step
grows at most 13x and the largest cell is read within the budget. No cell may stall the server
in any case: the server reads deep or large cells in a worker with a deadline (README).

    python -m jupyter_tos_guard.bench.engine_growth [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from ..policy import Engine, EvaluationContext
from ..policy.loader import default_policy_texts, load_texts

GROWTH_LIMIT = 13.0  # per 10x of input
BUDGET_MS = 10_000.0  # the largest size, one cell


def _repeat(line: str) -> Callable[[int], str]:
    return lambda size: line * max(1, size // len(line))


def _chain(size: int) -> str:
    lines = ["a0 = 'x'\n"]
    i = 1
    while sum(map(len, lines)) < size:
        lines.append(f"a{i} = a{i - 1} + 'x'\n")
        i += 1
    return "".join(lines) + f"exec(a{i - 1})\n"


def _nested(size: int) -> str:
    # nesting the parser accepts (deeper raises in Python itself), repeated to the size
    block = "x = " + "(" * 50 + "1" + ")" * 50 + "\nexec(x)\n"
    return block * max(1, size // len(block))


SHAPES: dict[str, Callable[[int], str]] = {
    "exec(x) lines": _repeat("exec(x)\n"),
    "!a$b$c lines": _repeat("!a$b$c\n"),
    "os.system(a+b) lines": _repeat("os.system(a+b)\n"),
    "many sinks, distinct names": lambda size: "".join(f"os.system(v{i})\n" for i in range(max(1, size // 16))),
    "many $VARs": _repeat("!echo $A $B $C $D $E $F $G $H\n"),
    "chained assignments": _chain,
    "deep nesting": _nested,
    "one long line": lambda size: "x = " + "+".join(["'a'"] * max(1, size // 4)) + "\nexec(x)\n",
}


def growth_table(sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)) -> list[dict[str, object]]:
    engine = Engine(load_texts(default_policy_texts()))
    context = EvaluationContext()
    rows: list[dict[str, object]] = []
    for name, make in SHAPES.items():
        times: list[float] = []
        for size in sizes:
            code = make(size)
            started = time.perf_counter()
            engine.evaluate(code, context)
            times.append((time.perf_counter() - started) * 1000)
        steps = [b / a if a > 0 else 0.0 for a, b in zip(times, times[1:], strict=False)]
        factor = [sizes[i + 1] / sizes[i] for i in range(len(sizes) - 1)]
        worst = max((s / f * 10 for s, f in zip(steps, factor, strict=True)), default=0.0)
        rows.append(
            {
                "shape": name,
                "ms": times,
                "mb_per_s": sizes[-1] / 1e6 / (times[-1] / 1000) if times[-1] else float("inf"),
                "growth_per_10x": worst,
                "pass": worst <= GROWTH_LIMIT and times[-1] <= BUDGET_MS,
            }
        )
    return rows


def print_growth(rows: list[dict[str, object]], sizes: tuple[int, ...]) -> None:
    head = "".join(f"{s // 1000:>9} KB" for s in sizes)
    print(f"  {'shape':28s}{head}   MB/s  growth/10x")
    for row in rows:
        ms = "".join(f"{t:9.1f} ms" for t in row["ms"])  # type: ignore[attr-defined]
        verdict = "PASS" if row["pass"] else "MISS"
        print(f"  {row['shape']:28s}{ms} {row['mb_per_s']:6.2f}  {row['growth_per_10x']:5.1f}x  {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyter_tos_guard.bench.engine_growth")
    parser.add_argument("--quick", action="store_true", help="1 KB -> 10 KB -> 100 KB (a smoke run)")
    args = parser.parse_args(argv)
    sizes = (1_000, 10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
    print(f"adversarial growth (linear = about 10x per 10x; PASS at <= {GROWTH_LIMIT:.0f}x)")
    rows = growth_table(sizes)
    print_growth(rows, sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
