"""Hiding tricks a student can use on a cell, each undone: the tool is named nowhere in plain
text and no pool or other second sign is present, so only reading through the trick finds it.
Each has a harmless twin of the same shape that must stay quiet.

Not undone, on purpose: full-width letters and zero-width characters inside a program's name
(`./ｘｍｒｉｇ`, `./xm\u200brig`) name a different file, which has to exist under that name; the
process watcher judges what that file is when it runs."""

from __future__ import annotations

import base64
import zlib

import pytest

from jupyter_tos_guard.policy import Engine

RUN = "xmrig --config=c.json"
PACKED = base64.b64encode(zlib.compress(f"./{RUN}".encode())).decode()

TRICKS = {
    # IPython syntax that runs its argument
    "%time": f"%time !./{RUN}",
    "%timeit with options": f"%timeit -n1 -r 1 get_ipython().system('./{RUN}')",
    "%prun": f"%prun import os; os.system('./{RUN}')",
    "get_ipython().run_cell": f"get_ipython().run_cell('!./{RUN}')",
    "autocall ;": f"import os\n;os.system ./{RUN}",
    "autocall /": f"import os\n/os.system './{RUN}'",
    "%alias": f"%alias go ./{RUN}\ngo",
    # Python built from literals
    "slice": f"import os\nc = './{RUN}'\nos.system(c[0:])",
    "repeat": f"import os\nc = './{RUN}'\nos.system(c * 1)",
    "list index": f"import os\nc = './{RUN}'\nos.system([c][0])",
    "dict item": f"import os\nc = './{RUN}'\nos.system({{'a': c}}['a'])",
    "lambda": f"import os\nc = './{RUN}'\nos.system((lambda: c)())",
    "conditional": f"import os\nos.system('./{RUN}' if True else '')",
    "map chr": "import os\nos.system(''.join(map(chr, [" + ",".join(str(ord(ch)) for ch in f"./{RUN}") + "])))",
    "reversed": f"import os\nos.system(''.join(reversed('{f'./{RUN}'[::-1]}')))",
    "__add__": "import os\nos.system('./xm'.__add__('rig --config=c.json'))",
    "zlib + base64": f"import os, zlib, base64\nos.system(zlib.decompress(base64.b64decode('{PACKED}')).decode())",
    "translate": "import os\nos.system('./ymshg --config=c.json'.translate(str.maketrans('ysh', 'xri')))",
    "int.to_bytes": "import os\nos.system(int("
    + str(int.from_bytes(f"./{RUN}".encode(), "big"))
    + f").to_bytes({len(RUN) + 2}, 'big').decode())",
    "xor codes": "import os\nos.system(''.join(chr(c ^ 7) for c in ["
    + ",".join(str(ord(ch) ^ 7) for ch in f"./{RUN}")
    + "]))",
    "shifted ord": "import os\nos.system(''.join(chr(ord(ch) - 1) for ch in "
    + repr("".join(chr(ord(ch) + 1) for ch in f"./{RUN}"))
    + "))",
    "lambda in map": "import os\nkey = 5\nos.system(''.join(map(lambda c: chr(c ^ key), ["
    + ",".join(str(ord(ch) ^ 5) for ch in f"./{RUN}")
    + "])))",
    "bytes of codes": "import os\nos.system(bytes([" + ",".join(str(b) for b in f"./{RUN}".encode()) + "]).decode())",
    "bytes of xor": "import os\nos.system(bytes(b ^ 1 for b in "
    + repr(bytes(b ^ 1 for b in f"./{RUN}".encode()))
    + ").decode())",
    "binascii.a2b_base64": "import os, binascii\nos.system(binascii.a2b_base64("
    + repr(base64.b64encode(f"./{RUN}".encode()).decode())
    + ").decode())",
    # sinks reached by name
    "vars(os)": f"import os\nvars(os)['system']('./{RUN}')",
    "os.__dict__": f"import os\nos.__dict__['system']('./{RUN}')",
    "getattr alias": f"import os\nf = getattr(os, 'sys' + 'tem')\nf('./{RUN}')",
    # shell
    "glob": "!./xmr* --config=c.json",
    "bracket glob": "!./[x]mrig --config=c.json",
    "braces": "!./xm{r,}ig --config=c.json",
    "ANSI-C quoting": "!$'\\x2e/\\x78mrig' --config=c.json",
    "backticks": "!`echo ./xmrig` --config=c.json",
    "$(echo)": "!$(echo ./xmrig) --config=c.json",
    "eval": '!eval "./xm""rig --config=c.json"',
    "printf | sh": "!printf './xm%sig --config=c.json' r | sh",
    "here-string": "!sh <<< './xmrig --config=c.json'",
    "find -exec": "!find . -name xmrig -exec {} --config=c.json \\;",
    "${t%X}": "!t=xmrigX; ./${t%X} --config=c.json",
    "${t:1}": "!t=Axmrig; ./${t:1} --config=c.json",
    "${t/a/b}": "!t=xmRig; ./${t/R/r} --config=c.json",
    "base32 -d | sh": "!echo " + base64.b32encode(f"./{RUN}".encode()).decode() + " | base32 -d | sh",
}

TWINS = {
    "%time": "%time sum(range(10))",
    "%timeit with options": "%timeit -n1 -r 1 sorted([3, 1, 2])",
    "get_ipython().run_cell": "get_ipython().run_cell('print(1)')",
    "autocall ;": "import os\n;print hello world",
    "%alias": "%alias ll ls -la\nll",
    "slice": "import os\nc = 'ls -la'\nos.system(c[0:])",
    "map chr": "import os\nos.system(''.join(map(chr, [108, 115])))",
    "zlib + base64": "import zlib\nprint(zlib.decompress(zlib.compress(b'hello')))",
    "xor codes": "import os\nos.system(''.join(chr(c ^ 7) for c in [107, 116]))",
    "bytes of codes": "import os\nos.system(bytes([108, 115]).decode())",
    "base32 -d | sh": "!echo " + base64.b32encode(b"ls -la").decode() + " | base32 -d | sh",
    "translate": "print('abc'.translate(str.maketrans('abc', 'xyz')))",
    "int.to_bytes": "import os\nheader = (1024).to_bytes(4, byteorder='little')\nos.system('ls -la')",
    "vars(os)": "import os\nprint(vars(os)['sep'])",
    "glob": "!ls *.txt && ./run_*.sh",
    "braces": "!cp data.{csv,bak}",
    "backticks": "!echo `date` $(echo done)",
    "eval": '!eval "ls -la"',
    "printf | sh": "!printf 'ls %s' -la | sh",
    "here-string": "!sh <<< 'ls -la'",
    "find -exec": "!find . -name '*.py' -exec wc -l {} \\;",
    "${t%X}": "!f=data.csv; cp $f ${f%.csv}.bak",
}


@pytest.mark.parametrize("name", list(TRICKS))
def test_trick_is_undone(default_engine: Engine, name: str) -> None:
    verdict = default_engine.evaluate(TRICKS[name])
    assert "mining.xmrig" in verdict.rule_ids, f"{name}: {verdict.rule_ids}"


@pytest.mark.parametrize("name", list(TWINS))
def test_harmless_twin_stays_quiet(default_engine: Engine, name: str) -> None:
    verdict = default_engine.evaluate(TWINS[name])
    assert verdict.rule_ids == (), f"{name}: {verdict.rule_ids}"


def test_a_decompression_bomb_is_not_unpacked(default_engine: Engine) -> None:
    bomb = base64.b64encode(zlib.compress(b"a" * 50_000_000)).decode()
    code = f"import os, zlib, base64\nos.system(zlib.decompress(base64.b64decode('{bomb}')).decode())\n!./{RUN}"
    verdict = default_engine.evaluate(code)
    assert "mining.xmrig" in verdict.rule_ids and verdict.elapsed_ms < 5000
