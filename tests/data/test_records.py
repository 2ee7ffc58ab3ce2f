import numpy as np
import pytest

from fer_tf.data.records import Records, concatenate
from fer_tf.errors import DatasetError
from tests.helpers.fake_data import tiny_records


def test_grayscale_images_get_a_channel_axis():
    r = Records(np.zeros((3, 8, 8), np.uint8), [0, 1, 0], ("anger", "fear"))
    assert r.image_shape == (8, 8, 1)
    assert r.num_classes == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(labels=[0, 5, 0]), "label values"),
    (dict(labels=[0, 1]), "labels have shape"),
    (dict(subjects=["a"]), "subjects has 1 entries"),
    (dict(landmarks=np.zeros((3, 5, 2))), "landmarks must be"),
])
def test_inconsistent_records_are_rejected(kwargs, message):
    args = dict(images=np.zeros((3, 8, 8, 1), np.uint8), labels=[0, 1, 0],
                class_names=("anger", "fear"))
    args.update(kwargs)
    with pytest.raises(DatasetError, match=message):
        Records(**args)


def test_with_classes_drops_and_relabels():
    r = tiny_records(classes=("anger", "happiness", "neutral"))
    six = r.with_classes(("happiness", "anger"))
    assert six.class_names == ("happiness", "anger")
    assert len(six) == len(r) * 2 // 3
    # Every image keeps its class: a happiness image is still bright where it was.
    kept = np.flatnonzero(r.labels != 2)
    np.testing.assert_array_equal(six.images, r.images[kept])
    expected = np.where(r.labels[kept] == 1, 0, 1)
    np.testing.assert_array_equal(six.labels, expected)
    with pytest.raises(DatasetError, match="no class"):
        r.with_classes(("contempt",))
    # A cross-dataset test set: a training class it lacks keeps its label, no image.
    cross = r.with_classes(("contempt", "neutral", "anger"), allow_missing=True)
    assert cross.class_names == ("contempt", "neutral", "anger")
    np.testing.assert_array_equal(cross.labels, np.where(r.labels[r.labels != 1] == 2, 1, 2))


def test_subset_split_and_summary():
    split = np.array(["Training", "PublicTest", "PrivateTest"] * 12)
    r = tiny_records(split=split)
    train = r.split_subset("Training")
    assert len(train) == 12 and set(train.split) == {"Training"}
    with pytest.raises(DatasetError, match="no split named"):
        r.split_subset("Val")
    s = r.summary()
    assert s["num_images"] == 36 and s["num_subjects"] == 6
    assert s["per_class"] == {"anger": 12, "happiness": 12, "neutral": 12}
    assert s["splits"] == {"PrivateTest": 12, "PublicTest": 12, "Training": 12}


def test_concatenate_checks_compatibility():
    a, b = tiny_records(seed=0), tiny_records(seed=1)
    both = concatenate([a, b])
    assert len(both) == len(a) + len(b)
    with pytest.raises(DatasetError, match="Cannot concatenate"):
        concatenate([a, tiny_records(size=8)])
