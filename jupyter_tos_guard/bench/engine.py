"""`jupyter tos-guard benchmark`: how fast the policy engine is, against explicit targets.

Everything here is deterministic (fixed seeds): the notebook cells it evaluates, the large
cells, and the synthetic 100 / 1,000 / 10,000-rule policies. It measures

* per-cell latency (p50/p99) over a mix of realistic cells of 100 B to 10 KB, overall, by
  size bucket and by kind of cell;
* throughput on 1 MB and 10 MB cells, benign (prefilter fast path) and with one prohibited
  line (the deep path: split, parse, normalize, match), as MB/s and ms per MB;
* load time of the default policy and of a synthetic 10,000-rule policy (YAML parse and
  validation, then `Engine` compile, timed separately);
* per-cell latency as the policy grows from 100 to 10,000 rules;

and prints each figure next to its target with PASS or MISS. It measures; it does not gate:
the exit status is 0 whatever the figures. `--quick` is a smoke run (fewer cells and
repetitions, no 10 MB cells) that finishes in a few seconds.
"""

from __future__ import annotations

import argparse
import base64
import functools
import gc
import importlib
import importlib.util
import math
import os
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..policy import Engine, load_policy, load_texts
from ..policy.loader import compile_re2, default_policy_texts
from ..policy.model import Action

# --- targets ------------------------------------------------------------------------------

TARGET_P99_MS = 1.0  # per-cell p99 on cells up to 10 KB, default policy
TARGET_MB_S = 20.0  # throughput on 1 MB / 10 MB cells
TARGET_LOAD_S = 2.0  # 10,000-rule policy: YAML load + Engine compile
TARGET_RULE_GROWTH = 2.0  # per-cell cost at 10,000 rules vs 100 rules (100x the rules)
# time per MB at 10 MB at most this factor of time per MB at 1 MB: cost grows (at most) linearly.
# Below 1 is fine: a hit's fixed cost weighs less per MB in a larger cell.
TARGET_LINEAR = 1.5

MB = 1_000_000
KB = 1024
SIZE_BUCKETS = (("<=1 KB", 0, 1 * KB), ("1-4 KB", 1 * KB + 1, 4 * KB), ("4-10 KB", 4 * KB + 1, 10 * KB))
SEED = 20240611


@dataclass(frozen=True)
class Config:
    cells: int
    reps: int  # timed passes over the cell mix (default policy)
    scale_reps: int  # timed passes at 100 / 1,000 / 10,000 rules
    big_sizes: tuple[int, ...]
    big_reps: dict[int, int]
    load_reps: int  # default-policy loads
    large_load_reps: int  # 10,000-rule loads
    scale_every: int = 1  # rule scaling runs on every n-th cell of the mix
    big_budget_s: float = 12.0  # stop repeating a large cell once this much time is spent on it


FULL = Config(
    cells=600,
    reps=15,
    scale_reps=5,
    big_sizes=(1 * MB, 10 * MB),
    big_reps={1 * MB: 5, 10 * MB: 3},
    load_reps=20,
    large_load_reps=3,
)
QUICK = Config(
    cells=200,
    reps=3,
    scale_reps=2,
    big_sizes=(1 * MB,),
    big_reps={1 * MB: 1},
    load_reps=3,
    large_load_reps=1,
    scale_every=2,
    big_budget_s=0.0,
)


# --- cell generator -----------------------------------------------------------------------

_COLUMNS = [
    "age",
    "income",
    "region",
    "score",
    "label",
    "price",
    "quantity",
    "timestamp",
    "user_id",
    "category",
    "duration",
    "temperature",
    "rating",
    "clicks",
    "revenue",
    "country",
    "device",
    "session_length",
    "churned",
    "discount",
]
_DATASETS = [
    "sales_2023",
    "titanic",
    "housing",
    "customers",
    "sensor_readings",
    "reviews",
    "transactions",
    "weather_daily",
    "churn",
    "web_logs",
    "energy_use",
    "taxi_trips",
    "loans",
    "survey_results",
]
_MODELS = ["resnet18", "resnet50", "efficientnet_b0", "vit_b_16", "mobilenet_v3_small", "convnext_tiny"]
_HF_MODELS = [
    "bert-base-uncased",
    "distilbert-base-uncased",
    "roberta-base",
    "gpt2",
    "t5-small",
    "sentence-transformers/all-MiniLM-L6-v2",
    "google/flan-t5-base",
    "facebook/bart-large-cnn",
]
_PIP_PACKAGES = [
    "transformers",
    "datasets",
    "accelerate",
    "evaluate",
    "sentencepiece",
    "lightgbm",
    "xgboost",
    "catboost",
    "optuna",
    "wandb",
    "seaborn",
    "plotly",
    "polars",
    "pyarrow",
    "timm",
    "torchmetrics",
    "einops",
    "peft",
    "gradio",
    "opencv-python-headless",
    "albumentations",
    "scikit-image",
    "statsmodels",
    "shap",
    "umap-learn",
    "faiss-cpu",
    "rich",
    "tqdm",
    "kaggle",
    "openpyxl",
]
_APT_PACKAGES = ["ffmpeg", "libsm6", "libxext6", "graphviz", "poppler-utils", "tesseract-ocr", "unzip", "htop"]
_BENIGN_REPOS = [
    "huggingface/transformers",
    "pytorch/examples",
    "ultralytics/yolov5",
    "openai/whisper",
    "facebookresearch/detectron2",
    "karpathy/nanoGPT",
    "tensorflow/models",
    "scikit-learn/scikit-learn",
]
_PROSE = [
    "We use stratified sampling so every region keeps its share of the data.",
    "Data mining on the transaction log surfaces the seasonal pattern described in week 3.",
    "A thread pool speeds up the downloads; the connection pool is capped at eight.",
    "Cracking this problem means normalising the prices before the log transform.",
    "The model is trained for a few epochs only, to keep the GPU free for others.",
    "Note: the hash of each row is used as a stable id when merging the two sources.",
    "Outliers above the 99th percentile are clipped rather than dropped.",
    "This section reproduces figure 2 of the paper with a smaller backbone.",
    "Remember to restart the kernel after installing the new packages.",
    "Cross-validation uses five folds; the random state is fixed for reproducibility.",
    "The learning-rate schedule warms up linearly and then decays with a cosine curve.",
    "We compare the baseline to gradient boosting and report macro F1 on the held-out split.",
    "A torrent of missing values in the sensor data comes from the firmware update in March.",
    "Batch size 64 fits in memory on a T4; use 32 on smaller GPUs.",
    "TODO: replace the hard-coded thresholds with values from the validation set.",
    "Each experiment logs its config and metrics so runs can be compared later.",
]


def _fill(template: str, values: dict[str, Any]) -> str:
    return re.sub(r"<<(\w+)>>", lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


class CellGenerator:
    """Deterministic, realistic notebook cells. Every call draws from one seeded RNG."""

    KINDS: tuple[tuple[str, float, str], ...] = (
        # kind, share of the mix, what it is
        ("pandas", 0.16, "pandas loading / cleaning / aggregation"),
        ("sklearn", 0.11, "scikit-learn pipelines, CV, metrics"),
        ("torch", 0.13, "PyTorch models and training loops"),
        ("matplotlib", 0.11, "plots (half start with %matplotlib inline)"),
        ("pip", 0.10, "!pip / %pip / !apt-get / !wget setup cells"),
        ("bash", 0.06, "%%bash cells"),
        ("comments", 0.08, "prose in comments and docstrings, little code"),
        ("subprocess", 0.07, "benign os.system / subprocess / get_ipython().system"),
        ("prohibited", 0.06, "normal code plus a prohibited tool (xmrig, hashcat, roop ...)"),
        ("obfuscated", 0.06, "prohibited tool hidden: base64/hex/rot13 exec, chr(), reversal, echo|base64 -d"),
        ("script", 0.06, "a whole script pasted in one cell (4-10 KB): #@param forms, subprocess with f-strings"),
    )

    def __init__(self, seed: int = SEED):
        self.rng = random.Random(seed)

    # vocabulary for one block
    def _values(self) -> dict[str, Any]:
        r = self.rng
        c1, c2, c3, c4 = r.sample(_COLUMNS, 4)
        return {
            "c1": c1,
            "c2": c2,
            "c3": c3,
            "c4": c4,
            "ds": r.choice(_DATASETS),
            "ds2": r.choice(_DATASETS),
            "n": r.randint(2, 500),
            "k": r.randint(3, 12),
            "f": round(r.uniform(0.01, 0.99), 3),
            "lr": r.choice(["1e-3", "3e-4", "5e-5", "2e-5", "0.01"]),
            "epochs": r.randint(2, 50),
            "bs": r.choice([16, 32, 64, 128, 256]),
            "model": r.choice(_MODELS),
            "hf": r.choice(_HF_MODELS),
            "seed": r.randint(0, 9999),
            "hidden": r.choice([64, 128, 256, 512, 768]),
            "drop": r.choice([0.1, 0.2, 0.3, 0.5]),
            "var": r.choice(["df", "data", "frame", "train_df", "raw"]),
            "fn": r.choice(["prepare", "clean", "featurize", "summarize", "evaluate", "plot_metrics", "load"]),
            "pkg": " ".join(r.sample(_PIP_PACKAGES, r.randint(1, 4))),
            "pkg1": r.choice(_PIP_PACKAGES),
            "ver": f"{r.randint(0, 4)}.{r.randint(0, 40)}.{r.randint(0, 9)}",
            "apt": " ".join(r.sample(_APT_PACKAGES, 2)),
            "repo": r.choice(_BENIGN_REPOS),
            "prose": r.choice(_PROSE),
            "prose2": r.choice(_PROSE),
            "color": r.choice(["tab:blue", "tab:orange", "steelblue", "crimson", "#336699"]),
            "cmap": r.choice(["viridis", "magma", "coolwarm", "Blues"]),
        }

    def block(self, kind: str) -> str:
        templates = _BLOCKS[kind][1:] if kind == "script" else _BLOCKS[kind]  # its [0] heads the cell
        return _fill(self.rng.choice(templates), self._values())

    def cell(self, kind: str, target: int) -> str:
        """One cell of `kind`, as close to `target` bytes as whole blocks allow (never < 100 B)."""
        r = self.rng
        header: list[str] = []
        special: list[str] = []
        filler_kind = kind
        if kind == "bash":
            header = [
                r.choice(["%%bash", "%%bash", "%%sh", "%%bash -s"])
                + ("\nset -euo pipefail" if r.random() < 0.5 else "")
            ]
        elif kind == "matplotlib" and r.random() < 0.5:
            header = ["%matplotlib inline"]
        if kind in ("pandas", "sklearn", "torch", "matplotlib", "subprocess") and r.random() < 0.5:
            imports = _fill(_BLOCKS[kind][0], self._values())
            if len(imports) + 2 < target:
                header.append(imports)  # the cell starts with its imports
        elif kind == "prohibited":
            filler_kind = r.choice(["pandas", "torch", "sklearn", "pip", "subprocess"])
            special = [_fill(r.choice(_PROHIBITED), self._values())]
        elif kind == "obfuscated":
            filler_kind = r.choice(["pandas", "torch", "sklearn", "subprocess"])
            special = [_obfuscated(r)]
        elif kind == "script":
            header = [_fill(_BLOCKS["script"][0], self._values())]  # the form, then the helper
        parts: list[str] = []
        size = sum(len(p) + 2 for p in header + special)
        misses = 0
        while misses < 12:
            b = self.block(filler_kind)
            if size + len(b) + 2 <= target or size < 102:
                parts.append(b)
                size += len(b) + 2
                misses = 0
            else:
                misses += 1
        for s in special:
            parts.insert(r.randint(0, len(parts)), s)
        return "\n\n".join(header + parts) + "\n"

    def mix(self, n: int) -> list[Cell]:
        """`n` cells: kinds in fixed proportions, sizes log-uniform over 100 B .. 10 KB, shuffled."""
        kinds: list[str] = []
        for kind, share, _ in self.KINDS:
            kinds += [kind] * max(1, round(n * share))
        kinds = kinds[:n]
        self.rng.shuffle(kinds)
        cells = []
        for kind in kinds:
            target = int(math.exp(self.rng.uniform(math.log(100), math.log(10 * KB))))
            if kind == "script":  # 150-250 lines pasted from a repository's README or a Colab
                target = self.rng.randint(4 * KB, 10 * KB - 512)
            code = self.cell(kind, target)
            while len(code.encode()) > 10 * KB:  # a large special block over a large target
                code = self.cell(kind, target - 512)
            cells.append(Cell(kind, code))
        return cells

    def python_bulk(self, size: int, hit_line: str | None = None) -> str:
        """Benign, valid Python of at least `size` bytes; `hit_line` inserted in the middle."""
        parts: list[str] = []
        total = 0
        kinds = ("pandas", "sklearn", "torch", "matplotlib", "comments")
        while total < size:
            b = self.block(self.rng.choice(kinds))
            parts.append(b)
            total += len(b) + 2
        if hit_line is not None:
            parts.insert(len(parts) // 2, hit_line)
        return "\n\n".join(parts) + "\n"


@dataclass(frozen=True)
class Cell:
    kind: str
    code: str

    @property
    def size(self) -> int:
        return len(self.code.encode("utf-8"))


_BAD_KINDS = ("prohibited", "obfuscated")


def _bucket(size: int) -> str:
    for name, lo, hi in SIZE_BUCKETS:
        if lo <= size <= hi:
            return name
    return ">10 KB"


_PROHIBITED = [
    "!git clone https://github.com/xmrig/xmrig",
    "!wget -q https://github.com/xmrig/xmrig/releases/download/v6.21.0/xmrig-6.21.0-linux-static-x64.tar.gz\n"
    "!tar xzf xmrig-6.21.0-linux-static-x64.tar.gz",
    "!./xmrig-6.21.0/xmrig -o pool.supportxmr.com:443 -u 4WalletPlaceholder --tls -t 2",
    "!apt-get -qq install -y hashcat\n!hashcat -m 0 -a 0 hashes.txt rockyou.txt -o cracked.txt",
    "!git clone https://github.com/s0md3v/roop && pip install -q -r roop/requirements.txt",
    "!git clone https://github.com/facefusion/facefusion\n%cd facefusion\n!python install.py --onnxruntime cuda",
    'import subprocess\nminer = subprocess.Popen(["./t-rex", "-a", "kawpow", "-o", '
    '"stratum+tcp://rvn.example.org:6060", "-u", "RWallet.<<seed>>"])',
    "!sudo apt-get install -y qbittorrent-nox\n!qbittorrent-nox --webui-port=8080 &",
    "!git clone https://github.com/MatrixTM/MHDDoS.git && pip install -r MHDDoS/requirements.txt",
    "%cd /content\n!wget -q https://github.com/trexminer/T-Rex/releases/download/0.26.8/t-rex-0.26.8-linux.tar.gz",
    "!aria2c --seed-time=0 'magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567'",
    'import os\nos.system("nohup ./xmrig --donate-level 1 -o gulf.moneroocean.stream:10128 -u WALLET &")',
]
_XMRIG_PAYLOAD = 'import os\nos.system("nohup ./xmrig -o pool.supportxmr.com:443 -u 4WalletPlaceholder -k &")\n'
_SHELL_PAYLOAD = "wget -q https://github.com/xmrig/xmrig/releases/download/v6.21.0/xmrig-6.21.0-linux-static-x64.tar.gz"


def _obfuscated(r: random.Random) -> str:
    choice = r.randrange(7)
    if choice == 0:
        b64 = base64.b64encode(_XMRIG_PAYLOAD.encode()).decode()
        return f'import base64\nexec(base64.b64decode("{b64}").decode())'
    if choice == 1:
        ords = ", ".join(str(ord(c)) for c in "xmrig")
        return f'import os\ncmd = "".join(chr(c) for c in [{ords}])\nos.system("./" + cmd + " -o 203.0.113.7:3333 -u WALLET")'
    if choice == 2:
        return 'import subprocess\ntool = "girmx"[::-1]\nsubprocess.Popen(["./" + tool, "-o", "198.51.100.4:4444", "-u", "WALLET"])'
    if choice == 3:
        return 'import os\nos.system("nohup ./xm" + "rig --donate-level 1 -o 203.0.113.9:3333 &")'
    if choice == 4:
        import codecs

        return f'import codecs\nexec(codecs.decode({codecs.encode(_XMRIG_PAYLOAD, "rot13")!r}, "rot13"))'
    if choice == 5:
        return f'exec(bytes.fromhex("{_XMRIG_PAYLOAD.encode().hex()}").decode())'
    b64 = base64.b64encode(_SHELL_PAYLOAD.encode()).decode()
    return f"!echo {b64} | base64 -d | bash"


_BLOCKS: dict[str, list[str]] = {
    "pandas": [
        'import pandas as pd\nimport numpy as np\n\npd.set_option("display.max_columns", 50)',
        '<<var>> = pd.read_csv("data/<<ds>>.csv", parse_dates=["timestamp"], low_memory=False)\nprint(<<var>>.shape)\n<<var>>.head()',
        '<<var>>["<<c1>>"] = <<var>>["<<c1>>"].fillna(<<var>>["<<c1>>"].median())\n<<var>>["<<c2>>"] = <<var>>["<<c2>>"].fillna("unknown")\n<<var>> = <<var>>.drop_duplicates(subset=["user_id", "timestamp"])',
        'summary = (\n    <<var>>.groupby("<<c1>>")["<<c2>>"]\n    .agg(["mean", "median", "std", "count"])\n    .sort_values("mean", ascending=False)\n)\nsummary.head(<<k>>)',
        'merged = <<var>>.merge(pd.read_parquet("data/<<ds2>>.parquet"), on="<<c3>>", how="left", validate="m:1")\nmissing = merged["<<c4>>"].isna().mean()\nprint(f"{missing:.1%} of rows have no <<c4>> after the join")',
        'def <<fn>>_<<c1>>(s: pd.Series) -> pd.Series:\n    """Normalise <<c1>>: strip, lowercase, map rare values to \'other\'."""\n    s = s.astype(str).str.strip().str.lower()\n    counts = s.value_counts()\n    rare = counts[counts < <<n>>].index\n    return s.where(~s.isin(rare), "other")\n\n\n<<var>>["<<c1>>"] = <<fn>>_<<c1>>(<<var>>["<<c1>>"])',
        '<<var>>["month"] = <<var>>["timestamp"].dt.to_period("M")\n<<var>>["weekday"] = <<var>>["timestamp"].dt.day_name()\nmonthly = <<var>>.pivot_table(index="month", columns="<<c2>>", values="<<c3>>", aggfunc="sum", fill_value=0)\nmonthly.tail(<<k>>)',
        'subset = <<var>>.query("<<c1>> > <<n>> and <<c2>> != \'unknown\'")\nprint("kept %d of %d rows (%.1f%%)" % (len(subset), len(<<var>>), 100 * len(subset) / len(<<var>>)))',
        '# <<prose>>\n<<var>>["<<c3>>_z"] = (<<var>>["<<c3>>"] - <<var>>["<<c3>>"].mean()) / <<var>>["<<c3>>"].std()\n<<var>>["<<c3>>_clipped"] = <<var>>["<<c3>>"].clip(upper=<<var>>["<<c3>>"].quantile(0.99))',
        'corr = <<var>>.select_dtypes("number").corr()\ntop = corr["<<c1>>"].abs().sort_values(ascending=False)[1:<<k>>]\nfor name, value in top.items():\n    print(f"{name:>20s}  {value:+.3f}")',
        '<<var>>.to_parquet("outputs/<<ds>>_clean.parquet", index=False)\n<<var>>.info(memory_usage="deep")',
        'counts = <<var>>["<<c2>>"].value_counts(normalize=True).round(3)\nlabels = {k: v for k, v in counts.items() if v > <<f>> / 10}\nlabels',
        'with open("data/<<ds>>_meta.json") as fh:\n    meta = json.load(fh)\ncolumns = [c for c in meta["columns"] if c not in ("<<c1>>", "<<c2>>")]\n<<var>> = <<var>>[columns]',
    ],
    "sklearn": [
        "from sklearn.model_selection import train_test_split, cross_val_score, GridSearchCV\n"
        "from sklearn.pipeline import Pipeline\nfrom sklearn.compose import ColumnTransformer\n"
        "from sklearn.preprocessing import StandardScaler, OneHotEncoder\nfrom sklearn.ensemble import RandomForestClassifier",
        'X = <<var>>.drop(columns=["<<c1>>"])\ny = <<var>>["<<c1>>"]\nX_train, X_test, y_train, y_test = train_test_split(X, y, test_size=<<f>>, stratify=y, random_state=<<seed>>)',
        'numeric = ["<<c2>>", "<<c3>>"]\ncategorical = ["<<c4>>"]\npre = ColumnTransformer([\n    ("num", StandardScaler(), numeric),\n    ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),\n])\nclf = Pipeline([("pre", pre), ("model", RandomForestClassifier(n_estimators=<<n>>, n_jobs=-1, random_state=<<seed>>))])',
        'grid = GridSearchCV(clf, {"model__max_depth": [None, 5, 10], "model__min_samples_leaf": [1, 3, 5]}, cv=<<k>>, scoring="f1_macro", n_jobs=-1)\ngrid.fit(X_train, y_train)\nprint(grid.best_params_, round(grid.best_score_, 4))',
        'from sklearn.metrics import classification_report, confusion_matrix, roc_auc_score\n\npred = grid.predict(X_test)\nprint(classification_report(y_test, pred, digits=3))\nprint("AUC: %.3f" % roc_auc_score(y_test, grid.predict_proba(X_test)[:, 1]))',
        'models = {\n    "logreg": LogisticRegression(max_iter=<<n>>),\n    "forest": RandomForestClassifier(n_estimators=<<n>>),\n    "boosting": GradientBoostingClassifier(learning_rate=<<f>>),\n}\nfor name, model in models.items():\n    scores = cross_val_score(model, X_train, y_train, cv=<<k>>, scoring="accuracy")\n    print(f"{name:10s} {scores.mean():.3f} +/- {scores.std():.3f}")',
        'importances = pd.Series(grid.best_estimator_["model"].feature_importances_, index=grid.best_estimator_["pre"].get_feature_names_out())\nimportances.sort_values(ascending=False).head(<<k>>)',
        "# <<prose>>\nfrom sklearn.decomposition import PCA\npca = PCA(n_components=<<k>>, random_state=<<seed>>)\nZ = pca.fit_transform(StandardScaler().fit_transform(X_train[numeric]))\nprint(pca.explained_variance_ratio_.cumsum())",
        'import joblib\njoblib.dump(grid.best_estimator_, "outputs/<<ds>>_model.joblib")\nloaded = joblib.load("outputs/<<ds>>_model.joblib")\nassert (loaded.predict(X_test) == pred).all()',
    ],
    "torch": [
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom torch.utils.data import DataLoader, Dataset\n\n"
        'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")\ntorch.manual_seed(<<seed>>)',
        'class <<ds>>Dataset(Dataset):\n    def __init__(self, frame, target="<<c1>>"):\n        self.x = torch.tensor(frame.drop(columns=[target]).values, dtype=torch.float32)\n        self.y = torch.tensor(frame[target].values, dtype=torch.long)\n\n    def __len__(self):\n        return len(self.y)\n\n    def __getitem__(self, i):\n        return self.x[i], self.y[i]',
        "class MLP(nn.Module):\n    def __init__(self, d_in, d_hidden=<<hidden>>, n_classes=<<k>>, p=<<drop>>):\n        super().__init__()\n        self.net = nn.Sequential(\n            nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Dropout(p),\n            nn.Linear(d_hidden, d_hidden), nn.ReLU(), nn.Dropout(p),\n            nn.Linear(d_hidden, n_classes),\n        )\n\n    def forward(self, x):\n        return self.net(x)",
        "model = MLP(d_in=X_train.shape[1]).to(device)\noptimizer = torch.optim.AdamW(model.parameters(), lr=<<lr>>, weight_decay=0.01)\nscheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=<<epochs>>)\ntrain_loader = DataLoader(train_ds, batch_size=<<bs>>, shuffle=True, num_workers=2)",
        "def train_one_epoch(model, loader):\n    model.train()\n    total = 0.0\n    for xb, yb in loader:\n        xb, yb = xb.to(device), yb.to(device)\n        optimizer.zero_grad()\n        loss = F.cross_entropy(model(xb), yb)\n        loss.backward()\n        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n        optimizer.step()\n        total += loss.item() * len(xb)\n    return total / len(loader.dataset)",
        "@torch.no_grad()\ndef evaluate(model, loader):\n    model.eval()\n    correct = n = 0\n    for xb, yb in loader:\n        logits = model(xb.to(device))\n        correct += (logits.argmax(1).cpu() == yb).sum().item()\n        n += len(yb)\n    return correct / n",
        'history = []\nfor epoch in range(<<epochs>>):\n    loss = train_one_epoch(model, train_loader)\n    acc = evaluate(model, val_loader)\n    scheduler.step()\n    history.append({"epoch": epoch, "loss": loss, "acc": acc})\n    print(f"epoch {epoch:3d}  loss {loss:.4f}  val acc {acc:.3f}")',
        'import torchvision\nbackbone = torchvision.models.<<model>>(weights="DEFAULT")\nfor p in backbone.parameters():\n    p.requires_grad = False\nbackbone.fc = nn.Linear(backbone.fc.in_features, <<k>>)\nbackbone = backbone.to(device)',
        'torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": <<epochs>>}, "checkpoints/<<ds>>_mlp.pt")\nckpt = torch.load("checkpoints/<<ds>>_mlp.pt", map_location=device)\nmodel.load_state_dict(ckpt["model"])',
        'from transformers import AutoTokenizer, AutoModelForSequenceClassification\ntokenizer = AutoTokenizer.from_pretrained("<<hf>>")\nclf = AutoModelForSequenceClassification.from_pretrained("<<hf>>", num_labels=<<k>>).to(device)\nbatch = tokenizer(texts[:<<bs>>], padding=True, truncation=True, return_tensors="pt").to(device)',
        '# <<prose>>\nprint(torch.cuda.memory_allocated() / 2**20, "MiB allocated")\ntorch.cuda.empty_cache()',
    ],
    "matplotlib": [
        'import matplotlib.pyplot as plt\nimport seaborn as sns\n\nsns.set_theme(style="whitegrid")\nplt.rcParams["figure.dpi"] = 110',
        'fig, ax = plt.subplots(figsize=(<<k>>, 4))\nax.hist(<<var>>["<<c1>>"].dropna(), bins=<<n>>, color="<<color>>", alpha=0.8)\nax.set_xlabel("<<c1>>")\nax.set_ylabel("count")\nax.set_title("Distribution of <<c1>>")\nplt.show()',
        'fig, axes = plt.subplots(2, 2, figsize=(10, 8), sharex=True)\nfor ax, col in zip(axes.flat, ["<<c1>>", "<<c2>>", "<<c3>>", "<<c4>>"]):\n    <<var>>.groupby("month")[col].mean().plot(ax=ax, marker="o")\n    ax.set_title(col)\nfig.tight_layout()',
        'plt.figure(figsize=(8, 6))\nsns.heatmap(<<var>>.select_dtypes("number").corr(), cmap="<<cmap>>", annot=True, fmt=".2f", vmin=-1, vmax=1)\nplt.title("Correlation matrix")\nplt.savefig("figures/<<ds>>_corr.png", bbox_inches="tight")',
        'ax = sns.boxplot(data=<<var>>, x="<<c2>>", y="<<c3>>", showfliers=False)\nax.set_yscale("log")\nax.tick_params(axis="x", rotation=45)\nplt.show()',
        'epochs = [h["epoch"] for h in history]\nplt.plot(epochs, [h["loss"] for h in history], label="train loss")\nplt.plot(epochs, [h["acc"] for h in history], label="val acc")\nplt.legend()\nplt.xlabel("epoch")\nplt.show()',
        '# <<prose>>\nsns.pairplot(<<var>>.sample(<<n>>, random_state=<<seed>>), vars=["<<c1>>", "<<c2>>", "<<c3>>"], hue="<<c4>>")',
    ],
    "pip": [
        "!pip install -q <<pkg>>",
        "%pip install <<pkg1>>==<<ver>>",
        "!pip install -q -U <<pkg>> --extra-index-url https://download.pytorch.org/whl/cu121",
        "!pip install -r requirements.txt",
        "!apt-get -qq update && apt-get -qq install -y <<apt>>",
        "!nvidia-smi",
        "!wget -q https://example.org/datasets/<<ds>>.zip -O data.zip && unzip -q -o data.zip -d data/",
        "!ls -lh data/ | head -n <<k>>",
        "!git clone --depth 1 https://github.com/<<repo>>.git",
        "!kaggle datasets download -d someuser/<<ds>> -p data/ --unzip",
        "import transformers, datasets\nprint(transformers.__version__, datasets.__version__)",
        "import sys\nprint(sys.version)\n# <<prose>>",
        "!curl -sSL https://example.org/files/<<ds>>.csv -o data/<<ds>>.csv",
    ],
    "bash": [
        "mkdir -p data outputs checkpoints\ncd data",
        "wget -q https://example.org/datasets/<<ds>>.tar.gz\ntar xzf <<ds>>.tar.gz && rm <<ds>>.tar.gz",
        'for f in data/*.csv; do\n    echo "== $f"\n    wc -l "$f"\n    head -n 2 "$f"\ndone',
        "python train.py --epochs <<epochs>> --lr <<lr>> --batch-size <<bs>> --seed <<seed>> --out outputs/run_<<seed>>",
        "pip install -q <<pkg>>",
        "git clone --depth 1 https://github.com/<<repo>>.git && cd $(basename <<repo>>) && git log -1 --oneline",
        "nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv",
        "du -sh data/* | sort -h | tail -n <<k>>",
        'find . -name "*.pyc" -delete\nfind outputs -name "*.log" -mtime +7 -print',
        "export CUDA_VISIBLE_DEVICES=0\nexport TOKENIZERS_PARALLELISM=false",
        "sed -i 's/batch_size: 32/batch_size: <<bs>>/' config.yaml\ngrep -n batch_size config.yaml",
        '# <<prose>>\necho "run finished at $(date)" >> outputs/runs.log',
        "cat outputs/metrics.json | python -m json.tool | head -n 20",
    ],
    "comments": [
        "# <<prose>>\n# <<prose2>>",
        '"""\n<<prose>>\n\n<<prose2>>\n"""',
        "# ## Results\n#\n# <<prose>>\n# The table below lists macro F1 per fold; fold <<k>> is the outlier.\nresults",
        "# <<prose>>\nthreshold = <<f>>  # <<prose2>>",
        "# ---------------------------------------------------------------\n# <<prose>>\n# ---------------------------------------------------------------",
        'def note():\n    """<<prose>>\n\n    <<prose2>>\n    """\n    return None',
    ],
    "script": [
        '#@title Settings { display-mode: "form" }\nimport glob\nimport os\nimport subprocess\nimport sys\n\n'
        'input_dir = "/content/drive/MyDrive/<<ds>>"  #@param {type:"string"}\n'
        'output_dir = "/content/outputs/<<ds>>"  #@param {type:"string"}\n'
        'resolution = <<hidden>>  #@param [256, 512, 768] {type:"raw"}\n'
        'batch_size = <<bs>>  #@param {type:"integer"}\n'
        'model_name = "<<model>>"  #@param ["resnet18", "resnet50", "vit_b_16"]\n'
        'use_fp16 = True  #@param {type:"boolean"}\n\n'
        "def run(cmd, check=True):\n"
        '    print(">>", cmd)\n'
        "    p = subprocess.run(cmd, shell=True, capture_output=True, text=True)\n"
        "    if check and p.returncode != 0:\n"
        "        print(p.stderr[-2000:])\n"
        '        raise RuntimeError(f"command failed ({p.returncode}): {cmd}")\n'
        "    return p.stdout",
        'if not os.path.exists("<<fn>>_repo"):\n    run("git clone --depth 1 https://github.com/<<repo>>.git <<fn>>_repo")\n'
        'os.chdir("<<fn>>_repo")\nrun("pip install -q -r requirements.txt")',
        'os.makedirs(output_dir, exist_ok=True)\nrun(f"ffmpeg -y -loglevel error -i {input_dir}/clip.mp4 -vf '
        'scale={resolution}:-2 -r 25 {output_dir}/frame_%05d.png")',
        'frames = sorted(glob.glob(f"{output_dir}/frame_*.png"))\nprint(f"{len(frames)} frames at {resolution}px")\n'
        "for i in range(0, len(frames), batch_size):\n    chunk = frames[i : i + batch_size]\n"
        "    run(f\"python tools/infer.py --model {model_name} --size {resolution} --inputs {' '.join(chunk)}"
        ' --out {output_dir}/pred_{i:05d}.json" + (" --fp16" if use_fp16 else ""))',
        'run(f"{sys.executable} -m pip install -q <<pkg1>>=={<<k>>}.{<<n>>}.0", check=False)',
        "# <<prose>>\n# <<prose2>>\nsteps = <<epochs>> * <<n>>\nwarmup = steps // <<k>>\n"
        'run(f"python train.py --config configs/<<ds>>.yaml --steps {steps} --warmup {warmup} --lr <<lr>> '
        '--seed <<seed>> --out {output_dir}/ckpt")',
        'if use_fp16:\n    os.environ["ACCELERATE_MIXED_PRECISION"] = "fp16"\n'
        'log = run(f"python evaluate.py --ckpt {output_dir}/ckpt/last.pt --split val --batch-size {batch_size}")\n'
        'metrics = dict(line.split("=", 1) for line in log.splitlines() if "=" in line)\nprint(metrics)',
        'run(f"zip -qr /content/<<ds>>_results.zip {output_dir}")\n'
        'print("done: download /content/<<ds>>_results.zip from the Files panel")',
        "def <<fn>>_summary(path):\n"
        '    """<<prose>>"""\n'
        '    rows = [l.strip().split(",") for l in open(path) if l.strip()]\n'
        "    header, body = rows[0], rows[1:]\n"
        "    return {h: sum(float(r[j]) for r in body) / max(1, len(body)) for j, h in enumerate(header) if j}\n\n"
        'print(<<fn>>_summary(f"{output_dir}/metrics.csv"))',
        'run(f"nvidia-smi --query-gpu=name,memory.used --format=csv,noheader", check=False)\n'
        'run(f"du -sh {output_dir}", check=False)',
    ],
    "subprocess": [
        "import os\nimport subprocess",
        'out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout\nprint(out.strip())',
        'os.system("unzip -q -o data/<<ds>>.zip -d data/<<ds>>")',
        'os.makedirs("outputs/<<ds>>", exist_ok=True)\nos.environ["WANDB_MODE"] = "offline"',
        'subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "<<pkg1>>"])',
        'get_ipython().system("ls -la data/")',
        'result = subprocess.run("git rev-parse --short HEAD", shell=True, capture_output=True, text=True)\nprint("commit", result.stdout.strip())',
        'files = sorted(os.listdir("data"))\nprint(len(files), "files;", ", ".join(files[:<<k>>]))',
    ],
}


# --- synthetic policies -------------------------------------------------------------------

_SYLLABLES = [
    "kra",
    "vel",
    "zor",
    "nix",
    "tal",
    "mor",
    "qua",
    "dri",
    "fen",
    "lox",
    "bar",
    "tum",
    "zep",
    "ork",
    "vin",
    "gal",
    "rho",
    "pex",
    "dun",
    "sil",
    "wex",
    "cy",
    "jor",
    "plu",
    "ska",
    "thu",
]
_SUFFIXES = ["x", "z", "q", "rig", "miner", "crack", "swap", "ddos", "bt", "hash", "bot", "fuzz"]
_TLDS = ["net", "io", "org", "com", "xyz", "pro"]


def _tool_name(r: random.Random) -> str:
    name = "".join(r.choice(_SYLLABLES) for _ in range(r.choice((2, 3))))
    sep = r.choice(("", "", "-", "_"))
    return f"{name}{sep}{r.choice(_SUFFIXES)}{r.choice(('', '', str(r.randint(2, 9))))}"


def _synthetic_rule(i: int) -> tuple[str, Counter[str]]:
    """Rule number `i` (the same whatever the policy size: small policies are prefixes)."""
    r = random.Random(SEED * 1_000_003 + i)
    name = _tool_name(r)
    owner = _tool_name(r).replace("_", "-")
    host = name.replace("_", "-")
    kinds: Counter[str] = Counter()
    lines: list[str] = []
    tests: list[str] = []
    glob = r.random() < 0.10
    primary = r.choices(["repo", "package", "command", "domain", "literal", "url"], [30, 22, 22, 14, 9, 3])[0]
    extra = r.sample(["repo", "package", "command", "domain", "literal"], r.choice((0, 0, 1, 1, 2)))
    for kind in [primary] + [k for k in extra if k != primary]:
        if kind == "repo":
            lines.append(f'      - repo: "*/{name}*"' if glob else f'      - repo: "{owner}/{name}"')
            tests.append(f'"!git clone https://github.com/{owner}/{name}"')
            kinds["repo-glob" if glob else "repo"] += 1
        elif kind == "package":
            if glob:
                lines.append(f'      - package: {{name: "{name}*", via: [pip, apt, conda]}}')
            elif r.random() < 0.5:
                lines.append(f"      - package: {{name: {name}, via: [pip, import]}}")
            else:
                lines.append(f"      - package: {name}")
            tests.append(f'"!pip install {name}"')
            kinds["package-glob" if glob else "package"] += 1
        elif kind == "command":
            if glob:
                lines.append(f'      - command: "{name}*"')
                kinds["command-glob"] += 1
            elif r.random() < 0.15:
                lines.append(f"      - command: {{name: {name}, args: '(^|\\s)--(pool|wallet|target|threads)\\b'}}")
                kinds["command+args"] += 1
            else:
                lines.append(f"      - command: {name}")
                kinds["command"] += 1
            tests.append(f'"!./{name} --pool example.org:3333 --threads 4"')
        elif kind == "domain":
            lines.append(f"      - domain: {r.choice(('pool.', 'api.', 'dl.', ''))}{host}.{r.choice(_TLDS)}")
            tests.append(f'"!curl -s https://{host}.{_TLDS[0]}/install.sh | sh"')
            kinds["domain"] += 1
        elif kind == "literal":
            lines.append(f'      - literal: "{name}{r.choice(("_config.json", ".exe", "_weights.onnx", ".pl"))}"')
            tests.append(f'"!python {name}.py --target example.org"')
            kinds["literal"] += 1
        elif kind == "url":
            lines.append(f'      - url: "https://dl.{host}.{r.choice(_TLDS)}/*"')
            tests.append(f'"!wget https://dl.{host}.net/latest.tgz"')
            kinds["url"] += 1
    if i % 33 == 7:  # a few hundred regexes at 10,000 rules
        esc = re.escape(name)
        pattern = r.choice(
            [
                rf"(?i)\b{esc}-v?[0-9][0-9.]*-(linux|x64|amd64)[a-z0-9_.-]*\.(tar\.gz|tgz|zip)\b",
                rf"\b{esc}\s+--(pool|wallet|algo|target)\b",
                rf"(?i)\b{esc}\.(Anonymous|User|Token)\s*\(",
                rf"\b{esc}_(cuda|opencl|cpu)[0-9]*\b",
            ]
        )
        lines.append(f"      - regex: '{pattern}'")
        kinds["regex"] += 1
    body = "\n".join(lines)
    text = (
        f"  - id: synth.r{i:05d}\n"
        f"    category: synthetic-{i % 17}\n"
        f"    title: Synthetic tool {name}\n"
        f"    severity: {r.choice(('low', 'medium', 'high', 'critical'))}\n"
        f"    action: {r.choice(('log', 'warn', 'block', 'block'))}\n"
        f"    message: >-\n      Synthetic benchmark rule {i}: {name} is not allowed on this service.\n"
        f"    match:\n{body}\n"
        f"    tests:\n      flag:\n        - {tests[0]}\n"
    )
    return text, kinds


@functools.lru_cache(maxsize=4)
def synthetic_policy(n_rules: int) -> tuple[str, Counter[str]]:
    """YAML text of a policy with `n_rules` synthetic rules, and its matcher mix."""
    parts = [f"version: 1\nname: synthetic {n_rules}-rule benchmark policy\nrules:\n"]
    kinds: Counter[str] = Counter()
    for i in range(n_rules):
        text, k = _synthetic_rule(i)
        parts.append(text)
        kinds.update(k)
    return "".join(parts), kinds


# --- measuring ----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def time_cells(engine: Engine, cells: Sequence[Cell], reps: int, seed: int = SEED) -> list[list[float]]:
    """Seconds per evaluation: one list per cell, `reps` samples each (cells shuffled per pass)."""
    evaluate = engine.evaluate
    for c in cells:  # warm up: every code path, every lazily built structure
        evaluate(c.code)
    samples: list[list[float]] = [[] for _ in cells]
    order = list(range(len(cells)))
    rng = random.Random(seed)
    perf = time.perf_counter
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(reps):
            rng.shuffle(order)
            for i in order:
                code = cells[i].code
                t0 = perf()
                evaluate(code)
                t1 = perf()
                samples[i].append(t1 - t0)
            gc.collect()  # outside the timed calls
    finally:
        if was_enabled:
            gc.enable()
    return samples


def time_call(
    fn: Callable[[], Any], reps: int, warmup: int = 1, gc_off: bool = True, budget_s: float = math.inf
) -> tuple[list[float], Any]:
    """Seconds per call (at least one call; no more once `budget_s` is spent). Loads pass
    gc_off=False: building a policy allocates millions of objects, and the collector's passes
    over them are part of what a server pays."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    gc.collect()
    was_enabled = gc.isenabled()
    if gc_off:
        gc.disable()
    try:
        for _ in range(reps):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
            gc.collect()
            if sum(times) > budget_s:
                break
    finally:
        if was_enabled:
            gc.enable()
    return times, result


def _cold(load: Callable[..., Any], *args: Any) -> Any:
    """A load as the first one: the loader keeps compiled patterns for the next reload."""
    compile_re2.cache_clear()
    return load(*args)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.3f} ms"


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return f"{os.cpu_count()} CPUs"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


class _Report:
    def __init__(self) -> None:
        self.targets: list[tuple[str, bool, str]] = []

    def target(self, what: str, ok: bool, detail: str) -> str:
        self.targets.append((what, ok, detail))
        return f"[target {what}: {_mark(ok)}]"


def _section(title: str) -> None:
    print()
    print(f"== {title} " + "=" * max(0, 86 - len(title)))


def _latency_table(rows: list[tuple[str, list[float], str]]) -> None:
    print(f"  {'':24s} {'samples':>8s} {'p50':>11s} {'p99':>11s} {'max':>11s}")
    for label, flat, extra in rows:
        if not flat:
            continue
        print(
            f"  {label:24s} {len(flat):8d} {_ms(percentile(flat, 50))} {_ms(percentile(flat, 99))} {_ms(max(flat))}  {extra}"
        )


def _deep(engine: Engine, code: str) -> bool | None:
    """Whether `engine` sends `code` past its prefilter (the deep path); None if the engine
    cannot say."""
    needs = getattr(engine, "needs_analysis", None)
    if needs is None:
        return None
    try:
        return bool(needs(code))
    except Exception:
        return None


# --- sections -----------------------------------------------------------------------------


def bench_default_load(cfg: Config, report: _Report) -> Engine:
    _section("default policy: load")
    load_times, policy = time_call(lambda: _cold(load_policy), cfg.load_reps, gc_off=False)
    compile_times, engine = time_call(lambda: Engine(policy), cfg.load_reps, gc_off=False)
    kinds = Counter(m.kind for r in policy.rules for m in r.matchers)
    print(
        f"  {len(policy.rules)} rules, {sum(kinds.values())} matchers ({', '.join(f'{k} {v}' for k, v in kinds.most_common())})"
    )
    print(
        f"  load (read + YAML + validate) {_ms(statistics.median(load_times))}   "
        f"Engine compile {_ms(statistics.median(compile_times))}   (median of {cfg.load_reps}, gc enabled)"
    )
    return engine


def describe_mix(engine: Engine, cells: Sequence[Cell]) -> None:
    _section(f"cell mix: {len(cells)} cells, deterministic (seed {SEED})")
    by_kind: dict[str, list[Cell]] = {}
    for c in cells:
        by_kind.setdefault(c.kind, []).append(c)
    what = {k: d for k, _, d in CellGenerator.KINDS}
    print(
        f"  {'kind':12s} {'cells':>5s} {'min B':>6s} {'mean B':>7s} {'max B':>6s} {'deep':>5s} {'flagged':>8s}  description"
    )
    for kind, _, _ in CellGenerator.KINDS:
        cs = by_kind.get(kind, [])
        if not cs:
            continue
        sizes = [c.size for c in cs]
        flags = [_deep(engine, c.code) for c in cs]
        deep = "-" if None in flags else str(sum(bool(f) for f in flags))
        flagged = sum(engine.evaluate(c.code).action > Action.ALLOW for c in cs)
        print(
            f"  {kind:12s} {len(cs):5d} {min(sizes):6d} {statistics.mean(sizes):7.0f} {max(sizes):6d} "
            f"{deep:>5s} {flagged:4d}/{len(cs):<3d}  {what[kind]}"
        )
    buckets = Counter(_bucket(c.size) for c in cells)
    sizes = [c.size for c in cells]
    print(
        f"  sizes: {min(sizes)} B .. {max(sizes)} B, median {statistics.median(sizes):.0f} B; "
        + ", ".join(f"{name} {buckets[name]}" for name, _, _ in SIZE_BUCKETS)
    )
    print("  deep = cells the prefilter sends to full analysis; flagged = verdict log/warn/block")


def bench_latency(engine: Engine, cells: Sequence[Cell], cfg: Config, report: _Report) -> list[list[float]]:
    _section(f"per-cell latency, default policy ({cfg.reps} passes x {len(cells)} cells, shuffled)")
    samples = time_cells(engine, cells, cfg.reps)
    flat = [s for per in samples for s in per]
    p99 = percentile(flat, 99)
    rows = [("all cells", flat, report.target("p99 <= 1 ms", p99 * 1000 <= TARGET_P99_MS, f"p99 {p99 * 1000:.3f} ms"))]
    for name, lo, hi in SIZE_BUCKETS:
        b = [s for c, per in zip(cells, samples, strict=True) if lo <= c.size <= hi for s in per]
        if b:
            rows.append((f"size {name}", b, f"p99 {_mark(percentile(b, 99) * 1000 <= TARGET_P99_MS)}"))
    rows.append(
        (
            "benign kinds only",
            [s for c, per in zip(cells, samples, strict=True) if c.kind not in _BAD_KINDS for s in per],
            "(all but prohibited/obfuscated)",
        )
    )
    deep_flags = [_deep(engine, c.code) for c in cells]
    if None not in deep_flags:
        rows.append(
            ("prefilter fast path", [s for d, per in zip(deep_flags, samples, strict=True) if not d for s in per], "")
        )
        rows.append(("deep path", [s for d, per in zip(deep_flags, samples, strict=True) if d for s in per], ""))
    for kind, _, _ in CellGenerator.KINDS:
        rows.append(
            (f"kind {kind}", [s for c, per in zip(cells, samples, strict=True) if c.kind == kind for s in per], "")
        )
    _latency_table(rows)
    worst = sorted(range(len(cells)), key=lambda i: -statistics.median(samples[i]))[:5]
    print("  slowest cells (median of their samples):")
    for i in worst:
        c = cells[i]
        first = c.code.strip().splitlines()[0][:60]
        print(f"    {_ms(statistics.median(samples[i]))}  {c.kind:11s} {c.size:6d} B  {first!r}")
    return samples


def bench_throughput(engine: Engine, cfg: Config, report: _Report) -> None:
    _section("throughput on large cells")
    hit = "!git clone https://github.com/xmrig/xmrig"
    rows = []
    per_mb: dict[tuple[str, int], float] = {}
    for size in cfg.big_sizes:
        gen = CellGenerator(SEED + size)
        benign = gen.python_bulk(size)
        with_hit = (
            benign[: len(benign) // 2].rsplit("\n\n", 1)[0]
            + "\n\n"
            + hit
            + "\n\n"
            + benign[len(benign) // 2 :].split("\n\n", 1)[-1]
        )
        for label, code in (("benign", benign), ("one prohibited line", with_hit)):
            reps = cfg.big_reps[size]
            # the cell mix already warmed every code path up; a warm-up call here would only
            # double the cost of the slowest measurement
            times, verdict = time_call(
                functools.partial(engine.evaluate, code), reps, warmup=0, budget_s=cfg.big_budget_s
            )
            reps = len(times)
            t = statistics.median(times)
            mb = len(code.encode()) / MB
            rate = mb / t
            per_mb[(label, size)] = t / mb
            deep_path = _deep(engine, code)
            path = "?" if deep_path is None else "deep" if deep_path else "fast"
            rows.append((label, size, mb, t, rate, path, verdict.action.label, reps))
    print(f"  {'cell':22s} {'size':>8s} {'time':>11s} {'MB/s':>8s} {'ms per MB':>10s} {'path':>5s} {'verdict':>8s}")
    worst = math.inf
    for label, _size, mb, t, rate, path, action, reps in rows:
        worst = min(worst, rate)
        print(
            f"  {label:22s} {mb:6.2f}MB {_ms(t)} {rate:8.1f} {t / mb * 1000:10.1f} {path:>5s} {action:>8s}"
            f"  {_mark(rate >= TARGET_MB_S)} (median of {reps})"
        )
    print(f"  {report.target('>= 20 MB/s on large cells', worst >= TARGET_MB_S, f'slowest {worst:.1f} MB/s')}")
    if 10 * MB in cfg.big_sizes:
        for label in ("benign", "one prohibited line"):
            ratio = per_mb[(label, 10 * MB)] / per_mb[(label, MB)]
            ok = ratio <= TARGET_LINEAR
            print(
                f"  linear growth, {label}: ms/MB at 10 MB / ms/MB at 1 MB = {ratio:.2f} "
                f"{report.target(f'linear ({label})', ok, f'{ratio:.2f}')}"
            )
    else:
        print("  (10 MB cells skipped in --quick mode; linearity not checked)")


def _policy_texts(n_rules: int, n_default: int) -> list[tuple[str, str]]:
    """The default policy, plus synthetic rules up to `n_rules` in all (none when the default
    alone has that many)."""
    extra = n_rules - n_default
    if extra <= 0:
        return default_policy_texts()
    text, _ = synthetic_policy(extra)
    return default_policy_texts() + [(f"<synthetic-{n_rules}>", text)]


def bench_large_load(cfg: Config, report: _Report) -> None:
    _section("synthetic 10,000-rule policy: load")
    t0 = time.perf_counter()
    text, kinds = synthetic_policy(10_000)
    gen_s = time.perf_counter() - t0
    print(
        f"  {len(text) / KB:.0f} KB of YAML, {sum(kinds.values())} matchers: "
        + ", ".join(f"{k} {v}" for k, v in kinds.most_common())
        + f" (generated in {gen_s * 1000:.0f} ms)"
    )
    load_times, policy = time_call(
        lambda: _cold(load_texts, [("<synthetic-10000>", text)]), cfg.large_load_reps, warmup=0, gc_off=False
    )
    compile_times, _ = time_call(lambda: Engine(policy), cfg.large_load_reps, warmup=0, gc_off=False)
    load_s, compile_s = statistics.median(load_times), statistics.median(compile_times)
    total = load_s + compile_s
    print(
        f"  {len(policy.rules)} rules: load_texts {load_s:.3f} s + Engine compile {compile_s:.3f} s = {total:.3f} s"
        f"  (median of {cfg.large_load_reps}; gc enabled, as in a server)"
    )
    print(f"  {report.target('10,000 rules load <= 2 s', total <= TARGET_LOAD_S, f'{total:.3f} s')}")


def bench_rule_scaling(cells: Sequence[Cell], n_default: int, cfg: Config, report: _Report) -> None:
    cells = cells[:: cfg.scale_every]
    _section(
        f"per-cell latency vs rule count (default {n_default} rules + synthetic; {cfg.scale_reps} passes x {len(cells)} cells)"
    )
    base: tuple[float, float] | None = None
    print(
        f"  {'rules':>7s} {'build':>9s} {'p50':>11s} {'p99':>11s} {'fast p50':>11s} {'deep p50':>11s} {'deep p99':>11s}"
        f" {'p50 x':>6s} {'p99 x':>6s}"
    )
    last = (1.0, 1.0)
    for n in (max(100, n_default), 1_000, 10_000):
        texts = _policy_texts(n, n_default)
        t0 = time.perf_counter()
        engine = Engine(load_texts(texts))
        build = time.perf_counter() - t0
        samples = time_cells(engine, cells, cfg.scale_reps)
        flat = [s for per in samples for s in per]
        deep_flags = [_deep(engine, c.code) for c in cells]
        known = None not in deep_flags
        fast = [s for d, per in zip(deep_flags, samples, strict=True) if known and not d for s in per]
        deep = [s for d, per in zip(deep_flags, samples, strict=True) if known and d for s in per]
        p50, p99 = percentile(flat, 50), percentile(flat, 99)
        if base is None:
            base = (p50, p99)
        last = (p50 / base[0], p99 / base[1])
        print(
            f"  {len(engine.policy.rules):7d} {build:7.2f} s {_ms(p50)} {_ms(p99)} {_ms(percentile(fast, 50))} "
            f"{_ms(percentile(deep, 50))} {_ms(percentile(deep, 99))} {last[0]:6.2f} {last[1]:6.2f}"
            f"  ({sum(bool(d) for d in deep_flags) if known else '?'} deep cells)"
        )
        del engine
        gc.collect()
    worst = max(last)
    print(
        f"  100x the rules -> {last[0]:.2f}x p50, {last[1]:.2f}x p99 "
        f"{report.target('cost grows far slower than rules (<= 2x at 100x)', worst <= TARGET_RULE_GROWTH, f'{worst:.2f}x')}"
    )


def real_modules(lo: int = 2_000, hi: int = 10_000) -> list[str]:
    """Whole-file shapes of real code: the Python modules of lo..hi bytes that this
    installation's own dependencies ship (IPython, tornado, jupyter_server, traitlets,
    jupyter_client), as a script pasted into one cell would read. Nothing is fetched."""
    import importlib.util

    out = []
    for package in ("IPython", "tornado", "jupyter_server", "traitlets", "jupyter_client"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            for path in sorted(Path(root).rglob("*.py")):
                if lo <= path.stat().st_size <= hi:
                    out.append(path.read_text(encoding="utf-8", errors="replace"))
    return out


def bench_real_modules(engine: Engine, cfg: Config) -> None:
    modules = real_modules()
    _section(f"real code: {len(modules)} installed Python modules of 2-10 KB, each as one cell")
    if not modules:
        print("  (none found)")
        return
    samples = time_cells(engine, [Cell("module", code) for code in modules], max(3, cfg.reps // 3))
    whole = Engine(engine.policy, focus=False)
    plain = time_cells(whole, [Cell("module", code) for code in modules], max(3, cfg.reps // 3))
    _latency_table(
        [
            ("as the engine reads them", [x for per in samples for x in per], ""),
            ("every one read whole", [x for per in plain for x in per], "(the reference)"),
        ]
    )


def bench_memory(cells: Sequence[Cell], cfg: Config) -> None:
    """What remembering earlier cells costs: the guard's check of the mix run in order as one
    notebook, with `remember_cells` on and off, interleaved pass by pass."""
    import logging
    import tempfile

    from ..config import TosGuard
    from ..guard import Guard, Request

    _section(f"cells in sequence: the guard with and without memory ({cfg.reps} passes x {len(cells)} cells)")
    with tempfile.TemporaryDirectory() as tmp:
        guards = {
            on: Guard(TosGuard(audit_log=f"{tmp}/a{on}.jsonl", remember_cells=on), logging.getLogger("bench"))
            for on in (False, True)
        }
        samples: dict[bool, list[float]] = {False: [], True: []}
        after: list[float] = []  # reading what a cell assigned, done once it is on its way
        perf = time.perf_counter
        for n in range(cfg.reps + 1):
            for on, guard in guards.items():
                guard.forget("k")
                for c in cells:
                    request = Request(c.code, kernel_id="k")
                    t0 = perf()
                    guard.check(request)
                    t1 = perf()
                    guard.remember_pending()  # in a server: on the loop's next turn
                    if n:  # the first pass warms up
                        samples[on].append(t1 - t0)
                        if on:
                            after.append(perf() - t1)
        remembered = len(guards[True].memories["k"])
        for guard in guards.values():
            guard.close()
    plain, kept = samples[False], samples[True]
    rows = [
        ("check, memory off", plain, ""),
        ("check, memory on", kept, f"{remembered} names remembered"),
        ("remembering a cell", after, "after it is forwarded"),
    ]
    _latency_table(rows)
    print(
        f"  ratio on/off: p50 x{percentile(kept, 50) / percentile(plain, 50):.2f}, "
        f"p99 x{percentile(kept, 99) / percentile(plain, 99):.2f}, mean x{statistics.mean(kept) / statistics.mean(plain):.2f}"
    )


def bench_server(quick: bool) -> None:
    """The server round-trip benchmark lives in its own module (it starts real servers)."""
    if importlib.util.find_spec("jupyter_tos_guard.bench.server") is None:
        _section("server round trips")
        print("  server benchmark: see jupyter_tos_guard/bench/server.py")
        return
    module = importlib.import_module("jupyter_tos_guard.bench.server")
    module.run(quick)  # prints its own section


def main(args: argparse.Namespace) -> int:
    quick = bool(getattr(args, "quick", False))
    cfg = QUICK if quick else FULL
    report = _Report()
    started = time.perf_counter()
    print(f"jupyter-tos-guard engine benchmark ({'quick' if quick else 'full'} mode)")
    print(
        f"  Python {platform.python_version()} ({platform.python_implementation()}) on {platform.machine()} "
        f"{platform.system()}; times from time.perf_counter, gc disabled while timing"
    )
    print(f"  {_load()} (wall-clock figures inflate when other work shares the CPUs)")

    engine = bench_default_load(cfg, report)
    cells = CellGenerator(SEED).mix(cfg.cells)
    describe_mix(engine, cells)
    bench_latency(engine, cells, cfg, report)
    bench_throughput(engine, cfg, report)
    bench_large_load(cfg, report)
    bench_rule_scaling(cells, len(engine.policy.rules), cfg, report)
    bench_real_modules(engine, cfg)
    bench_memory(cells, cfg)

    _section("targets")
    if quick:
        print("  (quick mode: few samples, so p99 is close to a maximum; PASS/MISS are indicative only)")
    for what, ok, detail in report.targets:
        print(f"  {_mark(ok)}  {what:52s} {detail}")
    print(f"  benchmark took {time.perf_counter() - started:.1f} s; {_load()}")
    if getattr(args, "server", False):
        bench_server(quick)
    else:
        print("  (server round trips: add --server)")
    sys.stdout.flush()
    return 0
