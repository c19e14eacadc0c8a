"""Lecture 9: hashing, password storage and a toy blockchain (proof of work)."""
import hashlib
import json
import time

import bcrypt


def store_password(password: str) -> bytes:
    # never store plain text; bcrypt salts and stretches for us
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12))


def check_password(password: str, stored: bytes) -> bool:
    return bcrypt.checkpw(password.encode(), stored)


def dictionary_attack_demo(target_sha256: str, candidates: list[str]) -> str | None:
    """Why unsalted fast hashes are weak: try a handful of words against one SHA-256."""
    for word in candidates:
        if hashlib.sha256(word.encode()).hexdigest() == target_sha256:
            return word
    return None


class Block:
    def __init__(self, index, data, previous_hash):
        self.index, self.data, self.previous_hash = index, data, previous_hash
        self.timestamp = time.time()
        self.nonce = 0

    def hash(self) -> str:
        body = json.dumps([self.index, self.data, self.previous_hash, self.timestamp, self.nonce])
        return hashlib.sha256(body.encode()).hexdigest()

    def mine(self, difficulty: int = 4) -> str:
        """Proof of work: find a nonce whose hash starts with `difficulty` zeros."""
        while not self.hash().startswith("0" * difficulty):
            self.nonce += 1
        return self.hash()


chain = [Block(0, "genesis", "0")]
for i in range(1, 4):
    block = Block(i, {"from": "alice", "to": "bob", "amount": i}, chain[-1].hash())
    block.mine()
    chain.append(block)
print([b.hash()[:12] for b in chain])
