"""No leak: functools.lru_cache(maxsize=1000), snapshots past saturation."""
import functools

import _steps


@functools.lru_cache(maxsize=1000)
def render(key):
    return ("page %d " % key) * 200


def warm_up():
    for k in range(10000, 13000):
        render(k)


def step(i):
    for k in range(13000 + i * 1500, 13000 + (i + 1) * 1500):
        render(k)


_steps.run(warm_up, step)
