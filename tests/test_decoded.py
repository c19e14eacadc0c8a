"""`behaviour: runs-decoded` and its default rule: code, a command or a pickle decoded from
data written in the cell and run, seen whether or not the folding reads through it.

The cells are written for these tests; each flagged one has a harmless neighbour of the same
shape (the decoded text printed, not run; data from a file; a pickle of a plain list)."""

from __future__ import annotations

import base64
import codecs
import textwrap
import zlib

import pytest

from jupyter_tos_guard.policy import Engine
from jupyter_tos_guard.policy.python import analyze

RULE = "hidden-code.decoded-run"
SCRIPT = "import os\nprint(os.getcwd())\n"
B64 = base64.b64encode(SCRIPT.encode()).decode()
PACKED = base64.b64encode(zlib.compress(SCRIPT.encode())).decode()
CODES = [ord(c) ^ 9 for c in "ls -la /tmp/x"]


def _cell(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


RUNS = {
    "through names": f"""
        import base64
        payload = "{B64}"
        source = base64.b64decode(payload)
        exec(source)
        """,
    "compressed, in a function defined first": f"""
        import zlib, base64
        def go():
            exec(zlib.decompress(base64.b64decode(BLOB)))
        BLOB = "{PACKED}"
        go()
        """,
    # the key is only known at run time: nothing to fold, still a decoded run
    "xor with a computed key": f"""
        import os, time
        key = int(time.time()) % 1 + 9
        os.system("".join(chr(c ^ key) for c in {CODES}))
        """,
    "byte values": f"""
        import subprocess
        subprocess.run(bytes({[ord(c) for c in "ls -la /tmp/x"]}).decode(), shell=True)
        """,
    "rot13 through codecs": f"""
        import codecs, subprocess
        subprocess.Popen(codecs.decode("{codecs.encode("ls -la /tmp/xyz/abc", "rot13")}", "rot13"), shell=True)
        """,
    "a marshalled function": """
        import marshal, types
        blob = bytes.fromhex("e30000000000000000000000000000000000000000")
        types.FunctionType(marshal.loads(blob), globals())()
        """,
    "a pickle naming os.system": """
        import pickle
        pickle.loads(b"cposix\\nsystem\\n(S'id'\\ntR.")
        """,
    "IPython's system": f"""
        import base64
        get_ipython().system(base64.b64decode("{base64.b64encode(b"ls -la /tmp/x").decode()}").decode())
        """,
    "padded with earlier values": f"""
        import base64, os
        c = "ls"
        c = "pwd"
        c = "date"
        c = base64.b64decode("{base64.b64encode(b"ls -la /tmp/x").decode()}").decode()
        os.system(c)
        """,
}

QUIET = {
    "decoded and printed": f"""
        import base64
        print(base64.b64decode("{B64}").decode())
        """,
    "a pickle round trip": """
        import pickle
        data = {"a": 1, "b": [1, 2, 3]}
        assert pickle.loads(pickle.dumps(data)) == data
        """,
    "a pickled list written out": """
        import pickle
        print(pickle.loads(b"\\x80\\x04\\x95\\x15\\x00\\x00\\x00\\x00\\x00\\x00\\x00]\\x94(K\\x01K\\x02K\\x03e."))
        """,
    "json, then a command": """
        import json, subprocess
        cfg = json.loads('{"epochs": 3, "lr": 0.001, "batch_size": 64}')
        subprocess.run(["python", "train.py", "--epochs", str(cfg["epochs"])])
        """,
    "code from a file": """
        src = open("helpers.py").read()
        exec(compile(src, "helpers.py", "exec"))
        """,
    "a short literal": """
        import base64
        eval(base64.b64decode("MSsx"))
        """,
    "an earlier value, replaced before the run": f"""
        import base64, os
        c = base64.b64decode("{base64.b64encode(b"echo hello world").decode()}").decode()
        print(c)
        c = "ls -la"
        c = "pwd"
        c = "date"
        os.system(c)
        """,
}


@pytest.mark.parametrize("name", list(RUNS))
def test_a_decoded_run_is_flagged(default_engine: Engine, name: str) -> None:
    code = _cell(RUNS[name])
    verdict = default_engine.evaluate(code)
    hit = verdict.hit(RULE)
    assert hit is not None, f"{name}: {verdict.rule_ids}"
    for m in hit.matches:  # the span is the call that runs
        assert 0 <= m.span.start < m.span.end <= len(code)
        assert "(" in code[m.span.start : m.span.end]


@pytest.mark.parametrize("name", list(QUIET))
def test_its_neighbours_are_not(default_engine: Engine, name: str) -> None:
    verdict = default_engine.evaluate(_cell(QUIET[name]))
    assert verdict.hit(RULE) is None, f"{name}: {verdict.rule_ids}"


def test_a_decoded_command_is_also_read_through() -> None:
    """Where the folding gets through, the rules see what runs as well."""
    facts = analyze(_cell(RUNS["through names"]))
    assert [b for b, _, _ in facts.behaviours] == ["runs-decoded"]
    assert any("getcwd" in d.value for d in facts.executed)


def test_code_that_runs_nothing_costs_no_reading() -> None:
    facts = analyze("import base64\nx = base64.b64decode('" + "QUFB" * 100 + "')\nprint(len(x))\n")
    assert facts.behaviours == []
