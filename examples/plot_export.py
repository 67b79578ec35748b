"""
Saving and exporting a pruned model
===================================

A fitted estimator saves to a compact archive and loads back without training state;
``to_torch`` gives the compacted network as a plain PyTorch module; with skl2onnx
installed (``pip install "sk_adaprune[onnx]"``), ``import sk_adaprune.onnx`` lets
:func:`skl2onnx.to_onnx` convert it, pipelines included.
"""

# %%
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import sk_adaprune
from sk_adaprune import AdaptivePrunedMLPClassifier

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
clf = AdaptivePrunedMLPClassifier(lambda_=30.0, random_state=0).fit(X, y)

folder = Path(tempfile.mkdtemp())
path = clf.save(folder / "digits.npz")
loaded = sk_adaprune.load(path)
assert (loaded.predict(X) == clf.predict(X)).all()
print(f"archive: {path.stat().st_size / 1024:.1f} kB")

# %%
# The compacted network in PyTorch: its logits give the same labels.
network = clf.to_torch()
with torch.no_grad():
    logits = network(torch.from_numpy(X))
print(network)
print("same labels:", (clf.classes_[logits.argmax(1).numpy()] == clf.predict(X)).all())

# %%
# ONNX, run by onnxruntime.
try:
    import onnxruntime
    from skl2onnx import to_onnx

    import sk_adaprune.onnx  # noqa: F401  (registers the converters)
except ImportError:
    print('ONNX export needs pip install "sk_adaprune[onnx]"')
else:
    model = to_onnx(clf, X[:1], options={"zipmap": False})
    session = onnxruntime.InferenceSession(model.SerializeToString())
    labels, probabilities = session.run(None, {session.get_inputs()[0].name: X})
    print(f"ONNX model: {len(model.SerializeToString()) / 1024:.1f} kB")
    print("same labels:", (labels == clf.predict(X)).all())
