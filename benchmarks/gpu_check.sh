#!/usr/bin/env bash
# GPU timings of stage 1 (64 and 128 px, batch 256 and 1,024), stage 2 and
# the gibbs sampler, in one table (benchmarks/gpu_check.py; under 8 minutes
# on one GPU). Run from the repository root on a CUDA machine:
#
#     bash benchmarks/gpu_check.sh [gpu_check.py options]
#
# It uses the python on PATH (or $PYTHON), checks first that torch sees a
# GPU and that the engine's requirements import, and says what is missing
# (the machine may have no network: nothing is installed here). The package
# runs from this working tree (PYTHONPATH), so no install is needed.
# A CPU check of the script itself: bash benchmarks/gpu_check.sh --device cpu
# --n 256 --steps 2 --warmup 1 --batches 64 --boxes 32 --reads 64 --sweeps 20
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
    || echo "nvidia-smi: not found"
echo "cpus: $(nproc); python: $(command -v "$PYTHON") ($("$PYTHON" --version 2>&1))"

missing=$("$PYTHON" - <<'EOF'
import importlib
names = {"torch": "torch", "numpy": "numpy", "scipy": "scipy", "sklearn": "scikit-learn",
         "matplotlib": "matplotlib", "PIL": "Pillow", "mrcfile": "mrcfile",
         "Bio": "biopython", "dimod": "dimod", "dwave.samplers": "dwave-samplers",
         "networkx": "networkx"}
print(" ".join(pip for module, pip in names.items()
               if importlib.util.find_spec(module.split(".")[0]) is None
               or (importlib.import_module(module) is None)))
EOF
)
if [ -n "$missing" ]; then
    echo "gpu_check: missing python packages: $missing"
    echo "install them first, e.g. '$PYTHON -m pip install $missing' (torch: the CUDA build)"
    exit 1
fi
"$PYTHON" -c "
import sys, torch
print('torch', torch.__version__, 'CUDA', torch.version.cuda,
      'devices', torch.cuda.device_count())
wants_cpu = '--device' in sys.argv and sys.argv[sys.argv.index('--device') + 1] == 'cpu'
if not wants_cpu and not torch.cuda.is_available():
    sys.exit('gpu_check: this torch sees no CUDA device (a CPU build, or no driver): '
             'install the CUDA build of torch, or give --device cpu')
" "$@" || exit 1
"$PYTHON" -c "import cryostar_boltz.engine.training.stage1" \
    || { echo "gpu_check: the engine does not import from $PWD"; exit 1; }

echo "== timings"
exec "$PYTHON" benchmarks/gpu_check.py "$@"
