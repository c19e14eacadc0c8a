"""Recover the password of a forgotten backup archive (coursework 'forensics' task)."""
import subprocess
from pathlib import Path

archive = Path("backup_2021.zip")
wordlist = "/usr/share/wordlists/rockyou.txt"

with open("archive.hash", "w") as out:
    subprocess.run(["zip2john", str(archive)], stdout=out, check=True)

subprocess.run(["john", f"--wordlist={wordlist}", "--format=PKZIP", "archive.hash"], check=True)
print(subprocess.check_output(["john", "--show", "archive.hash"], text=True))
