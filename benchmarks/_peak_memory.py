"""The training-memory probe of benchmarks/efficiency.py and checkpointing.py, run in a fresh process per model:

    python benchmarks/_peak_memory.py MODEL [--set key=value ...] [--dataset sst5|imdb] [--max-length N]

Builds the model as efficiency.py does (MODEL: a config name in configs/, `--set` overrides its keys), runs 5
training steps at batch 32 on the dataset's training texts (cut to the config's max_length, or --max-length) with
one thread, and prints the peak RSS during those steps minus the RSS just before them, in MB (the last line).
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import torch
from efficiency import batches, build  # this script's folder is first on sys.path

from sentimentkit.data.datasets import load_dataset

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """This process's resident set size in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--dataset", default="sst5")
    parser.add_argument("--max-length", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    texts = [x.text for x in load_dataset(args.dataset, "train")]
    model, tokenizer, max_length = build(args.model, texts, args.overrides)
    data = batches(tokenizer, texts[:160], args.max_length or max_length)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    peak, done = [rss()], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    before = rss()
    thread = threading.Thread(target=sample)
    thread.start()
    model.train()
    for batch in data:
        loss = model(batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    done.set()
    thread.join()
    print((peak[0] - before) / 2**20)


if __name__ == "__main__":
    main()
