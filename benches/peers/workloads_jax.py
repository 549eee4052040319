"""W3 and W4 in JAX (jit, float64), medians in ms, for run_peers.sh to print
beside tapegrad's `cargo bench --bench workloads` in the same session."""
import statistics
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)


def median_ms(runs, f):
    f()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def w3(rows, classes):
    key = jax.random.PRNGKey(0)
    logits = jax.random.normal(key, (rows, classes), dtype=jnp.float64)
    targets = jnp.array([(r * 7919) % classes for r in range(rows)])

    def loss(x):
        return -jnp.mean(jax.nn.log_softmax(x)[jnp.arange(rows), targets])

    f = jax.jit(jax.value_and_grad(loss))
    ms = median_ms(7, lambda: jax.block_until_ready(f(logits)))
    print(f"W3 [{rows}, {classes}] jax value_and_grad(log_softmax CE): {ms:.1f} ms")


def w4():
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(k[0], (64, 784), dtype=jnp.float64)
    targets = jnp.arange(64) % 10
    params = {
        "w1": jax.random.normal(k[1], (784, 256), dtype=jnp.float64) / 28.0,
        "b1": jnp.zeros(256),
        "w2": jax.random.normal(k[2], (256, 10), dtype=jnp.float64) / 16.0,
        "b2": jnp.zeros(10),
    }

    def loss(p):
        h = jax.nn.relu(x @ p["w1"] + p["b1"])
        logits = h @ p["w2"] + p["b2"]
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(64), targets])

    @jax.jit
    def step(p):
        l, g = jax.value_and_grad(loss)(p)
        return jax.tree_util.tree_map(lambda a, b: a - 0.01 * b, p, g), l

    state = [params]

    def run():
        state[0], l = step(state[0])
        jax.block_until_ready(l)

    print(f"W4 MLP step jax jit: {median_ms(51, run):.3f} ms")


w3(1024, 8192)
w3(4096, 8192)
w4()
