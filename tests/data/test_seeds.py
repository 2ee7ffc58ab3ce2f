"""The one seed derivation (`fer_tf.data.seeds.derive_seed`)."""

import hashlib

from fer_tf.data.seeds import derive_seed


def test_same_names_same_seed_and_every_name_its_own():
    assert derive_seed(None, "flip") is None
    seeds = {derive_seed(s, *salt) for s in (0, 1, 7)
             for salt in (("flip",), ("rotation",), (0, "scratch", "savee"), (1, "scratch", "savee"),
                          ("scratch", 0, "savee"))}
    assert len(seeds) == 15
    assert all(0 <= s < 2**31 for s in seeds)
    # The documented formula: the first 4 bytes of SHA-256("seed:salt:..."), little-endian.
    digest = hashlib.sha256(b"3:1:scratch:savee").digest()
    assert derive_seed(3, 1, "scratch", "savee") == \
        int.from_bytes(digest[:4], "little") & 0x7FFFFFFF

