"""The embedded default policy: its own examples pass, every rule is tested both ways, the
well-known tools of each category are caught, and ordinary data science stays quiet."""

from __future__ import annotations

from collections import Counter

import pytest

from jupyter_tos_guard.policy import Action, Engine
from jupyter_tos_guard.policy.ruletests import run_rule_tests

CATEGORIES = ("deepfake", "mining", "password-cracking", "dos", "p2p", "remote-access")


@pytest.fixture(scope="module")
def policy(default_engine: Engine):
    return default_engine.policy


def test_every_embedded_example_passes(policy, default_engine):
    results = run_rule_tests(policy, default_engine)
    failed = [f"{r.rule.id} {r.expectation}: {r.example!r}: {r.explain()}" for r in results if not r.passed]
    assert not failed, "\n".join(failed)
    assert len(results) >= 2 * len(policy.rules)


def test_every_rule_has_flag_and_allow_examples(policy):
    assert [r.id for r in policy.rules if not r.tests.flag] == []
    assert [r.id for r in policy.rules if not r.tests.allow] == []


def test_categories_ids_and_default_actions(policy):
    counts = Counter(r.category for r in policy.rules)
    assert set(counts) == set(CATEGORIES) | {"hidden-code"}
    for category in CATEGORIES:
        assert counts[category] >= 8, (category, counts[category])
    for rule in policy.rules:
        assert rule.id.startswith(rule.category + "."), rule.id
        if rule.category == "hidden-code":
            # what cannot be read is logged (downloaded code handed to exec(): a low-confidence
            # warning); code decoded from the cell's own data and run is certain as such, what it
            # runs is not: a medium-confidence warning
            confidence = "medium" if rule.id == "hidden-code.decoded-run" else "low"
            assert rule.confidence == confidence and rule.action <= Action.WARN, rule.id
            continue
        expected = Action.BLOCK if rule.category in ("mining", "dos") else Action.WARN
        assert rule.action == expected, rule.id
        assert rule.message and rule.title
    assert len({r.id for r in policy.rules}) == len(policy.rules)


WELL_KNOWN = [
    ("deepfake.deepfacelab", "%cd /content\n!git clone https://github.com/iperov/DeepFaceLab.git"),
    (
        "deepfake.faceswap",
        "!git clone https://github.com/deepfakes/faceswap.git\n!python faceswap/setup.py --installer",
    ),
    ("deepfake.roop", "!git clone https://github.com/s0md3v/roop\n%cd roop\n!python run.py --execution-provider cuda"),
    ("deepfake.simswap", "!git clone https://github.com/neuralchen/SimSwap"),
    ("deepfake.facefusion", "!pip install facefusion"),
    ("deepfake.deep-live-cam", "!git clone https://github.com/hacksider/Deep-Live-Cam.git"),
    (
        "deepfake.inswapper",
        "import insightface\nswapper = insightface.model_zoo.get_model('inswapper_128.onnx', download=True)",
    ),
    ("mining.xmrig", "!sudo apt-get install -y xmrig"),
    ("mining.t-rex", "!./t-rex -a kawpow -o stratum+tcp://rvn.2miners.com:6060 -u WALLET.worker"),
    ("mining.nbminer", "!./nbminer -a ethash -o stratum+tcp://eth.f2pool.com:6688 -u WALLET"),
    ("mining.lolminer", "!./lolMiner --algo ETCHASH --pool etc.2miners.com:1010 --user WALLET"),
    ("mining.cpuminer", "!./cpuminer -a yespower -o stratum+tcp://pool.example.net:6234 -u W"),
    ("mining.stratum-url", "POOL = 'stratum+tcp://pool.example.org:3333'"),
    ("password-cracking.hashcat", "!hashcat -m 22000 capture.hc22000 rockyou.txt"),
    ("password-cracking.john", "!john --format=raw-md5 --wordlist=rockyou.txt hashes.txt"),
    ("password-cracking.thc-hydra", "!hydra -l admin -P rockyou.txt ssh://192.168.1.10"),
    ("dos.hping3-flood", "!sudo hping3 --flood -S -p 80 203.0.113.5"),
    ("dos.slowloris", "!pip install slowloris\n!slowloris example.com -s 1000"),
    ("dos.loic", "!git clone https://github.com/NewEraCracker/LOIC"),
    ("p2p.bittorrent-links", "link = 'magnet:?xt=urn:btih:08ada5a7a6183aae1e09d831df6748d566095a10'"),
    ("p2p.libtorrent", "!pip install libtorrent\nimport libtorrent as lt"),
    ("p2p.qbittorrent", "!apt-get install -y qbittorrent-nox && qbittorrent-nox -d"),
    ("remote-access.ngrok-tcp", "!ngrok tcp 22"),
    ("remote-access.ssh-reverse-tunnel", "!ssh -N -R 2222:localhost:22 relay@203.0.113.7"),
    ("remote-access.ssh-server", "!apt-get install -y openssh-server\n!service ssh start"),
    ("remote-access.xrdp", "!apt-get install -y xrdp && service xrdp start"),
    (
        "remote-access.chrome-remote-desktop",
        "!wget https://dl.google.com/linux/direct/chrome-remote-desktop_current_amd64.deb\n"
        "!dpkg -i chrome-remote-desktop_current_amd64.deb",
    ),
]


@pytest.mark.parametrize(("rule", "code"), WELL_KNOWN, ids=[r for r, _ in WELL_KNOWN])
def test_well_known_tools_are_caught(default_engine, rule, code):
    v = default_engine.evaluate(code)
    assert rule in v.rule_ids, v.rule_ids
    assert v.action >= Action.WARN


# Ordinary coursework, and the near misses the issue names: none of it may warn or block.
BENIGN = [
    # data science
    "import pandas as pd\ndf = pd.read_csv('train.csv')\ndf.groupby('label').mean()",
    "import numpy as np\nimport matplotlib.pyplot as plt\nx = np.linspace(0, 10, 200)\nplt.plot(x, np.sin(x)); plt.show()",
    "import seaborn as sns\nsns.pairplot(df, hue='species')",
    "from sklearn.model_selection import GridSearchCV\nfrom sklearn.svm import SVC\n"
    "gs = GridSearchCV(SVC(), {'C': [0.1, 1, 10]}, n_jobs=-1).fit(X, y)",
    "import torch\nfrom torch import nn\nmodel = nn.Linear(10, 2).cuda()\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    "for step in range(100):\n    loss = model(torch.randn(32, 10).cuda()).pow(2).mean()\n    opt.zero_grad(); loss.backward(); opt.step()",
    "from transformers import AutoTokenizer, AutoModelForSequenceClassification\n"
    "tok = AutoTokenizer.from_pretrained('distilbert-base-uncased')\n"
    "model = AutoModelForSequenceClassification.from_pretrained('distilbert-base-uncased', num_labels=2)",
    "!pip install numpy",
    "%pip install -U scikit-learn xgboost lightgbm",
    "!pip install -q git+https://github.com/openai/whisper.git",
    "!conda install -y -c conda-forge pytorch torchvision",
    "!apt-get install -y ffmpeg libsm6 libxext6 graphviz",
    "!npm install -g vega-lite vega-cli",
    "!pip install hydra-core omegaconf\nimport hydra",
    "!python train.py --epochs 10 --lr 3e-4 --mining-strategy hard",
    "!torchrun --nproc_per_node=2 train.py",
    "!nohup python train.py > train.log 2>&1 &",
    "!tmux new -d -s train 'python train.py'",
    "%load_ext tensorboard\n%tensorboard --logdir runs",
    "from multiprocessing import Pool\nwith Pool(8) as pool:\n    results = pool.map(process_file, files)",
    "from concurrent.futures import ThreadPoolExecutor\nwith ThreadPoolExecutor(16) as ex:\n    pages = list(ex.map(fetch, urls))",
    # data mining (not crypto mining)
    "from mlxtend.frequent_patterns import apriori, association_rules\n"
    "frequent = apriori(baskets, min_support=0.02, use_colnames=True)\n"
    "rules = association_rules(frequent, metric='lift', min_threshold=1.2)",
    "# text mining: mine the reviews for frequent terms\nfrom sklearn.feature_extraction.text import CountVectorizer",
    "def mine_hard_negatives(model, batch):\n    return batch[model(batch).argsort()[:8]]",
    # faces, but no swapping
    "!pip install insightface onnxruntime-gpu",
    "from insightface.app import FaceAnalysis\napp = FaceAnalysis(name='buffalo_l')\napp.prepare(ctx_id=0, det_size=(640, 640))\n"
    "faces = app.get(img)",
    "import mediapipe as mp\ndetector = mp.solutions.face_detection.FaceDetection(min_detection_confidence=0.5)",
    "import face_recognition\nknown = face_recognition.face_encodings(face_recognition.load_image_file('me.jpg'))[0]",
    "!pip install facenet-pytorch\nfrom facenet_pytorch import MTCNN, InceptionResnetV1",
    "from deepface import DeepFace\nDeepFace.analyze('face.jpg', actions=['age', 'emotion'])",
    "import dlib\ndetector = dlib.get_frontal_face_detector()\nrects = detector(gray, 1)",
    "!git clone https://github.com/deepinsight/insightface.git",
    "!wget https://github.com/opencv/opencv/raw/master/data/haarcascades/haarcascade_frontalface_default.xml",
    # deepfake detection research
    "!git clone https://github.com/ondyari/FaceForensics.git",
    "!git clone https://github.com/selimsef/dfdc_deepfake_challenge",
    "# train a deepfake DETECTOR on FaceForensics++ (real vs. fake)\nimport timm\n"
    "detector = timm.create_model('xception', pretrained=True, num_classes=2)",
    "from transformers import pipeline\nclf = pipeline('image-classification', model='dima806/deepfake_vs_real_image_detection')",
    # hashing and password lessons
    "import hashlib\nprint(hashlib.sha256(b'password123').hexdigest())",
    "import bcrypt\nhashed = bcrypt.hashpw(b'correct horse battery staple', bcrypt.gensalt())\nbcrypt.checkpw(b'x', hashed)",
    "from passlib.hash import pbkdf2_sha256\nh = pbkdf2_sha256.hash('toomanysecrets')",
    "import hashlib\nwords = ['password', 'letmein']\n"
    "cracked = [w for w in words if hashlib.md5(w.encode()).hexdigest() == target]  # why MD5 is weak",
    "names = ['john', 'johnson', 'hydra', 'medusa', 'troop']\nprint([n.title() for n in names])",
    "import zipfile\nwith zipfile.ZipFile('data.zip') as z:\n    z.extractall(pwd=b'course2024')",
    # toy blockchains and crypto prices
    "class Blockchain:\n    def proof_of_work(self, last_proof):\n        proof = 0\n"
    "        while not self.valid_proof(last_proof, proof):\n            proof += 1\n        return proof",
    "import hashlib, json\nblock = {'index': 1, 'nonce': 0}\n"
    "while not hashlib.sha256(json.dumps(block).encode()).hexdigest().startswith('0000'):\n    block['nonce'] += 1",
    "!pip install yfinance\nimport yfinance as yf\nbtc = yf.download('BTC-USD', start='2020-01-01')",
    "import ccxt\nexchange = ccxt.kraken()\nprint(exchange.fetch_ticker('BTC/USD'))",
    # downloading datasets over HTTP(S)
    "!aria2c -x 16 -s 16 https://image-net.org/data/ILSVRC/2012/ILSVRC2012_img_val.tar",
    "!aria2c --continue=true -o coco.zip http://images.cocodataset.org/zips/val2017.zip",
    "!wget -q https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "!curl -L -o iris.zip https://www.kaggle.com/api/v1/datasets/download/uciml/iris",
    "!wget -q https://huggingface.co/datasets/mnist/resolve/main/mnist/train-00000-of-00001.parquet",
    "!git lfs install && git clone https://huggingface.co/runwayml/stable-diffusion-v1-5",
    "from huggingface_hub import hf_hub_download\np = hf_hub_download(repo_id='bert-base-uncased', filename='config.json')",
    "import requests\nr = requests.get('https://api.github.com/repos/pandas-dev/pandas')",
    "!kaggle datasets download -d uciml/iris",
    "!gdown --id 1a2b3c4d5e6f",
    # exposing a demo, not a machine
    "!ngrok http 8501",
    "!ngrok http 7860 --log=stdout > ngrok.log &",
    "from pyngrok import ngrok\npublic_url = ngrok.connect(6006)\nprint(public_url)",
    "from pyngrok import ngrok\nngrok.connect(8501, 'http')",
    "!cloudflared tunnel --url http://localhost:6006",
    "!nohup cloudflared tunnel --url http://127.0.0.1:8501 > tunnel.log 2>&1 &",
    "import gradio as gr\ngr.Interface(fn=predict, inputs='image', outputs='label').launch(share=True)",
    "!streamlit run app.py --server.port 8501 &",
    # SSH clients connecting out
    "!ssh student@login.cluster.example.edu 'squeue -u student'",
    "!ssh -i ~/.ssh/id_ed25519 -L 8888:localhost:8888 me@workstation.example.edu",
    "!scp -r results/ student@login.cluster.example.edu:/home/student/",
    "!rsync -avz data/ student@host.example.edu:/data/",
    "!git clone git@github.com:pandas-dev/pandas.git",
    "!ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519 -N ''",
    "import paramiko\nclient = paramiko.SSHClient()\nclient.connect('host.example.edu', username='me')",
    # load tests against localhost
    "!locust -f locustfile.py --headless -u 100 -r 10 -t 1m -H http://localhost:8000",
    "!ab -n 10000 -c 100 http://127.0.0.1:5000/",
    "!wrk -t4 -c100 -d30s http://localhost:8080/",
    "import asyncio, aiohttp\nasync def hit(session):\n    async with session.get('http://localhost:8000/health') as r:\n"
    "        return r.status",
    # networking lessons and housekeeping
    "!ping -c 3 8.8.8.8",
    "import scapy.all as scapy\npackets = scapy.rdpcap('lab4.pcap')\nprint(len(packets))",
    "import socket\nprint(socket.gethostbyname('example.com'))",
    "!nvidia-smi",
    "!df -h && free -m && nproc",
    "!tar -xzf data.tar.gz && ls data",
    "!unzip -q '/content/drive/MyDrive/data.zip' -d /content/data",
    "!jupyter nbconvert --to html report.ipynb",
    "!docker ps",
    "text = 'Torrents of rain fell; the seeds were sown; the mine was closed.'",
    "# TODO: we do NOT use xmrig, hashcat or roop in this course\nx = 1",
]


@pytest.mark.parametrize("code", BENIGN)
def test_benign_cells_stay_quiet(default_engine, code):
    v = default_engine.evaluate(code)
    assert v.action < Action.WARN, [(h.rule.id, [m.evidence for m in h.matches]) for h in v.hits]


def test_benign_corpus_as_one_notebook_run(default_engine):
    """All of it at once (one big cell, as a pasted script would be)."""
    code = "\n".join(c for c in BENIGN if not c.lstrip().startswith("%%"))
    v = default_engine.evaluate(code)
    assert v.action < Action.WARN, v.rule_ids


def test_a_cell_naming_a_tool_and_its_pool_leads_with_the_tool(default_engine):
    verdict = default_engine.evaluate("!./xmrig -o pool.supportxmr.com:3333 -u 4AbcWallet --donate-level 1")
    assert verdict.rule_ids[0] == "mining.xmrig"
    assert "mining.pool-domains" in verdict.rule_ids
