"""Checks nn's ONNX exports with onnxruntime, the reference ONNX runtime from PyPI.

onnx-tests/tests/tract.rs writes every model it checks with tract into a directory, beside the input it used
and nn's Eval output for it. This script validates each model with the onnx checker (full,
with shape inference), runs it in onnxruntime and compares the output with nn's, to the same
1e-5 relative to the output's largest magnitude as the Rust test.

    NN_ONNX_DIR=/tmp/nn-onnx cargo test -p nn-onnx-tests
    ~/.cache/nn-bench/venv/bin/python tools/check_onnx.py /tmp/nn-onnx

Needs: pip install onnxruntime onnx numpy. Prints one line per model and exits non-zero if any
model fails.
"""

import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort

TOLERANCE = 1e-5


def check(model_path: pathlib.Path) -> tuple[bool, str]:
    case = json.loads(model_path.with_suffix(".json").read_text())
    model = onnx.load(str(model_path))
    onnx.checker.check_model(model, full_check=True)
    opset = next(o.version for o in model.opset_import if o.domain == "")
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    x = np.asarray(case["input"], dtype=np.float32).reshape(case["input_shape"])
    expected = np.asarray(case["output"], dtype=np.float32).reshape(case["output_shape"])
    (got,) = session.run(["output"], {"input": x})
    if got.shape != expected.shape:
        return False, f"shape {got.shape}, nn gives {expected.shape}"
    scale = float(np.abs(expected).max())
    diff = float(np.abs(got - expected).max())
    error = 0.0 if diff == 0.0 else diff / scale
    return error <= TOLERANCE, f"opset {opset}, output {list(got.shape)}, relative error {error:.1e}"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    models = sorted(pathlib.Path(sys.argv[1]).glob("*.onnx"))
    if not models:
        print(f"no .onnx files in {sys.argv[1]}: run the Rust test with NN_ONNX_DIR first", file=sys.stderr)
        return 2
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}")
    failed = 0
    for path in models:
        try:
            ok, detail = check(path)
        except Exception as e:  # a model the checker or the runtime rejects is a failure
            ok, detail = False, f"{type(e).__name__}: {e}"
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {path.stem}: {detail}")
    print(f"{len(models) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
