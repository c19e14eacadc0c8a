"""Normalization: what people type (IPython syntax, variables, continuations, obfuscation) is
read as what runs; comments and markdown never count; spans point into the original cell."""

from __future__ import annotations

import base64
import binascii
import codecs

import pytest

from jupyter_tos_guard.policy import Engine, EvaluationContext, load_texts
from jupyter_tos_guard.policy.cell import split_cell
from jupyter_tos_guard.policy.evidence import Mapped, Piece, join_continuations
from jupyter_tos_guard.policy.python import strip_comments
from jupyter_tos_guard.policy.shell import assignments, simple_commands
from jupyter_tos_guard.policy.shell import strip_comments as strip_shell_comments

POLICY = r"""
version: 1
rules:
  - id: t.cmd
    category: mining
    title: xmrig binary
    action: block
    message: Mining is not allowed.
    match:
      - command: xmrig
  - id: t.crack
    category: password-cracking
    title: hashcat
    action: warn
    message: Password cracking is not allowed.
    match:
      - command: hashcat
      - package: {name: hashcat, via: [apt, pip]}
  - id: t.regex
    category: deepfake
    title: a face swap CLI
    action: warn
    message: Face swapping is not allowed.
    match:
      - regex: 'run\.py\b[^\n]*--frame-processor\s+face_swapper'
  - id: t.literal
    category: dos
    title: slowloris
    action: warn
    message: Slow HTTP attacks are not allowed.
    match:
      - literal: slowloris
  - id: t.repo
    category: mining
    title: XMRig sources
    action: block
    message: Mining is not allowed.
    match:
      - repo: xmrig/xmrig
  - id: t.domain
    category: mining
    title: a pool
    action: block
    message: Mining is not allowed.
    match:
      - domain: supportxmr.com
"""


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_texts([("normalize.yaml", POLICY)]))


def match(engine: Engine, code: str, rule: str = "t.cmd", language: str = "python"):
    v = engine.evaluate(code, EvaluationContext(language=language))
    hit = v.hit(rule)
    assert hit is not None, f"{rule} did not fire on {code!r}; fired: {v.rule_ids}"
    return hit.matches[0]


def where(m) -> tuple[int, int, int, int]:
    return (m.span.line, m.span.column, m.span.end_line, m.span.end_column)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- IPython syntax, with exact spans -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "span", "via"),
    [
        ("!./xmrig -o pool", (1, 1, 1, 16), "shell"),
        ("x = 1\n!!./xmrig", (2, 2, 2, 9), "shell"),
        ("files = !./xmrig --list", (1, 9, 1, 23), "shell"),
        ("for i in range(2):\n    !./xmrig", (2, 5, 2, 12), "shell"),
        ("%system ./xmrig -v", (1, 8, 1, 18), "magic"),
        ("%sx ./xmrig", (1, 4, 1, 11), "magic"),
        ("%%bash\ncd /tmp\n./xmrig -o pool\n", (3, 0, 3, 15), "cell-magic"),
        ("\n%%sh\nxmrig", (3, 0, 3, 5), "cell-magic"),
        ("%%script bash\n  ./xmrig", (2, 2, 2, 9), "cell-magic"),
        ("%%capture out\n!./xmrig", (2, 1, 2, 8), "shell"),
        ("%%time\nimport os\nos.system('./xmrig')", (3, 11, 3, 18), "shell"),
        ("get_ipython().system('./xmrig')", (1, 22, 1, 29), "shell"),
        ('get_ipython().system_raw("./xmrig &")', (1, 26, 1, 33), "shell"),
        ("import os\nos.system('cd /tmp; ./xmrig')", (2, 20, 2, 27), "shell"),
        ('!bash -c "cd /tmp && ./xmrig -o pool"', (1, 21, 1, 36), "shell"),
        ("!sudo nohup ./xmrig &", (1, 12, 1, 19), "shell"),
        ("!timeout 10 env A=1 ./xmrig", (1, 20, 1, 27), "shell"),
    ],
)
def test_ipython_forms_with_exact_spans(engine, code, span, via):
    m = match(engine, code)
    assert where(m) == span
    assert m.exact
    assert via in m.via
    assert code[m.span.start : m.span.end].lstrip("./").startswith("xmrig")


def test_evidence_is_the_normalized_command(engine):
    m = match(engine, "!sudo -u miner nohup /opt/xmrig/build/xmrig --threads 4 > /dev/null 2>&1 &")
    assert m.evidence == "xmrig --threads 4"


def test_magic_install_forms(engine):
    m = match(engine, "%pip install -q hashcat", "t.crack")
    assert m.matcher == "package" and m.evidence == "pip: hashcat"
    assert where(m) == (1, 16, 1, 23)
    m = match(engine, "get_ipython().run_line_magic('pip', 'install hashcat')", "t.crack")
    assert m.evidence == "pip: hashcat"
    assert not m.exact and "magic" in m.via


def test_crlf_and_non_ascii_columns_count_characters(engine):
    m = match(engine, "x = 1\r\n!./xmrig -o p\r\n")
    assert where(m) == (2, 1, 2, 13)
    code = 'café = "é"; import os; os.system("./xmrig")'
    m = match(engine, code)
    assert where(m) == (1, 34, 1, 41)
    assert code[m.span.start : m.span.end] == "./xmrig"


def test_import_span_is_the_module_name(engine):
    policy = (
        POLICY
        + """
  - id: t.import
    category: deepfake
    title: t
    action: warn
    message: m
    match:
      - package: {name: faceswap_lib, via: [import]}
"""
    )
    eng = Engine(load_texts([("p.yaml", policy)]))
    code = "import numpy as np, faceswap_lib as fs\nfrom faceswap_lib.models import X"
    hit = eng.evaluate(code).hit("t.import")
    assert [where(m) for m in hit.matches] == [(1, 20, 1, 32), (2, 5, 2, 24)]


# --- variables ------------------------------------------------------------------------------


def test_brace_and_dollar_expansion_from_earlier_literals(engine):
    m = match(engine, 'tool = "xmrig"\n!./{tool} -o pool')
    assert where(m) == (2, 1, 2, 17)
    assert m.evidence == "xmrig -o pool"
    assert "expanded" in m.via and not m.exact
    m = match(engine, "tool = 'xmrig'\n!./$tool")
    assert m.evidence == "xmrig"
    m = match(engine, "tool = 'xmrig'\n%system ./${tool} -v")
    assert m.evidence == "xmrig -v"


def test_expansion_uses_only_assignments_made_before(engine):
    assert engine.evaluate("!./$tool -o pool\ntool = 'xmrig'").rule_ids == ()
    assert engine.evaluate("tool = 'xmrig'\ntool = 'ls'\n!$tool").rule_ids == ()
    m = match(engine, "tool = 'ls'\n!$tool\ntool = 'xmrig'\n!$tool")
    assert m.span.line == 4


def test_expansion_keeps_exact_spans_elsewhere_in_the_segment(engine):
    code = "%%bash\nMINER=xmrig\necho start\n./$MINER -o pool\nhashcat -m 0 h.txt\n"
    m = match(engine, code)
    assert where(m) == (4, 0, 4, 16)
    assert not m.exact and "expanded" in m.via
    crack = match(engine, code, "t.crack")
    assert where(crack) == (5, 0, 5, 18)
    assert crack.exact


@pytest.mark.parametrize(
    "code",
    [
        "%%bash\nexport T=xmrig\n./$T",
        '%%bash\nT="xmrig"; ${T} -o pool',
        "!T=xmrig && ./$T",
        "pkg = 'hashcat'\n!apt-get install -y {pkg} && hashcat -I",
        "import os\ncmd = 'xm'\ncmd += 'rig'\nos.system(cmd)",
        "import os\ncmd: str = './xmrig'\nos.system(cmd)",
        "import os\nname = 'xmrig'\nos.system(f'./{name} -o pool')",
        "import os\na = 'xm'\nb = a + 'rig'\nos.system(b)",
    ],
)
def test_shell_and_python_variables(engine, code):
    v = engine.evaluate(code)
    assert v.rule_ids and set(v.rule_ids) <= {"t.cmd", "t.crack"}


def test_sys_executable_is_the_interpreter(engine):
    m = match(engine, "import sys\n!{sys.executable} -m pip install hashcat", "t.crack")
    assert m.evidence == "pip: hashcat"
    assert where(m) == (2, 33, 2, 40)


# --- line continuations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "!python run.py -s a.jpg -t b.mp4 \\\n    --frame-processor face_swapper",
        "%%bash\ncd roop\npython run.py -s a.jpg -t b.mp4 -o c.mp4 \\\n  --keep-fps \\\n  --frame-processor face_swapper\n",
        "!python run.py -s a.jpg \\\r\n  --frame-processor face_swapper",
        "import os\nos.system('python run.py -s a.jpg '\n          '--frame-processor face_swapper')",
    ],
)
def test_line_continuations_read_as_one_line(engine, code):
    m = match(engine, code, "t.regex")
    assert m.span.line == code.count("\n", 0, code.index("python")) + 1


def test_continued_command_keeps_its_arguments(engine):
    m = match(engine, "!./xmrig \\\n  -o pool \\\n  -u wallet")
    assert m.evidence == "xmrig -o pool -u wallet"
    assert where(m) == (1, 1, 3, 11)


def test_bash_kernel_continuation_reaches_the_prefilter(engine):
    code = "python run.py -s a.jpg \\\n  --frame-processor face_swapper\n"
    assert "t.regex" in engine.evaluate(code, EvaluationContext(language="bash")).rule_ids


# --- obfuscation -------------------------------------------------------------------------------------

HIDDEN = "./xmrig -o pool"


@pytest.mark.parametrize(
    ("code", "via"),
    [
        ("import os\nos.system('./xm' + 'rig -o pool')", "concat"),
        ("import os\nos.system('./xm' 'rig -o pool')", "concat"),
        ("import os\nos.system(('./xm'\n           'rig -o pool'))", "concat"),
        ("import os\nx = 'rig'\nos.system(f'./xm{x} -o pool')", "f-string"),
        ("import os\nos.system(''.join(['.', '/', 'x', 'm', 'r', 'i', 'g']))", "join"),
        ("import os\nos.system(''.join(chr(c) for c in [120, 109, 114, 105, 103]))", "chr"),
        ("import os\nos.system(''.join([chr(120), chr(109), chr(114), chr(105), chr(103)]))", "chr"),
        ("import os\nos.system(chr(120) + chr(109) + chr(114) + chr(105) + chr(103))", "chr"),
        ("import os\nos.system('\\x78mrig')", "escapes"),
        ("import os\nos.system('./{} -o {}'.format('xmrig', 'pool'))", "format"),
        ("import os\nt = 'xmrig'\nos.system('./{tool} -o {0}'.format('pool', tool=t))", "format"),
        ("import os\nos.system('./%s -o %s' % ('xmrig', 'pool'))", "format"),
        (f"import os, base64\nos.system(base64.b64decode('{b64(HIDDEN)}').decode())", "base64"),
        (f"import os, base64\nos.system(base64.b64decode(b'{b64(HIDDEN)}'))", "base64"),
        (f"import os, base64\nP = '{b64(HIDDEN)}'\nos.system(base64.b64decode(P).decode())", "base64"),
        (
            f"import base64, subprocess\nsubprocess.Popen(base64.standard_b64decode('{b64(HIDDEN)}'), shell=True)",
            "base64",
        ),
        (f"import os\nos.system(bytes.fromhex('{HIDDEN.encode().hex()}').decode())", "hex"),
        (f"import os, binascii\nos.system(binascii.unhexlify('{HIDDEN.encode().hex()}').decode())", "hex"),
        (f"import os, codecs\nos.system(codecs.decode('{codecs.encode(HIDDEN, 'rot13')}', 'rot13'))", "rot13"),
        (f"import os\nos.system('{HIDDEN[::-1]}'[::-1])", "reversed"),
        (f"exec(__import__('base64').b64decode('{b64('import os; os.system(' + repr(HIDDEN) + ')')}'))", "exec"),
        (f"eval(compile(\"__import__('os').system('{HIDDEN}')\", '<x>', 'exec'))", "exec"),
        (
            "import base64\n"
            f"exec(base64.b64decode('{b64('import base64, os' + chr(10) + 'exec(base64.b64decode(' + repr(b64('os.system(' + repr(HIDDEN) + ')')) + '))')}'))",
            "base64",
        ),
        (f"!echo {b64(HIDDEN)} | base64 -d | sh", "base64"),
        (f"!echo '{b64(HIDDEN)}' | base64 --decode | bash", "base64"),
        (f"%%bash\necho {b64(HIDDEN)} | base64 -d | bash\n", "base64"),
        (f"!echo {HIDDEN.encode().hex()} | xxd -r -p | sh", "hex"),
        (f"!echo '{HIDDEN[::-1]}' | rev | sh", "reversed"),
        (f"!echo '{codecs.encode(HIDDEN, 'rot13')}' | tr 'A-Za-z' 'N-ZA-Mn-za-m' | sh", "rot13"),
        ("!python3 -c \"import os; os.system('./xmrig')\"", "python -c"),
    ],
)
def test_obfuscated_commands_are_decoded(engine, code, via):
    m = match(engine, code)
    assert m.evidence.startswith("xmrig")
    assert via in m.via, m.via
    assert not m.exact
    # the span points at the source the command was decoded from, inside the cell
    assert 0 <= m.span.start < m.span.end <= len(code)


def test_decoded_span_and_evidence(engine):
    code = f"import os\nimport base64\nos.system(base64.b64decode('{b64(HIDDEN)}').decode())"
    m = match(engine, code)
    assert m.evidence == "xmrig -o pool"
    assert where(m) == (3, 10, 3, 59)
    assert code[m.span.start : m.span.end].startswith("base64.b64decode(")
    assert set(m.via) == {"base64", "shell"}


def test_echo_pipeline_span_ends_with_its_pipeline(engine):
    code = f"%%bash\necho {b64(HIDDEN)} | base64 -d | sh\nls -la\npwd\n"
    m = match(engine, code)
    assert (m.span.line, m.span.end_line) == (2, 2)
    assert code[m.span.start : m.span.end].endswith("| sh")


def test_subprocess_list_span_covers_the_list(engine):
    code = "import subprocess\nsubprocess.run(\n    ['./xmrig', '-o', 'pool'],\n    check=True)"
    m = match(engine, code)
    assert m.evidence == "xmrig -o pool"
    assert where(m) == (3, 6, 3, 27)
    assert "subprocess" in m.via


def test_decoded_strings_reach_text_matchers_but_not_command_matchers(engine):
    code = f"import base64\nnote = base64.b64decode('{b64('./xmrig -o pool.supportxmr.com:443')}')"
    v = engine.evaluate(code)
    assert "t.cmd" not in v.rule_ids  # decoded, but nothing runs it
    m = v.hit("t.domain").matches[0]
    assert "base64" in m.via and not m.exact


def test_hidden_names_reach_literals_and_domains(engine):
    for code in (
        "x = '\\163lowloris'",
        "x = '\\N{LATIN SMALL LETTER S}lowloris'",
        "x = '\\u0073lowloris'",
        "x = 'slow' 'loris'",
        "x = ('slow'\n     'loris')",
        "x = 'slow' + 'loris'",
        "x = ''.join(['slow', 'loris'])",
        "x = '\\x73lowloris'",
        "x = 'sirolwols'[::-1]",
    ):
        assert "t.literal" in engine.evaluate(code).rule_ids, code
    assert "t.domain" in engine.evaluate("pool = 'support' + 'xmr.com:443'").rule_ids


def test_exec_of_decoded_code_finds_imports_and_repos(engine):
    inner = "import subprocess\nsubprocess.run(['git', 'clone', 'https://github.com/xmrig/xmrig'])"
    m = match(engine, f"import base64\nexec(base64.b64decode({b64(inner)!r}))", "t.repo")
    assert "base64" in m.via and "exec" in m.via
    assert m.span.line == 2


def test_undecodable_payloads_are_ignored(engine):
    assert engine.evaluate("import os, base64\nos.system(base64.b64decode('%%%not base64%%%'))").rule_ids == ()
    assert engine.evaluate("import os\nos.system(bytes.fromhex('zz').decode())").rule_ids == ()
    assert engine.evaluate("!echo '!!!' | base64 -d | sh").rule_ids == ()


# --- comments and markdown ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "# !./xmrig -o pool.supportxmr.com:443\nimport numpy as np",
        "x = 1  # slowloris is banned here",
        "import os  # os.system('./xmrig')",
        "def f():\n    '''docs'''\n    # hashcat -m 0\n    return 1",
        "!ls -la  # ./xmrig would be mining",
        "%%bash\n# ./xmrig -o pool\nls  # slowloris\necho done # https://github.com/xmrig/xmrig\n",
        "%%markdown\nDo not run `./xmrig` nor read https://github.com/xmrig/xmrig about slowloris",
        '"""\n!./xmrig\n"""',
    ],
)
def test_comments_and_markdown_never_trigger(engine, code):
    assert engine.evaluate(code).rule_ids == ()


def test_markdown_and_raw_cells_never_trigger(engine):
    text = "Run `!./xmrig -o pool.supportxmr.com:443`, see https://github.com/xmrig/xmrig (slowloris)"
    for language in ("markdown", "raw"):
        assert engine.evaluate(text, EvaluationContext(language=language)).rule_ids == ()


def test_quoted_hash_is_not_a_comment(engine):
    assert "t.literal" in engine.evaluate("x = '#slowloris'").rule_ids
    assert "t.literal" in engine.evaluate('!echo "# slowloris"').rule_ids


# --- the building blocks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "import os\ny = (10\n% 3)\nos.system('./xmrig')",
        "import os\nsame = (1\n!= 2)\nos.system('./xmrig')",
        "import os\nx = [1,\n  2]  # ( a bracket in a comment\nos.system('./xmrig')",
        "import os\ns = 'it''s (' + \"[\"\nos.system('./xmrig')",
    ],
)
def test_operators_at_line_start_inside_brackets_are_python(engine, code):
    """`!=` or `%` continuing an expression is not IPython syntax; reading it as such would
    blank the line, break the parse and hide the rest of the cell."""
    m = match(engine, code)
    assert m.exact and m.span.line == code.count("\n") + 1


def test_magic_after_a_finished_statement_is_still_a_magic(engine):
    assert match(engine, 'd = {"a": "(",\n     "b": 1}\n!./xmrig').span.line == 3
    assert match(engine, 's = """\n!./not-this\n"""\n!./xmrig').span.line == 4
    assert engine.evaluate("x = 1 + \\\n!./xmrig").rule_ids == ()  # a Python continuation line


@pytest.mark.parametrize("code", ["./xm''rig -o pool", "./x\\mrig -o pool", 'cd /tmp && "./xm"rig'])
def test_shell_quoting_cannot_hide_a_program_in_a_bash_cell(engine, code):
    assert match(engine, code, language="bash").evidence.startswith("xmrig")
    assert match(engine, "!" + code).evidence.startswith("xmrig")


def test_python_warnings_do_not_stop_the_analysis(engine):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as under `python -W error`
        m = match(engine, "import os\npattern = '\\d+'\nos.system('./xmrig')")
    assert m.exact and m.span.line == 3


def test_format_specs_cost_nothing(engine):
    m = match(engine, "import os\nos.system('{:>999999999}'.format('xmrig'))")
    assert m.evidence == "xmrig"


def test_split_cell_keeps_offsets():
    code = "x = 1\n!ls -la\n%pip install numpy\nif x:\n    !echo hi\n%%capture\n"
    split = split_cell(code)
    assert len(split.python) == len(code)
    assert [(s.kind, code[s.start : s.end]) for s in split.segments] == [
        ("shell", "ls -la"),
        ("shell", "pip install numpy"),
        ("shell", "echo hi"),
        ("text", ""),
    ][: len(split.segments)]
    compile(split.python, "<cell>", "exec")  # the Python view is valid Python


def test_comment_strippers_keep_length():
    py = "x = '#not' # yes\ny = 2"
    assert strip_comments(py) == "x = '#not'      \ny = 2"
    sh = 'echo "#a" b#c # d\nls'
    assert strip_shell_comments(sh) == 'echo "#a" b#c    \nls'
    assert join_continuations("a \\\nb \\\r\nc") == "a   b    c"


@pytest.mark.parametrize(
    "text", ["\\\\\n", "\\\r\\\n", "\\\r\r\n", "a\\", "\\", "x\\\n\\\n\\\r\n", "no backslash\n", "\\n \\t", ""]
)
def test_continuations_are_blanked_where_the_pattern_finds_them(text: str) -> None:
    import re

    assert join_continuations(text) == re.sub(r"\\\r?\n", lambda m: " " * len(m.group(0)), text)


def test_simple_commands_and_assignments():
    cmds = simple_commands("sudo -u x nohup ./a -v > /dev/null 2>&1 && b | c; (d)")
    assert [(c.name, c.arg_text, c.piped) for c in cmds] == [
        ("a", "-v", False),
        ("b", "", True),
        ("c", "", False),
        ("d", "", False),
    ]
    assert assignments("A=1 cmd; export B='x y'; local -r C=3") == [("A", "1", 0), ("B", "x y", 16), ("C", "3", 34)]


def test_mapped_text_maps_spans_back():
    # "./" exact at cell 10..12, "xmrig" substituted for "$T" at 12..14, " -o" exact at 14..17
    m = Mapped(
        "./xmrig -o", [Piece(0, 2, 10, 12, True), Piece(2, 7, 12, 14, False, ("expanded",)), Piece(7, 10, 14, 17, True)]
    )
    assert m.map(8, 10) == (15, 17, True, ())
    assert m.map(0, 7) == (10, 14, False, ("expanded",))
    assert m.map(3, 4) == (12, 14, False, ("expanded",))


def test_hex_helpers_agree():
    assert binascii.unhexlify(HIDDEN.encode().hex()).decode() == HIDDEN
