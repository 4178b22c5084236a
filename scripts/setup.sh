#!/usr/bin/env bash
# Create .venv beside the repo and install rnnzoo with its dev extra. Safe to re-run.
# Elsewhere than this CPU-only machine, choose the PyTorch build with an extra index, e.g.
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu    (CPU)
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126  (CUDA 12.6)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
pip_install() {
  # Local mirrors on some machines print one harmless "Location ... ignored" warning per package.
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2)
}
pip_install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch==2.13.0"
pip_install -e ".[dev,hf,export]"   # hf, export: the optional seams, tested in CI
# MovieLens-100K for `rnnzoo rec` ships inside the recbole wheel; we only read its data files, so its
# heavy dependencies (ray, scipy, pandas, ...) are not needed.
pip_install --no-deps "recbole==1.2.1"
# Real time series and images that ship inside wheels, read as files (no imports of these packages):
# UCR/UEA sets and forecasting series in aeon, sunspots/co2/... in statsmodels, 8x8 digits in scikit-learn.
pip_install --no-deps "aeon==1.6.0" "statsmodels==0.15.0" "scikit-learn==1.9.1"
# Silero VAD's trained model (rnnzoo vad, rnnzoo.pretrained): only its weight files are read.
pip_install --no-deps "silero-vad==6.2.3"
.venv/bin/python -c "import rnnzoo, torch; print(f'rnnzoo {rnnzoo.__version__} ready (torch {torch.__version__})')"
