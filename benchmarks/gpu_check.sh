#!/usr/bin/env bash
# GPU check of the softplus kernel (issue 9), under 5 minutes on one GPU:
# 1. the accuracy grid (ulp against 50-digit mpmath) with TensorFlow on the
#    GPU in eager, tf.function and XLA (float32 with and without float64, and
#    float64), for softplus and both inverses, and the error-free product
#    under XLA's GPU code generator (which contracts a*b+c into FMAs);
# 2. the same grid under jax.jit on the GPU (skipped if JAX sees no GPU);
# 3. bench_ops at 16M elements, written to results/ops_gpu.json.
# Run from anywhere: bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import tensorflow as tf; assert tf.config.list_physical_devices('GPU'), 'no GPU for TF'"
python -m pytest tests/test_ops.py -q -x -p no:randomly \
    -k "accuracy_within_ulp_bounds or half_precision or two_product or tiny_x or no_nan"
python -m pytest tests/test_ops_inverses.py -q -x -p no:randomly -k "within_ulp"
if python -c "import jax, sys; sys.exit(jax.default_backend() != 'gpu')"; then
    python -m pytest tests/test_backends.py -q -x -k "jax and (mpmath or veltkamp or tensorflow_within)"
else
    echo "JAX has no GPU here: JAX part skipped"
fi
python benchmarks/bench_ops.py --sizes 16M --repetitions 10 --output ops_gpu.json
