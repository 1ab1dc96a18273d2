"""No leak: pure garbage churn. Lots is allocated each step; nothing is kept."""
import _steps


def work(n):
    rows = [{"id": k, "name": "user %d" % k, "tags": [k, k + 1]} for k in range(n)]
    return sum(len(r["name"]) for r in rows)


def step(i):
    for _ in range(20):
        work(5000)


_steps.run(lambda: None, step)
