"""Loaded models are re-entrant: one pipeline called from 4 threads at once, each on its own inputs, gives exactly
what it gives called from one thread (no per-call state lives on the modules: MoE masks and routing, LoRA adapter
choice and attention maps are per call)."""

from __future__ import annotations

import threading

import pytest
import torch

from sentimentkit.inference.pipeline import Pipeline
from sentimentkit.labels import SENTIMENT5
from sentimentkit.models import build_model, save_checkpoint

THREADS = 4
ROUNDS = 3


def _inputs(k: int) -> list[str]:
    """Different texts and lengths per thread, so that batches pad differently."""
    words = ["good", "bad", "slow", "screen", "food", "great", "terrible", "service", "price", "battery"]
    return [" ".join(words[(k + j) % len(words)] for j in range(2 + (k * 5 + i * 3) % 17)) for i in range(12)]


def _concurrently(pipeline: Pipeline, inputs: list[list[str]], **options) -> list[list]:
    results: list[list] = [[] for _ in inputs]
    errors: list[BaseException] = []
    start = threading.Barrier(len(inputs))

    def work(k: int) -> None:
        try:
            start.wait()
            for _ in range(ROUNDS):
                results[k].append(pipeline(inputs[k], batch_size=4, **options))
        except BaseException as err:  # reported below, with the thread's inputs
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.fixture(scope="module")
def moe_dir(tiny_backbone, tmp_path_factory):
    torch.manual_seed(2)
    section = {"type": "moe", "backbone": tiny_backbone, "layers": [0, 1], "num_experts": 4, "noise": 0.5}
    model = build_model(section, SENTIMENT5)
    directory = tmp_path_factory.mktemp("moe-model")
    save_checkpoint(model, directory, {"model": section, "labels": list(SENTIMENT5.names), "max_length": 32})
    return directory


def test_an_moe_model_gives_the_single_threaded_results_from_4_threads(moe_dir):
    pipeline = Pipeline.load(str(moe_dir))
    inputs = [_inputs(k) for k in range(THREADS)]
    expected = [pipeline(x, batch_size=4) for x in inputs]
    assert len({p.label for row in expected for p in row}) > 1 or len({round(p.score, 6) for p in expected[0]}) > 1
    for k, rounds in enumerate(_concurrently(pipeline, inputs)):
        for got in rounds:
            assert got == expected[k]


def test_the_aspect_model_gives_the_single_threaded_results_from_4_threads():
    pipeline = Pipeline.load("absa-en")
    texts = [
        ["The battery life is great but the screen is dim.", "Great food, slow service."],
        ["The keyboard feels cheap. I love the trackpad though!", "Terrible support and a fine price."],
        ["The waiter was rude, the pasta was excellent and the wine list is short.", "Screen is sharp."],
        ["Battery died after an hour.", "The staff were friendly but the room was noisy and small."],
    ]
    expected = [pipeline(x, batch_size=4) for x in texts]
    assert all(p.aspects for row in expected for p in row)
    for k, rounds in enumerate(_concurrently(pipeline, texts)):
        for got in rounds:
            assert got == expected[k]
