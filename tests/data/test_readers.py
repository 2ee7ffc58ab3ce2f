"""Dataset readers on synthetic data written in each published layout."""

import gzip
import json
import lzma
import os
import shutil
import warnings

import cv2
import numpy as np
import pytest

from fer_tf.data import labels as L
from fer_tf.data.layouts import write_layout
from fer_tf.data.readers import (DATASETS, DatasetCountWarning, VideoIndex, check_dataset,
                                 format_check, load_dataset)
from fer_tf.data.readers.ckplus import read_ckplus
from fer_tf.data.readers import official as O
from fer_tf.data.readers.fer2013 import FOLDER_TEST_NOTE, read_fer2013, split_notes
from fer_tf.data.readers.jaffe import read_jaffe
from fer_tf.data.readers.official import count_differences, official_counts
from fer_tf.data.readers.sfew import read_sfew
from fer_tf.data.readers.video import read_enterface, read_savee
from fer_tf.data.records import Records
from fer_tf.errors import ConfigError, DatasetError

QUIET = {"show_progress": False}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Writes each layout once per module; returns (folder, writer report)."""
    cache = {}

    def get(layout, **counts):
        key = (layout, tuple(sorted(counts.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(layout)
            cache[key] = (str(out), write_layout(layout, out, **QUIET, **counts))
        return cache[key]
    return get


@pytest.fixture
def copy_of(written, tmp_path):
    """A private, modifiable copy of a written layout."""
    def get(layout, **counts):
        src, report = written(layout, **counts)
        dst = tmp_path / layout
        shutil.copytree(src, dst)
        return str(dst), report
    return get


def quiet(reader, *args, **kwargs):
    """Runs a reader with count warnings silenced (synthetic counts are small)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetCountWarning)
        return reader(*args, **QUIET, **kwargs)


def first_file(root, suffix):
    for folder, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            if f.endswith(suffix):
                return os.path.join(folder, f)
    raise AssertionError(f"no {suffix} file under {root}")


def corrupt(path):
    with open(path, "wb") as f:
        f.write(b"this is not an image or a video")


# ------------------------------------------------------------------ registry

def test_registry_names_and_unknown_name():
    assert set(DATASETS) == {"fer2013", "ckplus", "jaffe", "sfew", "savee", "enterface",
                             "synthetic"}
    with pytest.raises(ConfigError, match="known datasets: .*ckplus.*fer2013"):
        load_dataset("affectnet", "/nowhere")
    with pytest.raises(ConfigError, match="Unknown dataset"):
        check_dataset("affectnet", "/nowhere")


def test_synthetic_through_registry_ignores_data_dir():
    records = load_dataset("synthetic", None, num_subjects=2, images_per_class=1,
                           classes="six", size=32)
    assert isinstance(records, Records)
    assert len(records) == 12 and records.class_names == L.SIX_BASIC
    report = check_dataset("synthetic", "/ignored", num_subjects=2, images_per_class=1,
                           size=32)
    assert report["num_images"] == 16 and report["official"] == {}
    assert "No published counts" in format_check(report)


# -------------------------------------------------------------------- FER2013

def _write_csv(path, rows, header="emotion,pixels,Usage"):
    with open(path, "w") as f:
        f.write(header + "\n")
        for row in rows:
            f.write(row + "\n")


def _pixels(value=7, n=2304):
    return " ".join([str(value)] * n)


def test_fer2013_csv_pixels_labels_and_splits(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    usages = ["Training", "Training", "PublicTest", "PrivateTest", "Training"]
    rows = [f"{i % 7},{' '.join(map(str, im.ravel()))},{u}"
            for i, (im, u) in enumerate(zip(images, usages))]
    _write_csv(tmp_path / "fer2013.csv", rows)
    with pytest.warns(DatasetCountWarning, match="found 5, official 35887"):
        records = read_fer2013(tmp_path, **QUIET)
    np.testing.assert_array_equal(records.images[..., 0], images)
    assert records.image_shape == (48, 48, 1)
    assert records.labels.tolist() == [0, 1, 2, 3, 4]
    assert records.class_names == L.FER2013_CLASSES
    assert records.split.tolist() == usages
    assert records.subjects is None
    assert records.sources[0] == "fer2013.csv:2"
    rgb = quiet(read_fer2013, tmp_path / "fer2013.csv", channels=3, size=(24, 32))
    assert rgb.image_shape == (24, 32, 3)


def test_fer2013_csv_many_chunks(tmp_path, monkeypatch):
    # Several vectorised chunks, the last one partial.
    monkeypatch.setattr("fer_tf.data.readers.fer2013.CHUNK_ROWS", 4)
    rows = [f"{i % 7},{_pixels(i)},Training" for i in range(10)]
    _write_csv(tmp_path / "fer2013.csv", rows)
    records = quiet(read_fer2013, tmp_path)
    assert records.images[:, 0, 0, 0].tolist() == list(range(10))


def test_fer2013_permuted_header_icml_variant(tmp_path):
    _write_csv(tmp_path / "icml_face_data.csv", [f"3, Training, {_pixels(9)}"],
               header="emotion, Usage, pixels")
    records = quiet(read_fer2013, tmp_path)
    assert records.labels.tolist() == [3] and records.images.max() == 9


@pytest.mark.parametrize("compress", ["xz", "gz"])
def test_fer2013_compressed_csv(written, compress):
    folder, report = written("fer2013", compress=compress)
    assert os.path.basename(report["path"]) == f"fer2013.csv.{compress}"
    result = check_dataset("fer2013", folder, **QUIET)
    assert result["per_split_class"] == report["per_split_class"]


@pytest.mark.parametrize("rows,match", [
    ([f"0,{_pixels()},Training", f"1,{_pixels(n=2303)},Training"],
     r"line 3: 2303 pixel values; expected 2304"),
    ([f"0,{_pixels()},Training", f"7,{_pixels()},Training"],
     r"line 3: label '7' is not an emotion code 0-6"),
    ([f"x,{_pixels()},Training"], r"line 2: label 'x'"),
    ([f"0,{_pixels()},Training", f"0,{_pixels()},Test"], r"line 3: Usage 'Test'"),
    ([f"0,{_pixels(256)},Training"], r"line 2: pixel value '256'"),
    ([f"0,{_pixels()[:-1]}7a,Training"], r"line 2: pixel value '7a'"),
    ([f"0,{_pixels()}"], r"line 2: 2 comma-separated fields"),
])
def test_fer2013_bad_rows_name_the_line(tmp_path, rows, match):
    _write_csv(tmp_path / "fer2013.csv", rows)
    with pytest.raises(DatasetError, match=match):
        quiet(read_fer2013, tmp_path)


def test_fer2013_wrong_header_names_file_and_expected(tmp_path):
    _write_csv(tmp_path / "fer2013.csv", [f"0,{_pixels()}"], header="label,pixels")
    with pytest.raises(DatasetError) as err:
        quiet(read_fer2013, tmp_path)
    message = str(err.value)
    assert "fer2013.csv" in message and "'label,pixels'" in message
    assert "'emotion,pixels,Usage'" in message


def test_fer2013_missing_empty_and_corrupt(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        quiet(read_fer2013, tmp_path / "nope")
    with pytest.raises(DatasetError, match="found neither fer2013.csv nor train/"):
        quiet(read_fer2013, tmp_path)
    (tmp_path / "fer2013.csv").write_text("")
    with pytest.raises(DatasetError, match="is empty"):
        quiet(read_fer2013, tmp_path)
    (tmp_path / "fer2013.csv").unlink()
    (tmp_path / "fer2013.csv.xz").write_bytes(b"not xz data at all")
    with pytest.raises(DatasetError, match=r"cannot read .*fer2013.csv.xz"):
        quiet(read_fer2013, tmp_path)
    with gzip.open(tmp_path / "fer2013.csv.gz", "wt") as f:
        f.write("emotion,pixels,Usage\n")
    (tmp_path / "fer2013.csv.xz").unlink()
    with pytest.raises(DatasetError, match="header but no rows"):
        quiet(read_fer2013, tmp_path)


def test_fer2013_folders(written, copy_of):
    folder, report = written("fer2013_folders")
    records = quiet(read_fer2013, folder)
    # test/ is taken as PrivateTest, and the reader says so for the run's config.
    assert set(records.split) == {"Training", "PrivateTest"}
    assert split_notes(folder) == [FOLDER_TEST_NOTE] and "PrivateTest" in FOLDER_TEST_NOTE
    assert check_dataset("fer2013", folder, **QUIET)["official"]["splits"] == {
        "Training": 28709, "PrivateTest": 7178}
    assert records.class_counts() == report["per_class"]
    assert records.image_shape == (48, 48, 1)
    folder, _ = copy_of("fer2013_folders")
    corrupt(first_file(os.path.join(folder, "test"), ".jpg"))
    with pytest.raises(DatasetError, match=r"test.*\.jpg is not a readable image"):
        quiet(read_fer2013, folder)
    os.rename(os.path.join(folder, "train", "happy"), os.path.join(folder, "train", "joy"))
    with pytest.raises(DatasetError, match=r"unknown class folder .*joy"):
        quiet(read_fer2013, folder)


# ------------------------------------------------------------------------ CK+

def test_ckplus_protocol_first_and_last_three_frames(written):
    folder, report = written("ckplus", mixed_sizes=False)
    records = quiet(read_ckplus, folder)
    assert records.class_names == L.CKPLUS_CLASSES
    assert len(records) == 4 * report["num_labelled_sequences"]
    assert report["num_sequences"] > report["num_labelled_sequences"]
    for group in np.unique(records.groups):
        in_group = records.groups == group
        labels = records.labels[in_group]
        assert (labels == 0).sum() == 1 and (labels > 0).sum() == 3
        assert len(set(labels[labels > 0])) == 1
        frames = [os.path.basename(s) for s in records.sources[in_group]]
        assert frames[0].endswith("_00000001.png")  # the neutral first frame
        assert frames[-1].endswith(f"_{6:08d}.png")
        assert group.split("/")[0] == records.subjects[in_group][0]
    assert records.landmarks.shape == (len(records), 68, 2)
    assert records.image_shape == (96, 125, 1)
    assert records.landmarks[..., 0].max() < 125 and records.landmarks[..., 1].max() < 96


def test_ckplus_resize_scales_landmarks_and_channels(written):
    folder, _ = written("ckplus", mixed_sizes=False)
    native = quiet(read_ckplus, folder)
    small = quiet(read_ckplus, folder, size=(48, 50), channels=3)
    assert small.image_shape == (48, 50, 3)
    np.testing.assert_allclose(small.landmarks[..., 0], native.landmarks[..., 0] * 50 / 125,
                               rtol=1e-5)
    np.testing.assert_allclose(small.landmarks[..., 1], native.landmarks[..., 1] * 48 / 96,
                               rtol=1e-5)
    seven = quiet(read_ckplus, folder, include_neutral=False)
    assert L.NEUTRAL not in seven.class_names and len(seven) == 3 * len(native) // 4


def test_ckplus_mixed_sizes_need_size(copy_of):
    folder, _ = copy_of("ckplus", mixed_sizes=False)
    path = first_file(os.path.join(folder, "cohn-kanade-images"), ".png")
    cv2.imwrite(path, np.zeros((90, 120), np.uint8))
    with pytest.raises(DatasetError, match=r"different sizes: 125x96 .*120x90 .*size="):
        quiet(read_ckplus, folder)
    assert quiet(read_ckplus, folder, size=64).image_shape == (64, 64, 1)
    common = quiet(read_ckplus, folder, size="common")
    native = os.path.basename(path)
    odd = [i for i, s in enumerate(common.sources) if os.path.basename(s) == native]
    assert common.image_shape == (96, 125, 1) and len(odd) == 1
    # Only the odd frame's landmarks are rescaled (from 120x90 to 125x96).
    subject, sequence = native.split("_")[:2]
    on_disk = np.loadtxt(os.path.join(folder, "Landmarks", subject, sequence,
                                      native.replace(".png", "_landmarks.txt")))
    np.testing.assert_allclose(common.landmarks[odd[0]], on_disk * [125 / 120, 96 / 90],
                               rtol=1e-5)
    others = [i for i in range(len(common)) if i != odd[0]]
    np.testing.assert_allclose(common.landmarks[others],
                               quiet(read_ckplus, folder, size=(96, 125)).landmarks[others])
    report = check_dataset("ckplus", folder, **QUIET)
    assert report["image_shape"] == [96, 125, 1] and report["num_images"] == len(common)


def test_ckplus_errors(tmp_path, copy_of):
    with pytest.raises(DatasetError, match="does not exist"):
        quiet(read_ckplus, tmp_path / "nope")
    with pytest.raises(DatasetError, match="neither cohn-kanade-images/ nor CK\\+48"):
        quiet(read_ckplus, tmp_path)
    folder, _ = copy_of("ckplus")
    emotion = first_file(os.path.join(folder, "Emotion"), "_emotion.txt")
    with open(emotion, "w") as f:
        f.write("   9.0000000e+00\n")
    with pytest.raises(DatasetError, match=r"_emotion.txt has emotion code .*9"):
        quiet(read_ckplus, folder)
    with open(emotion, "w") as f:
        f.write("happy\n")
    with pytest.raises(DatasetError, match=r"cannot read the emotion code in"):
        quiet(read_ckplus, folder)
    with open(emotion, "w") as f:
        f.write("   2.0000000e+00\n")
    frame = first_file(os.path.join(folder, "cohn-kanade-images"), "00000001.png")
    corrupt(frame)
    with pytest.raises(DatasetError, match=os.path.basename(frame) + " is not a readable"):
        quiet(read_ckplus, folder)


def test_ckplus_partial_download(copy_of):
    folder, _ = copy_of("ckplus")
    landmarks = first_file(os.path.join(folder, "Landmarks"), "00000001_landmarks.txt")
    with open(landmarks, "w") as f:
        f.write("1 2\n3 4\n")
    with pytest.raises(DatasetError, match=r"shape \(2, 2\); expected 68 lines"):
        quiet(read_ckplus, folder)
    os.remove(landmarks)
    with pytest.raises(DatasetError, match="landmark files are missing"):
        quiet(read_ckplus, folder)
    shutil.rmtree(os.path.join(folder, "Landmarks"))
    assert quiet(read_ckplus, folder, size="common").landmarks is None
    subject = sorted(os.listdir(os.path.join(folder, "cohn-kanade-images")))[0]
    shutil.rmtree(os.path.join(folder, "cohn-kanade-images", subject))
    with pytest.raises(DatasetError, match=f"has no image sequence {subject}/"):
        quiet(read_ckplus, folder)
    shutil.rmtree(os.path.join(folder, "Emotion"))
    with pytest.raises(DatasetError, match="no Emotion/ folder"):
        quiet(read_ckplus, folder)


def test_ckplus48_detected_from_folder(written, copy_of):
    folder, report = written("ckplus48")
    records = quiet(read_ckplus, folder)
    assert records.class_names == tuple(c for c in L.CKPLUS_CLASSES if c != L.NEUTRAL)
    assert records.image_shape == (48, 48, 1) and records.landmarks is None
    assert records.class_counts() == report["per_class"]
    assert records.subjects[0].startswith("S") and records.groups[0].count("/") == 1
    # Also readable from the CK+48 folder itself.
    assert len(quiet(read_ckplus, os.path.join(folder, "CK+48"))) == len(records)
    folder, _ = copy_of("ckplus48")
    happy = os.path.join(folder, "CK+48", "happy")
    shutil.copy(first_file(happy, ".png"), os.path.join(happy, "img001.png"))
    with pytest.raises(DatasetError, match=r"img001.png does not name its subject"):
        quiet(read_ckplus, folder)
    os.remove(os.path.join(happy, "img001.png"))
    os.rename(happy, os.path.join(folder, "CK+48", "smile"))
    with pytest.raises(DatasetError, match=r"unknown class folder .*smile"):
        quiet(read_ckplus, folder)


# ---------------------------------------------------------------------- JAFFE

def test_jaffe_subjects_and_codes(written):
    folder, report = written("jaffe")
    records = quiet(read_jaffe, folder)
    assert sorted(set(records.subjects)) == ["KA", "KL", "KM", "KR", "MK", "NA", "NM",
                                             "TM", "UY", "YM"]
    assert records.class_names == L.JAFFE_CLASSES
    assert records.class_counts() == report["per_class"]
    for source, label in zip(records.sources, records.labels):
        code = os.path.basename(source).split(".")[1][:2]
        assert L.JAFFE_CODES[code] == records.class_names[label]


def test_jaffe_errors(tmp_path, copy_of):
    with pytest.raises(DatasetError, match="does not exist"):
        quiet(read_jaffe, tmp_path / "nope")
    (tmp_path / "README").write_text("the readme is ignored")
    with pytest.raises(DatasetError, match="no images in"):
        quiet(read_jaffe, tmp_path)
    folder, _ = copy_of("jaffe")
    path = first_file(folder, ".tiff")
    bad = os.path.join(folder, "KA.XX1.999.tiff")
    shutil.copy(path, bad)
    with pytest.raises(DatasetError, match=r"KA.XX1.999.tiff has the unknown expression "
                                           r"code 'XX'"):
        quiet(read_jaffe, folder)
    os.rename(bad, os.path.join(folder, "face.tiff"))
    with pytest.raises(DatasetError, match="face.tiff is not named like XX.YYn.NNN.tiff"):
        quiet(read_jaffe, folder)
    os.remove(os.path.join(folder, "face.tiff"))
    corrupt(path)
    with pytest.raises(DatasetError, match="is not a readable image"):
        quiet(read_jaffe, folder)


def test_count_mismatch_warns_with_numbers(written):
    folder, report = written("jaffe")
    with pytest.warns(DatasetCountWarning) as record:
        read_jaffe(folder, **QUIET)
    message = str(record[0].message)
    assert f"num_images: found {report['num_images']}, official 213" in message
    assert f"per_class/disgust: found {report['per_class'][L.DISGUST]}, official 29" \
        in message


# ----------------------------------------------------------------------- SFEW

def test_sfew_splits(written, copy_of):
    folder, report = written("sfew")
    records = quiet(read_sfew, folder)
    assert set(records.split) == {"Train", "Val"} and records.subjects is None
    assert records.class_names == L.SFEW_CLASSES
    assert records.image_shape == (72, 90, 1)
    assert len(records.split_subset("Val")) == report["splits"]["Val"]
    folder, _ = copy_of("sfew")
    os.rename(os.path.join(folder, "Val", "Sad"), os.path.join(folder, "Val", "Bored"))
    with pytest.raises(DatasetError, match=r"unknown class folder .*Bored"):
        quiet(read_sfew, folder)
    os.rename(os.path.join(folder, "Val", "Bored"), os.path.join(folder, "Val", "Sad"))
    note = os.path.join(folder, "Train", "Angry", "notes.txt")
    with open(note, "w") as f:
        f.write("x")
    with pytest.raises(DatasetError, match=r"notes.txt is not an image"):
        quiet(read_sfew, folder)
    os.remove(note)
    corrupt(first_file(os.path.join(folder, "Train", "Fear"), ".png"))
    with pytest.raises(DatasetError, match=r"Fear.*is not a readable image"):
        quiet(read_sfew, folder)
    shutil.rmtree(os.path.join(folder, "Val"))
    with pytest.raises(DatasetError, match="no Val folder"):
        quiet(read_sfew, folder)


def test_sfew_train_only_copy_is_read_when_asked(written, copy_of):
    folder, report = copy_of("sfew")
    shutil.rmtree(os.path.join(folder, "Val"))
    records = quiet(read_sfew, folder, splits=("Train",))
    assert set(records.split) == {"Train"} and len(records) == report["splits"]["Train"]
    with pytest.raises(DatasetError, match="splits must be taken from Train and Val"):
        quiet(read_sfew, folder, splits=("Test",))


def test_sfew_missing_and_empty(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        quiet(read_sfew, tmp_path / "nope")
    with pytest.raises(DatasetError, match="no Train or Val folder"):
        quiet(read_sfew, tmp_path)
    for split in ("Train", "Val"):
        (tmp_path / split / "Happy").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images in"):
        quiet(read_sfew, tmp_path)


# --------------------------------------------------------------------- videos

def test_savee_index(written):
    folder, report = written("savee")
    index = quiet(read_savee, folder)
    assert isinstance(index, VideoIndex) and index.class_names == L.SIX_BASIC
    assert len(index) == report["num_videos"] - report["per_class"][L.NEUTRAL]
    assert sorted(set(index.subjects)) == ["DC", "JE", "JK", "KL"]
    with7 = quiet(read_savee, os.path.join(folder, "AudioVisualClip"), include_neutral=True)
    assert with7.class_counts() == report["per_class"]
    summary = with7.summary()
    assert summary["num_images"] == summary["num_videos"] == len(with7)
    capture = cv2.VideoCapture(str(index.paths[0]))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    capture.release()
    half = index.subset(index.subjects == "DC")
    assert set(half.subjects) == {"DC"} and len(half) == len(index) // 4


def test_savee_errors(tmp_path, copy_of):
    with pytest.raises(DatasetError, match="does not exist"):
        quiet(read_savee, tmp_path / "nope")
    with pytest.raises(DatasetError, match="no clips found"):
        quiet(read_savee, tmp_path)
    folder, _ = copy_of("savee")
    clip = first_file(folder, "sa01.avi")
    shutil.copy(clip, os.path.join(os.path.dirname(clip), "x01.avi"))
    with pytest.raises(DatasetError, match=r"x01.avi has no known emotion code"):
        quiet(read_savee, folder)
    os.remove(os.path.join(os.path.dirname(clip), "x01.avi"))
    corrupt(clip)
    with pytest.raises(DatasetError, match=r"sa01.avi is not a readable video"):
        quiet(read_savee, folder)
    assert len(quiet(read_savee, folder, verify=False)) == 4 * 6 * 2


def test_enterface_index_and_flat_subject_6(written):
    folder, report = written("enterface", num_subjects=6, sentences=1)
    subject6 = os.path.join(folder, "subject 6", "anger")
    assert os.listdir(subject6) == ["s6_an_1.avi"]  # no sentence folder
    index = quiet(read_enterface, folder)
    assert index.class_counts() == report["per_class"]
    assert sorted(set(index.subjects)) == [f"s{n}" for n in range(1, 7)]
    assert "subject 1/anger/sentence 1/s1_an_1" in index.groups


def test_enterface_errors(tmp_path, copy_of):
    with pytest.raises(DatasetError, match="does not exist"):
        quiet(read_enterface, tmp_path / "nope")
    with pytest.raises(DatasetError, match="no 'subject N' folders"):
        quiet(read_enterface, tmp_path)
    (tmp_path / "subject 1" / "anger").mkdir(parents=True)
    with pytest.raises(DatasetError, match="hold no clips"):
        quiet(read_enterface, tmp_path)
    folder, _ = copy_of("enterface")
    clip = first_file(folder, "s1_an_1.avi")
    odd = os.path.join(folder, "subject 1", "boredom")
    os.makedirs(odd)
    shutil.copy(clip, os.path.join(odd, "s1_bo_1.avi"))
    with pytest.raises(DatasetError, match=r"s1_bo_1.avi has the unknown emotion code 'bo'"):
        quiet(read_enterface, folder)
    os.rename(os.path.join(odd, "s1_bo_1.avi"), os.path.join(odd, "clip.avi"))
    with pytest.raises(DatasetError, match=r"cannot tell the emotion of .*clip.avi"):
        quiet(read_enterface, folder)
    shutil.rmtree(odd)
    shutil.copy(clip, os.path.join(os.path.dirname(clip), "s1_ha_9.avi"))
    with pytest.warns(UserWarning, match=r"1 clip\(s\) lie in an emotion folder .*"
                                         r"s1_ha_9.avi; the folder's emotion is used"):
        index = quiet(read_enterface, folder)
    assert index.labels[[p.endswith("s1_ha_9.avi") for p in index.paths]].tolist() == [
        L.SIX_BASIC.index(L.ANGER)]
    os.remove(os.path.join(os.path.dirname(clip), "s1_ha_9.avi"))
    corrupt(clip)
    with pytest.raises(DatasetError, match=r"s1_an_1.avi is not a readable video"):
        quiet(read_enterface, folder)


# ------------------------------------------------------------- check report

def test_check_dataset_report_and_text(written):
    folder, report = written("fer2013")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetCountWarning)  # reported, not warned
        result = check_dataset("fer2013", folder, **QUIET)
    json.dumps(result)
    for key in ("dataset", "num_images", "per_class", "num_subjects", "splits",
                "official", "differences"):
        assert key in result
    assert result["differences"]["splits/Training"] == {
        "found": report["splits"]["Training"], "official": 28709}
    text = format_check(result)
    assert "PublicTest" in text and "happiness" in text and "28709" in text
    assert "splits/Training: found 42, official 28709" in text


def test_official_counts_follow_options():
    ck = official_counts("ckplus", L.CKPLUS_CLASSES)
    assert ck["num_images"] == 1308 and ck["num_subjects"] == 118
    ck7 = official_counts("ckplus", tuple(c for c in L.CKPLUS_CLASSES if c != L.NEUTRAL))
    assert ck7["num_images"] == 981
    assert official_counts("savee", L.SIX_BASIC)["num_images"] == 360
    assert official_counts("savee", L.SFEW_CLASSES)["num_images"] == 480
    folders = official_counts("fer2013", L.FER2013_CLASSES, ["Training", "PrivateTest"])
    assert folders["splits"] == {"Training": 28709, "PrivateTest": 7178}
    csv = official_counts("fer2013", L.FER2013_CLASSES, ["Training", "PublicTest"])
    assert csv["splits"]["PrivateTest"] == 3589
    full = official_counts("fer2013", L.FER2013_CLASSES, list(O.FER2013_PER_SPLIT))
    assert full["splits"]["PrivateTest"] == 3589
    summary = {"num_images": 7178, "per_class": {}, "splits": {"PrivateTest": 7178},
               "per_split_class": {"PrivateTest": folders["per_split_class"]["PrivateTest"]}}
    diffs = count_differences(summary, folders)
    assert diffs["splits/Training"] == {"found": 0, "official": 28709}
    assert "per_split_class/PrivateTest/anger" not in diffs
    assert official_counts("affectnet") == {}


def test_fer2013_compressed_by_hand(tmp_path):
    text = "emotion,pixels,Usage\n" + f"5,{_pixels(200)},PrivateTest\n"
    with lzma.open(tmp_path / "data.csv.xz", "wt") as f:
        f.write(text)
    records = quiet(read_fer2013, tmp_path / "data.csv.xz")
    assert records.labels.tolist() == [5] and records.split.tolist() == ["PrivateTest"]


# ------------------------------------------- mixed sizes and the transform hook

def test_ckplus_default_layout_mixes_sizes_like_the_release(written):
    folder, report = written("ckplus")
    # 640x490 grey, 720x480 colour and 640x480 grey frames, scaled to 96 rows.
    assert set(report["frame_sizes"]) == {"96x125", "94x141x3", "94x125"}
    with pytest.raises(DatasetError, match=r"different sizes: 125x96 .*141x94.*125x94"):
        quiet(read_ckplus, folder)
    common = quiet(read_ckplus, folder, size="common", channels=3)
    assert common.image_shape == (96, 125, 3)
    colour = [i for i, s in enumerate(common.sources) if cv2.imread(s).shape[1] == 141]
    grey = [i for i in range(len(common)) if i not in colour]
    assert colour and grey
    tint = common.images[colour].astype(int)
    assert (tint[..., 0] - tint[..., 2]).mean() > 10  # R above B: a colour frame
    np.testing.assert_array_equal(common.images[grey][..., 0], common.images[grey][..., 2])
    assert check_dataset("ckplus", folder, **QUIET)["num_images"] == len(common)


def test_transform_hook_sees_every_image_at_its_own_size(written):
    folder, _ = written("ckplus")
    seen = []

    def to_32x40(image, source, landmarks):
        seen.append((image.shape, source, landmarks.shape))
        out = cv2.resize(image, (40, 32), interpolation=cv2.INTER_AREA)
        return out, landmarks * np.array([40 / image.shape[1], 32 / image.shape[0]])

    records = quiet(read_ckplus, folder, transform=to_32x40)
    assert records.image_shape == (32, 40, 1) and len(seen) == len(records)
    assert {s[0] for s in seen} == {(96, 125), (94, 141), (94, 125)}
    assert [s[1] for s in seen] == list(records.sources)
    assert records.landmarks[..., 0].max() <= 40 and records.landmarks[..., 1].max() <= 32
    jaffe_dir, _ = written("jaffe")
    small = quiet(read_jaffe, jaffe_dir, channels=3,
                  transform=lambda im, src, pts: (im[:8, :6], pts))
    assert small.image_shape == (8, 6, 3)
    fer_dir, _ = written("fer2013")
    fer = quiet(read_fer2013, fer_dir, transform=lambda im, src, pts: (im[4:20, 2:30], pts))
    assert fer.image_shape == (16, 28, 1)


def test_reader_mistakes_are_dataset_errors(tmp_path, copy_of, capsys):
    from fer_tf import cli

    folder, _ = copy_of("ckplus")
    emotion = first_file(os.path.join(folder, "Emotion"), "_emotion.txt")
    for text in ("nan\n", "inf\n"):
        with open(emotion, "w") as f:
            f.write(text)
        with pytest.raises(DatasetError, match=r"_emotion.txt has emotion code .*integer 0-7"):
            quiet(read_ckplus, folder)
    code = cli.main(["data", "check", "--dataset", "ckplus", "--data-dir", folder])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert os.path.basename(emotion) in err and "Traceback" not in err
    # A .gz whose deflate stream is damaged (zlib.error, not an OSError).
    data = gzip.compress(("emotion,pixels,Usage\n" + f"0,{_pixels()},Training\n" * 40)
                         .encode())
    data = data[:20] + bytes(b ^ 0x55 for b in data[20:60]) + data[60:]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "fer2013.csv.gz").write_bytes(data)
    with pytest.raises(DatasetError, match=r"cannot read .*fer2013.csv.gz"):
        quiet(read_fer2013, tmp_path / "bad")
    code = cli.main(["data", "check", "--dataset", "fer2013", "--data-dir",
                     str(tmp_path / "bad")])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and "fer2013.csv.gz" in err
    jaffe_dir, _ = copy_of("jaffe")
    with pytest.raises(DatasetError, match="jaffe: channels must be 1"):
        quiet(read_jaffe, jaffe_dir, channels=2)
    for size in ((0, 4), "big", (1, 2, 3)):
        with pytest.raises(DatasetError, match=r"jaffe: size must be .*\(height, width\)"):
            quiet(read_jaffe, jaffe_dir, size=size)
