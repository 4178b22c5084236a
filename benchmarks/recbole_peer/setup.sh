#!/usr/bin/env bash
# The RecBole peer's own environment: benchmarks/recbole_peer/.venv (git-ignored), never a dependency of rnnzoo.
# RecBole 1.2.1 needs numpy < 1.24 (np.float, np.long), setuptools with pkg_resources (tensorboard), and ray
# (imported at the top of recbole.quick_start). torch is the CPU build the registry serves.
# Usage: bash benchmarks/recbole_peer/setup.sh   (then: benchmarks/recbole_peer/.venv/bin/python benchmarks/recbole_peer/run.py)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python3.11 -m venv "$here/.venv"
pip="$here/.venv/bin/pip"
"$pip" install -q "numpy==1.23.5" "scipy==1.10.1" "pandas==2.0.3" "scikit-learn==1.2.2" \
    "torch==2.13.0" "tensorboard==2.14.1" "ray==2.6.3" "thop==0.1.1.post2209072238" \
    "colorlog==4.7.2" "colorama==0.4.4" tqdm pyyaml tabulate texttable psutil plotly
"$pip" install -q --no-deps "recbole==1.2.1"
"$pip" install -q "setuptools==69.5.1"  # last: torch pulls >= 77, which has no pkg_resources
# (ray imports it); pip then warns that torch wants >= 77, which only torch.utils.cpp_extension uses, not RecBole
"$here/.venv/bin/python" -c "import recbole, numpy, torch; print('recbole', recbole.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__)"
