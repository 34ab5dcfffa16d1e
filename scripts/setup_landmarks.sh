#!/usr/bin/env bash
# A separate virtual environment for MediaPipe face landmarks (`sentimentkit features CLIP --landmarks`).
#
#   bash scripts/setup_landmarks.sh DIR
#   export SENTIMENTKIT_LANDMARKS_PYTHON=DIR/bin/python
#
# Why separate: mediapipe 0.10.21, the newest release that ships its face models (later ones need a downloaded
# .task file), needs protobuf<5, while onnx (a sentimentkit dependency) needs protobuf>=6.31.1. So mediapipe is
# installed here with --no-deps, plus only what its face mesh imports; sentimentkit runs it as a subprocess
# (sentimentkit/multimodal/landmark_worker.py). Re-running on an existing DIR keeps the venv and checks it.
# The venv's Python is $LANDMARKS_BASE_PYTHON, else python3; it needs a mediapipe 0.10.21 wheel (tested: 3.11).
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: $0 DIR   (creates a virtual environment for MediaPipe face landmarks at DIR)" >&2
  exit 2
fi
dir="$1"
python="${LANDMARKS_BASE_PYTHON:-python3}"

if [ ! -x "$dir/bin/python" ]; then
  "$python" -m venv "$dir"
fi
dir="$(cd "$dir" && pwd)"
# --no-warn-conflicts: pip would list the mediapipe requirements left out on purpose (jax, sentencepiece, ...).
pip=("$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts)
# What `import mediapipe` and its face mesh import: numpy, cv2, absl, attr, flatbuffers, google.protobuf, and
# matplotlib (mediapipe/__init__ imports solutions.drawing_utils, which imports matplotlib.pyplot at the top).
"${pip[@]}" "numpy<2" "protobuf>=4.25.3,<5" opencv-python-headless absl-py attrs flatbuffers matplotlib
"${pip[@]}" --no-deps mediapipe==0.10.21
if ! log="$("$dir/bin/python" -c "import mediapipe as mp; mp.solutions.face_mesh.FaceMesh(refine_landmarks=True).close()" 2>&1)"; then
  echo "$log" >&2
  echo "error: $dir: mediapipe is installed but its face mesh does not load (above)" >&2
  exit 1
fi
echo "SENTIMENTKIT_LANDMARKS_PYTHON=$dir/bin/python"
