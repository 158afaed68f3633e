#!/usr/bin/env bash
# Creates the Python environment of bench/compare.sh: a virtual environment with numpy,
# threadpoolctl and PyTorch from the Python package index (pip). It lives outside the repository,
# in $NN_BENCH_VENV (default ~/.cache/nn-bench/venv), since PyTorch takes a few GB. Running it
# again updates nothing that is already installed.
set -euo pipefail
venv=${NN_BENCH_VENV:-$HOME/.cache/nn-bench/venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet -r "$(dirname "$0")/requirements.txt"
"$venv/bin/python" -c 'import numpy, threadpoolctl, torch; print("numpy", numpy.__version__, "torch", torch.__version__, "in '"$venv"'")'
