"""W5 and W6 in JAX (jit, float64): one SGD step (lr 0.01) of the same
pre-LN transformer as benches/transformer.rs, median ms, for run_peers.sh."""
import statistics
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)


def init(key, vocab, d, ff, t, layers):
    shapes = [(vocab, d), (t, d)]
    for _ in range(layers):
        shapes += [(d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, ff), (ff,), (ff, d), (d,)]
    shapes += [(d,), (d,), (d, vocab), (vocab,)]
    keys = jax.random.split(key, len(shapes))
    params = [jax.random.normal(k, s, dtype=jnp.float64) * 0.02 if len(s) == 2 else jnp.zeros(s) for k, s in zip(keys, shapes)]
    gains = [2 + 12 * i + o for i in range(layers) for o in (0, 6)] + [2 + 12 * layers]
    return [jnp.ones(p.shape) if i in gains else p for i, p in enumerate(params)]


def layer_norm(x, g, b):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-5) * g + b


def make_step(batch, t, d, heads, layers):
    dk = d // heads
    mask = jnp.triu(jnp.ones((t, t), bool), 1)

    def loss(params, ids):
        p = iter(params)
        tok, pos = next(p), next(p)
        x = tok[ids] + pos[jnp.arange(t)][None]  # [b, t, d]
        for _ in range(layers):
            h = layer_norm(x, next(p), next(p))
            qkv = h @ next(p) + next(p)
            q, k, v = (qkv[..., i * d:(i + 1) * d].reshape(batch, t, heads, dk).transpose(0, 2, 1, 3) for i in range(3))
            scores = jnp.where(mask, -jnp.inf, q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(dk))
            att = (jax.nn.softmax(scores, -1) @ v).transpose(0, 2, 1, 3).reshape(batch, t, d)
            x = x + att @ next(p) + next(p)
            h = layer_norm(x, next(p), next(p))
            x = x + jax.nn.relu(h @ next(p) + next(p)) @ next(p) + next(p)
        x = layer_norm(x, next(p), next(p))
        logits = x @ next(p) + next(p)
        targets = jnp.roll(ids, -1, axis=1)
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, targets[..., None], -1))

    @jax.jit
    def step(params, ids):
        l, g = jax.value_and_grad(loss)(params, ids)
        return [a - 0.01 * b for a, b in zip(params, g)], l

    return step


def bench(name, vocab, d, ff, t, heads, layers, batch, steps):
    params = init(jax.random.PRNGKey(0), vocab, d, ff, t, layers)
    ids = jax.random.randint(jax.random.PRNGKey(1), (batch, t), 0, vocab)
    step = make_step(batch, t, d, heads, layers)
    params, l = step(params, ids)
    jax.block_until_ready(l)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        params, l = step(params, ids)
        jax.block_until_ready(l)
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"{name} jax jit: {statistics.median(times):.3f} ms/step (median of {steps}), loss {float(l):.4f}")


bench("W5 transformer step, batch 1", 6, 16, 64, 5, 2, 1, 1, 501)
bench("W5' transformer step, batch 16", 6, 16, 64, 5, 2, 1, 16, 501)
bench("W6 transformer step", 512, 128, 512, 64, 4, 2, 16, 9)
