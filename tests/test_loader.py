"""Policy files: every problem reported at once with file, line, column and a clear message;
layering of the default and operator files."""

from __future__ import annotations

import textwrap

import pytest

from jupyter_tos_guard.policy import Action, Engine, PolicyError, Problem, Severity, load_policy, load_texts
from jupyter_tos_guard.policy.loader import default_policy_texts
from jupyter_tos_guard.policy.model import CommandMatcher, PackageMatcher, RepoMatcher

BASE = textwrap.dedent(
    """\
    version: 1
    name: Base policy
    info_url: https://example.edu/terms
    appeal_url: https://example.edu/appeal
    rules:
      - id: mining.xmrig
        category: mining
        title: XMRig
        severity: high
        action: block
        message: >-
          Mining is not allowed.
        references: [https://github.com/xmrig/xmrig]
        match:
          - repo: xmrig/xmrig
          - command: xmrig
        tests:
          flag: ["!./xmrig"]
          allow: ["import xmrig_notes  # no"]
      - id: mining.t-rex
        category: mining
        title: T-Rex
        action: block
        message: Mining is not allowed.
        match: [{command: t-rex}]
      - id: p2p.aria2
        category: p2p
        title: aria2 torrents
        action: warn
        message: Torrents are not allowed.
        match: [{command: {name: aria2c, args: 'magnet:'}}]
      - id: dos.slowloris
        category: dos
        title: slowloris
        action: block
        message: Flooding is not allowed.
        match: [{literal: slowloris}]
    """
)


def problems_of(text: str, source: str = "op.yaml", base: str | None = None) -> list[Problem]:
    texts = ([("base.yaml", base)] if base else []) + [(source, text)]
    with pytest.raises(PolicyError) as err:
        load_texts(texts)
    return err.value.problems


def one_problem(text: str, base: str | None = None) -> Problem:
    problems = problems_of(text, base=base)
    assert len(problems) == 1, problems
    return problems[0]


def rule_yaml(body: str, rid: str = "site.tool") -> str:
    """A policy with one rule whose other fields are valid; `body` adds or replaces lines."""
    fields = {
        "category": "mining",
        "title": "Tool",
        "action": "warn",
        "message": "Not allowed.",
        "match": "[{command: sitetool}]",
    }
    lines = [line for line in textwrap.dedent(body).splitlines() if line.strip()]
    for line in lines:
        key = line.split(":", 1)[0].strip()
        fields.pop(key, None)
    out = ["version: 1", "rules:", f"  - id: {rid}"]
    out += [f"    {k}: {v}" for k, v in fields.items()]
    out += [f"    {line}" for line in lines]
    return "\n".join(out) + "\n"


# --- a valid policy -----------------------------------------------------------------------------


def test_base_policy_loads_with_defaults_and_positions():
    policy = load_texts([("base.yaml", BASE)])
    assert policy.name == "Base policy"
    assert policy.info_url == "https://example.edu/terms"
    assert [r.id for r in policy.rules] == ["mining.xmrig", "mining.t-rex", "p2p.aria2", "dos.slowloris"]
    assert policy.categories == ("dos", "mining", "p2p")
    xmrig = policy.rule("mining.xmrig")
    assert xmrig.severity == Severity.HIGH and xmrig.action == Action.BLOCK
    assert xmrig.message == "Mining is not allowed."
    assert xmrig.matchers == (RepoMatcher("xmrig", "xmrig"), CommandMatcher("xmrig"))
    assert xmrig.tests.flag == ("!./xmrig",) and xmrig.tests.allow == ("import xmrig_notes  # no",)
    assert (xmrig.origin.source, xmrig.origin.line, xmrig.origin.column) == ("base.yaml", 6, 5)
    assert policy.rule("mining.t-rex").severity == Severity.MEDIUM  # the default severity
    assert policy.rule("nope") is None
    assert policy.sources == ("base.yaml",)
    assert len(policy.digest) == 64


def test_every_action_is_accepted():
    for action in ("log", "warn", "block"):
        rule = load_texts([("p.yaml", rule_yaml(f"action: {action}"))]).rules[0]
        assert rule.action == Action.parse(action)


def test_digest_follows_the_content():
    a = load_texts([("base.yaml", BASE)]).digest
    assert a == load_texts([("base.yaml", BASE)]).digest
    assert a != load_texts([("base.yaml", BASE.replace("T-Rex", "T-Rex miner"))]).digest


def test_matcher_shapes_are_parsed():
    policy = load_texts(
        [
            (
                "p.yaml",
                rule_yaml("""
        match:
          - repo: "huggingface.co/DeepInsight/inswapper.git"
          - package: {name: Hydra, via: [apt]}
          - package: {name: x-tool, via: pip}
          - command: {name: ssh, args: '-R'}
    """),
            )
        ]
    )
    repo, pkg, pkg_one, cmd = policy.rules[0].matchers
    assert repo == RepoMatcher("deepinsight", "inswapper", "huggingface.co")
    assert pkg == PackageMatcher("hydra", ("apt",))
    assert pkg_one == PackageMatcher("x-tool", ("pip",))
    assert cmd == CommandMatcher("ssh", "-R")


# --- every problem, with its position -------------------------------------------------------------

ERRORS = [
    # (policy text, line, column, words the message must contain)
    ('version: 1\nrules:\n  - id: x\n    title: "unterminated\n', 5, 1, ["invalid YAML", "line 4, column 12"]),
    ("version: 1\nrules:\n\t- id: a\n", 3, 1, ["invalid YAML", "cannot start any token"]),
    ("version: 1\nrules:\n  - id: a\n    category: x\n   title: t\n", 5, 4, ["invalid YAML"]),
    ("", 1, 1, ["empty"]),
    ("- a\n- b\n", 1, 1, ["policy file must be a mapping"]),
    ("name: no version\nrules: []\n", 1, 1, ["version: 1"]),
    ("version: 2\nrules: []\n", 1, 10, ["version 2 is not supported"]),
    ("version: 1\nrules: {}\n", 2, 8, ["rules must be a list, not a mapping"]),
    ("version: 1\ninfourl: https://x\n", 2, 1, ["unknown key 'infourl'", "did you mean 'info_url'"]),
    ("version: 1\nname: [a]\n", 2, 7, ["name must be a single value, not a list"]),
    (rule_yaml("actoin: warn"), 9, 5, ["unknown key 'actoin'", "did you mean 'action'"]),
    (rule_yaml("action: kill"), 8, 13, ["action 'kill' must be one of: log, warn, ", "block"]),
    (rule_yaml("action: Block"), 8, 13, ["action 'Block'"]),
    (rule_yaml("severity: huge"), 9, 15, ["severity 'huge'", "low, medium, high, critical"]),
    (rule_yaml("message: no"), 8, 14, ["message must be text", "'no'", "quotes"]),
    (rule_yaml("title: 5"), 8, 12, ["title must be text", "number"]),
    (rule_yaml("title: ''"), 8, 12, ["title must be a non-empty string"]),
    (rule_yaml("category: Mining Tools"), 8, 15, ["category 'Mining Tools'"]),
    (rule_yaml("private: maybe"), 9, 14, ["private must be true or false"]),
    (rule_yaml("enabled: 1"), 9, 14, ["enabled must be true or false"]),
    (rule_yaml("references: https://x"), 9, 17, ["references must be a list"]),
    ("version: 1\nrules:\n  - id: Bad ID\n", 3, 9, ["id 'Bad ID'", "lowercase"]),
    ("version: 1\nrules:\n  - title: no id\n", 3, 5, ["a rule needs an id"]),
    ("version: 1\nrules:\n  - just a string\n", 3, 5, ["a rule must be a mapping"]),
    (rule_yaml("match: []"), 8, 12, ["match must list at least one matcher"]),
    (rule_yaml("match: {command: x}"), 8, 12, ["match must be a list"]),
    (rule_yaml("match: [{regex: '(?<=a)b'}]"), 8, 21, ["refused", "lookaround and backreferences", "linear time"]),
    (rule_yaml("match: [{regex: '(?!x)tool'}]"), 8, 21, ["refused", "linear time"]),
    (rule_yaml("match: [{regex: '(a)\\1'}]"), 8, 21, ["refused", "backreferences"]),
    (rule_yaml("match: [{regex: 'a*'}]"), 8, 21, ["matches empty text"]),
    (rule_yaml("match: [{regex: '(unclosed'}]"), 8, 21, ["refused", "missing )"]),
    (rule_yaml("match: [{command: {name: ssh, args: '(?=x)'}}]"), 8, 41, ["refused", "linear time"]),
    (rule_yaml("unless: ['(?<!x)y']"), 9, 14, ["refused", "linear time"]),
    (rule_yaml("match: [{repo: justname}]"), 8, 20, ["repo 'justname' must be owner/name"]),
    (rule_yaml("match: [{repo: 'a/b/c/d'}]"), 8, 20, ["must be owner/name"]),
    (rule_yaml("match: [{repo: '*/*'}]"), 8, 20, ["* may stand for a part, not for both"]),
    (rule_yaml("match: [{repo: 'own er/name'}]"), 8, 20, ["must be owner/name"]),
    (rule_yaml("match: [{domain: 'https://pool.example.com/'}]"), 8, 22, ["is not a host name"]),
    (rule_yaml("match: [{domain: localhost}]"), 8, 22, ["is not a host name"]),
    (rule_yaml("match: [{url: example.com/x}]"), 8, 19, ["needs a scheme"]),
    (rule_yaml("match: [{url: '*'}]"), 8, 19, ["at least 3 characters"]),
    (rule_yaml("match: [{package: 'bad name!'}]"), 8, 23, ["package 'bad name!' must be a name"]),
    (rule_yaml("match: [{package: '*'}]"), 8, 23, ["must be a name"]),
    (
        rule_yaml("match: [{package: {name: x, via: [pypi]}}]"),
        8,
        38,
        ["via must list some of: pip, conda, apt, npm, import"],
    ),
    (rule_yaml("match: [{package: {via: [pip]}}]"), 8, 23, ["package matcher needs a name"]),
    (rule_yaml("match: [{command: 'two words'}]"), 8, 23, ["command 'two words' must be a name"]),
    (rule_yaml("match: [{command: {name: x, argz: y}}]"), 8, 33, ["unknown key 'argz'", "did you mean 'args'"]),
    (rule_yaml("match: [{lietral: xmrig}]"), 8, 14, ["unknown key 'lietral'", "did you mean 'literal'"]),
    (rule_yaml("match: [{literal: ab}]"), 8, 23, ["too short"]),
    (rule_yaml("match: [{repo: a/b, domain: c.com}]"), 8, 13, ["exactly one kind"]),
    (rule_yaml("match: [{}]"), 8, 13, ["a matcher needs one of"]),
    (rule_yaml("tests: {flag: ['x'], allw: []}"), 9, 26, ["unknown key 'allw'", "did you mean 'allow'"]),
    (rule_yaml("tests: {flag: 'x'}"), 9, 19, ["tests.flag must be a list"]),
    (
        "version: 1\nrules:\n  - id: a.b\n    action: warn\n",
        3,
        5,
        ["'a.b' is missing category, title, message, match", "not an override"],
    ),
    ("version: 1\nrules:\n  - id: a.b\n    enabled: false\n", 3, 5, ["cannot disable 'a.b'", "no earlier layer"]),
    ("version: 1\ndisable: [nothing.*]\n", 2, 11, ["disable 'nothing.*' matches no rule"]),
    ("version: 1\ndisable:\n  - category:nope\n", 3, 5, ["'category:nope' matches no rule"]),
    ("version: 1\ndisable: mining.xmrig\n", 2, 10, ["disable must be a list"]),
]


@pytest.mark.parametrize(("text", "line", "column", "words"), ERRORS)
def test_each_problem_is_positioned_and_explained(text, line, column, words):
    p = one_problem(text)
    assert (p.source, p.line, p.column) == ("op.yaml", line, column), p
    for word in words:
        assert word in p.message, (word, p.message)
    assert str(p) == f"op.yaml:{line}:{column}: {p.message}"


def test_duplicate_ids_in_one_file():
    text = (
        rule_yaml("") + "  - id: site.tool\n    category: mining\n    title: again\n    action: warn\n"
        "    message: m\n    match: [{command: other}]\n"
    )
    p = one_problem(text)
    assert (p.line, p.column) == (9, 5)
    assert "rule id 'site.tool' is already used at line 3 of this file" in p.message


def test_every_problem_is_reported_at_once():
    text = textwrap.dedent(
        """\
        version: 1
        nme: typo
        rules:
          - id: a.one
            category: mining
            title: One
            action: explode
            message: m
            match:
              - regex: '(?<=x)y'
              - domain: 'not a domain'
          - id: b.two
            category: mining
            title: Two
            severity: extreme
            action: warn
            message: m
            match: [{command: ok}]
        disable: [ghost.*]
        """
    )
    problems = problems_of(text)
    assert [(p.line, p.column) for p in problems] == [(2, 1), (7, 13), (10, 16), (11, 17), (15, 15), (19, 11)]
    assert "did you mean 'name'" in problems[0].message
    err = PolicyError(problems)
    assert str(err).count("op.yaml:") == 6


def test_problems_in_several_files_are_all_reported():
    with pytest.raises(PolicyError) as err:
        load_texts([("a.yaml", "version: 3\n"), ("b.yaml", rule_yaml("action: nope"))])
    assert [(p.source, p.line) for p in err.value.problems] == [("a.yaml", 1), ("b.yaml", 8)]


def test_files_on_disk_missing_undecodable_or_a_directory(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(rule_yaml(""), encoding="utf-8")
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("version: 1\nname: caf\xe9 policy\n".encode("latin-1"))
    with pytest.raises(PolicyError) as err:
        load_policy([good, tmp_path / "missing.yaml", latin, tmp_path], include_default=False)
    found = {p.source: p for p in err.value.problems}
    missing = found[str(tmp_path / "missing.yaml")]
    assert (missing.line, missing.column, missing.message) == (1, 1, "no such file")
    bad = found[str(latin)]
    assert (bad.line, bad.column) == (2, 10)
    assert "not UTF-8" in bad.message
    assert "directory" in found[str(tmp_path)].message
    assert str(good) not in found


def test_load_policy_reads_files_in_order(tmp_path):
    first = tmp_path / "first.yaml"
    first.write_text(rule_yaml(""), encoding="utf-8")
    second = tmp_path / "second.yaml"
    second.write_text("version: 1\nrules:\n  - id: site.tool\n    action: block\n", encoding="utf-8")
    policy = load_policy([first, second], include_default=False)
    assert policy.rule("site.tool").action == Action.BLOCK
    with pytest.raises(PolicyError):  # the other way round, the override comes first
        load_policy([second, first], include_default=False)


# --- layering ------------------------------------------------------------------------------------


def layered(*operator_files: str):
    return load_texts([("base.yaml", BASE)] + [(f"op{i}.yaml", t) for i, t in enumerate(operator_files)])


def test_operator_adds_rules():
    policy = layered(rule_yaml("", rid="site.extra"))
    assert [r.id for r in policy.rules][-1] == "site.extra"
    assert len(policy.rules) == 5


def test_override_changes_only_the_action():
    policy = layered("version: 1\nrules:\n  - id: mining.xmrig\n    action: log\n")
    before = load_texts([("base.yaml", BASE)]).rule("mining.xmrig")
    after = policy.rule("mining.xmrig")
    assert after.action == Action.LOG
    assert (after.title, after.severity, after.message, after.matchers, after.tests, after.references) == (
        before.title,
        before.severity,
        before.message,
        before.matchers,
        before.tests,
        before.references,
    )
    assert [r.id for r in policy.rules] == [r.id for r in load_texts([("base.yaml", BASE)]).rules]
    assert Engine(policy).evaluate("!./xmrig -o pool").action == Action.LOG


def test_override_other_fields_and_later_layers_win():
    policy = layered(
        "version: 1\nrules:\n  - id: p2p.aria2\n    message: '  Ask first.  '\n    unless: ['ubuntu']\n",
        "version: 1\nrules:\n  - id: p2p.aria2\n    action: block\n    match: [{command: aria2c}]\n",
    )
    rule = policy.rule("p2p.aria2")
    assert (rule.action, rule.message, rule.unless) == (Action.BLOCK, "Ask first.", ("ubuntu",))
    assert rule.matchers == (CommandMatcher("aria2c"),)


def test_override_with_a_bad_value_is_reported_where_written():
    p = one_problem("version: 1\nrules:\n  - id: mining.xmrig\n    action: maybe\n", base=BASE)
    assert (p.source, p.line, p.column) == ("op.yaml", 4, 13)


def test_enabled_false_removes_a_rule():
    policy = layered("version: 1\nrules:\n  - id: mining.t-rex\n    enabled: false\n")
    assert policy.rule("mining.t-rex") is None
    assert Engine(policy).evaluate("!./t-rex -a kawpow").action == Action.ALLOW


def test_new_rule_written_disabled_is_not_in_force():
    policy = layered(rule_yaml("enabled: false", rid="site.later"))
    assert policy.rule("site.later") is None


def test_disable_by_id_glob_and_category():
    policy = layered("version: 1\ndisable: ['mining.*', 'category:p2p']\n")
    assert [r.id for r in policy.rules] == ["dos.slowloris"]
    policy = layered("version: 1\ndisable: [dos.slowloris]\n")
    assert "dos.slowloris" not in {r.id for r in policy.rules}


def test_disable_sees_only_earlier_rules():
    # a file's own rules are in force before its `disable` list applies
    policy = layered(rule_yaml("", rid="site.tool") + "disable: [site.*]\n")
    assert policy.rule("site.tool") is None
    p = one_problem("version: 1\ndisable: [site.*]\n", base=BASE)
    assert "matches no rule" in p.message


def test_header_fields_from_later_layers_win():
    policy = layered(
        "version: 1\nname: Campus policy\ninfo_url: https://campus.example/tos\n",
        "version: 1\nappeal_url: mailto:help@campus.example\ncontact: help desk\n",
    )
    assert policy.name == "Campus policy"
    assert policy.info_url == "https://campus.example/tos"
    assert policy.appeal_url == "mailto:help@campus.example"
    assert policy.contact == "help desk"
    assert policy.sources == ("base.yaml", "op0.yaml", "op1.yaml")


def test_layering_over_the_embedded_default(tmp_path):
    op = tmp_path / "campus.yaml"
    op.write_text(
        "version: 1\ninfo_url: https://campus.example/tos\n"
        "rules:\n  - id: mining.xmrig\n    action: log\n"
        "disable: ['category:p2p']\n",
        encoding="utf-8",
    )
    default = load_policy()
    policy = load_policy([op])
    assert policy.info_url == "https://campus.example/tos"
    assert policy.rule("mining.xmrig").action == Action.LOG
    assert not [r for r in policy.rules if r.category == "p2p"]
    assert len(policy.rules) == len(default.rules) - sum(r.category == "p2p" for r in default.rules)
    assert Engine(policy).evaluate("!./xmrig -o pool").action == Action.LOG
    assert load_policy(include_default=False).rules == ()


def test_default_policy_texts_are_in_name_order():
    names = [source for source, _ in default_policy_texts()]
    assert names == sorted(names)
    assert names[0] == "<default>/_policy.yaml"


def test_a_misspelled_rule_id_in_an_override_gets_a_suggestion() -> None:
    text = (
        "version: 1\nrules:\n  - id: mining.xmirg\n    action: log\n"
        "  - id: mining.xmrg\n    enabled: false\ndisable: [password-cracking.hashcta]\n"
    )
    with pytest.raises(PolicyError) as err:
        load_texts(default_policy_texts() + [("site.yaml", text)])
    messages = [str(p) for p in err.value.problems]
    assert messages == [
        "site.yaml:3:5: 'mining.xmirg' overrides no rule defined so far (did you mean 'mining.xmrig'?)",
        "site.yaml:5:5: cannot disable 'mining.xmrg': no earlier layer defines it (did you mean 'mining.xmrig'?)",
        "site.yaml:7:11: disable 'password-cracking.hashcta' matches no rule defined so far "
        "(did you mean 'password-cracking.hashcat'?)",
    ]
    # a genuinely new rule that lacks keys is still told what it lacks
    with pytest.raises(PolicyError) as err:
        load_texts(
            default_policy_texts() + [("site.yaml", "version: 1\nrules:\n  - id: site.newtool\n    action: log\n")]
        )
    assert "did you mean" not in str(err.value) and "category" in str(err.value)
