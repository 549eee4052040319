"""micrograd's demo (demo.ipynb) as a timed script, the peer of `examples/moons.rs`.

Same data recipe (scikit-learn's make_moons: 100 points, noise 0.1, written out here with
NumPy so scikit-learn is not needed), same 2-16-16-1 MLP, max-margin loss with L2
regularisation (alpha 1e-4), SGD with lr = 1.0 - 0.9 k / 100, 100 steps.

    pip install micrograd==0.1.0 numpy
    python benches/peers/moons_micrograd.py          # the demo's 100 steps
    python benches/peers/moons_micrograd.py 5        # the first 5 only, for a per-step time
"""
import math
import random
import sys
import time

import numpy as np
from micrograd.engine import Value
from micrograd.nn import MLP

np.random.seed(1337)
random.seed(1337)

n_out, n_in = 50, 50
t_out = np.linspace(0, math.pi, n_out)
t_in = np.linspace(0, math.pi, n_in)
X = np.vstack([np.append(np.cos(t_out), 1 - np.cos(t_in)), np.append(np.sin(t_out), 1 - np.sin(t_in) - 0.5)]).T
X += np.random.normal(scale=0.1, size=X.shape)
y = np.array([-1] * n_out + [1] * n_in)

model = MLP(2, [16, 16, 1])


def loss():
    inputs = [list(map(Value, xrow)) for xrow in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum((p * p for p in model.parameters()))
    total = data_loss + reg_loss
    accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
    return total, sum(accuracy) / len(accuracy)


steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100
start = time.perf_counter()
for k in range(steps):
    total_loss, acc = loss()
    model.zero_grad()
    total_loss.backward()
    learning_rate = 1.0 - 0.9 * k / 100
    for p in model.parameters():
        p.data -= learning_rate * p.grad
    print(f"step {k} loss {total_loss.data:.6f}, accuracy {acc * 100:.0f}%")
elapsed = time.perf_counter() - start
print(f"{steps} steps in {elapsed * 1000:.0f} ms ({elapsed * 1000 / steps:.0f} ms/step): loss {total_loss.data:.6f}, training accuracy {acc * 100:.0f}%")
