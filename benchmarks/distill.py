"""Distillation: a smaller student against its teacher, accuracy and speed side by side.

    python benchmarks/distill.py                   # sentiment-en -> configs/distill-minilm3.yaml, seed 1
    python benchmarks/distill.py --seeds 1 2 3 --student configs/distill-minilm3.yaml
    python benchmarks/distill.py --eval-only       # rescore existing runs

Per seed: `distill(teacher, student config)` into runs/distill-<name>/seed<n> (resumed if interrupted), then the
selected student and the teacher are scored on SST-5 test. Speed: teacher and each student loaded as `analyze`
loads them, scoring the SST-5 test sentences at batch 32 with --threads threads, rounds interleaved, median
sentences/s; the ratio student/teacher is taken per round. Parameters counted on the loaded modules (a LoRA
teacher counts its frozen backbone). Results: results/distill.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from common import command_line, score_runs, summary, write_rows

from sentimentkit.training.experiment import environment, load_experiment

ROOT = Path(__file__).resolve().parents[1]


def speed(models: dict[str, str], texts: list[str], rounds: int, backend: str) -> dict[str, list[float]]:
    import sentimentkit

    loaded = {name: sentimentkit.load(path, backend=backend) for name, path in models.items()}
    for p in loaded.values():
        p(texts[:64])  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in loaded}
    for _ in range(rounds):
        for name, p in loaded.items():
            start = time.perf_counter()
            p(texts, batch_size=32)
            rates[name].append(len(texts) / (time.perf_counter() - start))
    return rates


def params(path: str) -> int:
    import sentimentkit

    p = sentimentkit.load(path, merge_adapters=True, backend="torch")  # the parameters of the checkpoint
    return sum(t.numel() for t in p.model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="sentiment-en")
    parser.add_argument("--student", default="configs/distill-minilm3.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument(
        "--backends", nargs="+", default=["onnx", "torch"], choices=["onnx", "torch"],
        help="each measured with teacher and students on the same backend (one row each)",
    )  # fmt: skip
    args = parser.parse_args()

    import torch

    from sentimentkit.data.datasets import load_dataset
    from sentimentkit.training.distill import distill

    name = Path(args.student).stem
    runs = ROOT / "runs" / name
    for seed in args.seeds:
        if not args.eval_only:
            torch.set_num_threads(args.threads)
            config = load_experiment(ROOT / args.student, [f"train.seed={seed}", f"output={runs / f'seed{seed}'}"])
            distill(args.teacher, config, alpha=args.alpha, temperature=args.temperature, progress=False)
    students = score_runs(runs, args.seeds, "sst5")
    from sentimentkit.training.experiment import evaluate

    teacher_test = evaluate(args.teacher, "sst5", "test")
    torch.set_num_threads(args.threads)
    texts = [x.text for x in load_dataset("sst5", "test")]
    models = {"teacher": args.teacher, **{f"seed{s}": str(runs / f"seed{s}" / "best") for s in args.seeds}}
    teacher_params, student_params = params(args.teacher), params(models[f"seed{args.seeds[0]}"])
    rows = []
    for backend in args.backends:
        rows.append(measure(args, name, models, texts, students, teacher_test, backend, teacher_params, student_params))
    print(write_rows("distill", rows))


def measure(args, name, models, texts, students, teacher_test, backend, teacher_params, student_params) -> dict:
    rates = speed(models, texts, args.rounds, backend)
    teacher_rate = statistics.median(rates["teacher"])
    ratios = [
        statistics.median(a / b for a, b in zip(rates[f"seed{s}"], rates["teacher"], strict=True)) for s in args.seeds
    ]
    accuracy = [r["accuracy"] for r in students]
    drop = [teacher_test["accuracy"] - a for a in accuracy]
    print(f"[{backend}] teacher {args.teacher}: SST-5 test accuracy {teacher_test['accuracy']:.4f}, "
          f"{teacher_rate:.0f} sentences/s, {teacher_params / 1e6:.1f}M parameters")  # fmt: skip
    print(f"student {name}: accuracy {statistics.fmean(accuracy):.4f} (seeds {args.seeds}), "
          f"speed-up {statistics.fmean(ratios):.2f}x, {student_params / 1e6:.1f}M parameters "
          f"({1 - student_params / teacher_params:.0%} fewer)")  # fmt: skip
    return {
        "suite": "distill",
        "task": "sentiment-5",
        "dataset": "sst5",
        "split": "test",
        "model": f"{name} <- {args.teacher}",
        "backbone": "all-MiniLM-L6-v2",
        "metrics": {
            "accuracy": summary(accuracy),
            "f1_macro": summary([r["f1_macro"] for r in students]),
            "teacher_accuracy": summary([teacher_test["accuracy"]]),
            "accuracy_drop_points": summary([100 * d for d in drop]),
            "speedup_vs_teacher": summary(ratios),
            "teacher_sentences_per_s": {**summary(rates["teacher"]), "mean": teacher_rate, "aggregate": "median"},
            "params_student": summary([student_params]),
            "params_teacher": summary([teacher_params]),
        },
        "settings": {
            "seeds": args.seeds,
            "alpha": args.alpha,
            "temperature": args.temperature,
            "threads": args.threads,
            "backend": backend,
            "batch_size": 32,
            "rounds": args.rounds,
            "speed": "SST-5 test sentences, interleaved rounds, median of per-round ratios",
            "config": load_experiment(ROOT / args.student).model,
        },
        "command": command_line(),
        "env": environment(),
    }


if __name__ == "__main__":
    main()
