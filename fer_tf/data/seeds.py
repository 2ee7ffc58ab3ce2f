"""One way to derive seeds: every random component of a run gets its own seed,
reproducible from the run seed and the component's name.

With one shared seed, Keras' random layers draw the same numbers, so e.g. flip
and rotation were perfectly coupled (every flipped image rotated the same way);
PathNet's modules, tasks and experiments need seeds that depend on their names
only, not on which other experiments run.
"""

import hashlib


def derive_seed(seed, *salt):
    """A seed in [0, 2**31) for one component, from a run seed and salts.

    Args:
        seed: int or None. the run seed (None: unseeded, returns None).
        *salt: ints or strings naming the component ("flip", a fold, a
            module index).

    The SHA-256 of "seed:salt:..." (not Python's `hash`, which changes
    between processes), so the same names give the same seed on any
    machine and in any order of calls.
    """
    if seed is None:
        return None
    text = ":".join([str(int(seed))] + [str(s) for s in salt])
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
