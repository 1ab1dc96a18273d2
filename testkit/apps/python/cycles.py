"""Leak: reference cycles that the cycle collector never frees.

Some services switch the cyclic garbage collector off to avoid its pauses
(gc.disable(), or gc.freeze() after start-up with thresholds that never
trigger). Reference counting still frees most objects, but not a cycle: on
Python 3.11 only the cycle collector does. Here each request builds a small
tree whose children point back at their parent (a common shape: DOM-like
trees, request/response pairs, objects registering callbacks on their owner)
with a 4 KiB body on the root, and drops it. Every tree is unreachable
cyclic garbage, and every body stays allocated with it.
"""
import gc

import _steps


class Node:
    def __init__(self, parent):
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)


def handle_request(k):
    root = Node(None)
    root.body = bytearray(4096)
    for _ in range(4):
        Node(root)
    return len(root.children)


def step(i):
    for k in range(200):
        handle_request(k)


gc.disable()
_steps.run(lambda: None, step)
