"""The iBUG-68 facts: part sizes from the landmark paper, the mirror table."""

import numpy as np
import pytest

from fer_tf.data import ibug68
from fer_tf.errors import ConfigError, DatasetError


def test_parts_are_the_papers_five_subsets_covering_all_points():
    assert ibug68.PART_NAMES == ("jaw", "eyebrows", "nose", "eyes", "mouth")
    sizes = {name: len(r) for name, r in ibug68.PARTS.items()}
    assert sizes == {"jaw": 17, "eyebrows": 10, "nose": 9, "eyes": 12, "mouth": 20}
    # Output widths 2k of Eq. 1: z in {18, 20, 24, 34, 40, 136}.
    widths = {2 * len(ibug68.part_indices(n)) for n in ibug68.PART_NAMES + ("all",)}
    assert widths == {18, 20, 24, 34, 40, 136}
    joined = np.concatenate([ibug68.part_indices(n) for n in ibug68.PART_NAMES])
    np.testing.assert_array_equal(joined, ibug68.part_indices("all"))
    assert ibug68.part_indices("nose").dtype == np.int64


def test_unknown_part_names_the_choices():
    with pytest.raises(ConfigError, match="'lips'.*'all', 'jaw'.*'mouth'"):
        ibug68.part_indices("lips")


def test_flip_permutation_is_an_involution_that_maps_parts_to_themselves():
    perm = ibug68.FLIP_PERMUTATION
    assert perm.dtype == np.int64 and perm.shape == (68,)
    np.testing.assert_array_equal(perm[perm], np.arange(68))
    for name in ibug68.PART_NAMES:
        idx = ibug68.part_indices(name)
        assert set(perm[idx]) == set(idx), name
    fixed = set(np.flatnonzero(perm == np.arange(68)))
    assert fixed == {8, 27, 28, 29, 30, 33, 51, 57, 62, 66}
    assert perm[36] == 45 and perm[0] == 16 and perm[48] == 54


def test_flip_landmarks_mirrors_x_about_the_continuous_width():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 32, (2, 68, 2)).astype(np.float32)
    flipped = ibug68.flip_landmarks(points, 32)
    assert flipped.dtype == np.float32
    np.testing.assert_allclose(flipped[:, 45, 0], 32 - points[:, 36, 0])
    np.testing.assert_allclose(flipped[:, 45, 1], points[:, 36, 1])
    # The centre of pixel column 0 (x = 0.5) goes to that of column W - 1.
    centre = np.full((68, 2), 0.5)
    assert ibug68.flip_landmarks(centre, 32)[0, 0] == 31.5
    np.testing.assert_allclose(ibug68.flip_landmarks(flipped, 32), points, atol=1e-5)
    with pytest.raises(DatasetError, match=r"\(\.\.\., 68, 2\).*\(5, 2\)"):
        ibug68.flip_landmarks(np.zeros((5, 2)), 32)
