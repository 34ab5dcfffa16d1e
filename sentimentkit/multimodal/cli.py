"""`sentimentkit features CLIP --transcript "..." -o clip.npz [--landmarks]`: features of one user clip
(.wav/.mp4) for a multimodal model, written in the safe .npz format.

Only typer is imported at module level: the main CLI mounts this command and must start fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def features(
    clip: Annotated[Path, typer.Argument(help="The clip: a .wav, or a video with sound (.mp4, .mov, .mkv, ...).")],
    transcript: Annotated[str, typer.Option("--transcript", "-t", help="The words spoken in the clip.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the features (.npz + .json).")],
    openface: Annotated[
        Path | None,
        typer.Option(help="An OpenFace 2 FeatureExtraction CSV of the clip (-2Dfp -3Dfp -pdmparams -pose -aus -gaze)."),
    ] = None,
    landmarks: Annotated[
        bool,
        typer.Option(
            "--landmarks",
            help="Vision from the clip's own frames: MediaPipe face landmarks as 20 geometric features at ~25/s "
            "(needs SENTIMENTKIT_LANDMARKS_PYTHON; see scripts/setup_landmarks.sh).",
        ),
    ] = False,
    label: Annotated[
        float | None, typer.Option(help="The clip's sentiment value, if known (MOSI scale -3..3).")
    ] = None,
) -> None:
    """Extract a clip's features: 33-d librosa audio (SIMS-style, ~43 frames/s) and, with --openface, 709-d
    OpenFace vision or, with --landmarks, 20-d face-landmark vision (otherwise the clip has no vision). Prints a
    JSON summary."""
    from .features import FeatureError, extract_clip
    from .npz import save_examples

    if output.suffix != ".npz":
        _fail(f"--output {output}: the features file must end in .npz")
    try:
        example = extract_clip(clip, transcript, openface=openface, landmarks=landmarks, label=label)
        path = save_examples([example], output)
    except FileNotFoundError as error:
        _fail(str(error))
    except (FeatureError, ValueError) as error:
        _fail(str(error))
    summary = {
        "output": str(path),
        "id": example.id,
        "audio": list(example.audio.shape),
        "vision": list(example.vision.shape),
        "duration_s": example.meta["duration_s"],
    }
    if landmarks:
        summary["faces_found"] = example.meta["vision"]["faces_found"]
    typer.echo(json.dumps(summary))
