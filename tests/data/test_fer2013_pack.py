"""The lossless FER2013 pack: exact round trip, reader integration, bad files."""

import numpy as np
import pytest

from fer_tf.data import fer2013_pack as P
from fer_tf.data.readers.fer2013 import read_csv, read_fer2013
from fer_tf.errors import DatasetError


def write_tiny_csv(path, per_class=(3, 1, 1), seed=0):
    """A FER2013 csv with smooth-ish random faces, `per_class` rows per class
    and Usage (Training, PublicTest, PrivateTest), and one duplicate row."""
    rng = np.random.default_rng(seed)
    rows = []
    for usage, count in zip(P.USAGES, per_class):
        for label in range(7):
            for _ in range(count):
                base = rng.integers(0, 256, (6, 6)).repeat(8, 0).repeat(8, 1)
                noise = rng.integers(-20, 21, (48, 48))
                image = np.clip(base + noise, 0, 255).astype(np.uint8)
                image[0, :3] = (0, 255, 7)  # extremes on the border
                rows.append((label, image, usage))
    rows.append(rows[0])
    with open(path, "w") as f:
        f.write("emotion,pixels,Usage\n")
        for label, image, usage in rows:
            f.write(f"{label},{' '.join(map(str, image.ravel()))},{usage}\n")
    return len(rows)


def test_pack_round_trip_and_reader(tmp_path):
    csv = tmp_path / "fer2013.csv"
    rows = write_tiny_csv(csv)
    pack = tmp_path / "packs" / "fer2013.pack"
    written = P.write_pack(csv, pack, show_progress=False)
    assert written["rows"] == rows and written["unique_images"] == rows - 1
    expected = read_csv(str(csv), show_progress=False)
    decoded = P.read_pack(pack)
    for a, b in zip(expected, decoded):
        np.testing.assert_array_equal(a, b)
    from_csv = read_fer2013(str(csv), check_counts=False, show_progress=False)
    for data_dir in (pack, pack.parent):  # the file, or a folder holding it
        records = read_fer2013(str(data_dir), check_counts=False, show_progress=False)
        np.testing.assert_array_equal(records.images, from_csv.images)
        np.testing.assert_array_equal(records.labels, from_csv.labels)
        np.testing.assert_array_equal(records.split, from_csv.split)


@pytest.mark.parametrize("damage", ["truncate", "flip", "magic"])
def test_bad_pack_is_one_line_dataset_error(tmp_path, damage):
    csv = tmp_path / "fer2013.csv"
    write_tiny_csv(csv, per_class=(1, 1, 1))
    pack = tmp_path / "fer2013.pack"
    P.write_pack(csv, pack, show_progress=False)
    raw = bytearray(pack.read_bytes())
    if damage == "truncate":
        raw = raw[:-100]
    elif damage == "flip":
        raw[-50] ^= 0xFF
    else:
        raw[:4] = b"JUNK"
    pack.write_bytes(bytes(raw))
    with pytest.raises(DatasetError) as e:
        read_fer2013(str(pack), check_counts=False, show_progress=False)
    message = str(e.value)
    assert "\n" not in message and str(pack) in message and "pack" in message


def test_cli_pack_fer2013(tmp_path, capsys):
    from fer_tf.cli import main

    csv = tmp_path / "fer2013.csv"
    write_tiny_csv(csv, per_class=(1, 1, 1))
    out = tmp_path / "fer2013.pack"
    main(["data", "pack-fer2013", "--csv", str(csv), "--out", str(out), "--json"])
    assert P.is_pack(out) and '"rows": 22' in capsys.readouterr().out
