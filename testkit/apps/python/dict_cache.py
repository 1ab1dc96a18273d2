"""Leak: the seed's unbounded dict cache. Every new key stays forever."""
import _steps

_cache = {}


def lookup(key):
    if key not in _cache:
        _cache[key] = ("row %d LEAKHOUND-SECRET-tracemalloc " % key) * 200
    return _cache[key]


def step(i):
    for k in range(i * 1000, (i + 1) * 1000):
        lookup(k)


_steps.run(lambda: None, step)
