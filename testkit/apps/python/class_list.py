"""Leak: a class attribute list that grows with every request."""
import _steps


class Registry:
    items = []

    def handle(self, n):
        Registry.items.append(bytearray(n))


def step(i):
    r = Registry()
    for _ in range(1000):
        r.handle(1024)


_steps.run(lambda: None, step)
