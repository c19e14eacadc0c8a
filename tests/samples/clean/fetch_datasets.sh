#!/bin/sh
# Download the course datasets (all over HTTPS, from the publishers' mirrors).
set -e
mkdir -p data && cd data

wget -q --show-progress https://archive.ics.uci.edu/static/public/2/adult.zip
curl -fsSL -o cifar-10-python.tar.gz https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz
aria2c -x 16 -s 16 -o coco_val2017.zip http://images.cocodataset.org/zips/val2017.zip
aria2c --continue=true --max-connection-per-server=8 \
  https://huggingface.co/datasets/imdb/resolve/main/plain_text/train-00000-of-00001.parquet

sha256sum -c ../checksums.txt
unzip -q adult.zip && tar -xzf cifar-10-python.tar.gz
