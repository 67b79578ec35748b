"""
Training on chunks with ``partial_fit``
=======================================

Data that arrive in chunks, or do not fit in memory, train with ``partial_fit``: one
epoch over each chunk, the network, the learned ratio and Adam's state going on between
calls. After every call the model predicts with the hard mask at the current ratio.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sk_adaprune import AdaptivePrunedMLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, test_size=0.25, stratify=y, random_state=0
)
clf = AdaptivePrunedMLPClassifier(random_state=0)
accuracy, sparsity = [], []
for _ in range(20):  # passes over the data
    for start in range(0, len(X_train), 300):  # e.g. chunks read from disk
        rows = slice(start, start + 300)
        clf.partial_fit(X_train[rows], y_train[rows], classes=np.arange(10))
    accuracy.append(clf.score(X_test, y_test))
    sparsity.append(clf.learned_sparsity_)
print(f"after 20 passes: accuracy {accuracy[-1]:.4f}, sparsity {sparsity[-1]:.1%}")

# %%
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(range(1, 21), accuracy, marker="o", label="test accuracy")
ax.plot(range(1, 21), sparsity, marker="s", label="sparsity")
ax.set_xlabel("pass over the chunks")
ax.set_ylim(0, 1.02)
ax.legend()
plt.show()
