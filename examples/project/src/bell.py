"""Prepares a Bell state on two qubits with a tiny statevector simulator and samples it.

Pure Python on purpose: the example agent session needs nothing but the interpreter.
"""
import math
import random

H = [[1 / math.sqrt(2), 1 / math.sqrt(2)], [1 / math.sqrt(2), -1 / math.sqrt(2)]]


def apply_1q(state, gate, qubit, n):
    out = state[:]
    for i in range(2**n):
        if not (i >> qubit) & 1:
            j = i | (1 << qubit)
            a, b = state[i], state[j]
            out[i] = gate[0][0] * a + gate[0][1] * b
            out[j] = gate[1][0] * a + gate[1][1] * b
    return out


def apply_cx(state, control, target, n):
    out = state[:]
    for i in range(2**n):
        if (i >> control) & 1 and not (i >> target) & 1:
            j = i | (1 << target)
            out[i], out[j] = state[j], state[i]
    return out


def bell(shots=1000, seed=7):
    n = 2
    state = [1.0] + [0.0] * (2**n - 1)
    state = apply_1q(state, H, 0, n)
    state = apply_cx(state, 0, 1, n)
    probs = [abs(a) ** 2 for a in state]
    rng = random.Random(seed)
    counts = {}
    for _ in range(shots):
        k = rng.choices(range(2**n), probs)[0]
        key = format(k, f"0{n}b")
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


if __name__ == "__main__":
    print("bell counts:", bell())
