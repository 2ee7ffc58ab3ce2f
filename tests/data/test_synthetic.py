import cv2
import numpy as np
import pytest

from fer_tf.data import ibug68, labels
from fer_tf.data import synthetic
from fer_tf.errors import ConfigError


def _identities(n, domain="default", seed=0):
    return [synthetic.sample_identity(np.random.default_rng([seed, i]), f"S{i + 1:03d}",
                                      domain) for i in range(n)]


def _pixels(img, points):
    # Continuous coordinates: the pixel holding (x, y) is (floor(y), floor(x)).
    p = np.floor(points).astype(int)
    return img[p[:, 1], p[:, 0]].astype(np.float64)


def _cheeks(lm):
    # Half-way between the lower eyelid and the mouth corner, moved outwards:
    # plain skin with no drawn feature.
    left = 0.5 * (lm[41] + lm[48]) - (0.6 * (lm[39, 0] - lm[36, 0]), 0.0)
    right = 0.5 * (lm[46] + lm[54]) + (0.6 * (lm[45, 0] - lm[42, 0]), 0.0)
    return np.stack([left, right])


def test_action_units_neutral_zero_and_linear():
    neutral = synthetic.action_units("neutral", 1.0)
    assert set(neutral) == set(synthetic.ACTION_UNITS)
    assert all(v == 0.0 for v in neutral.values())
    for name in synthetic.CLASSES[1:]:
        full = synthetic.action_units(name, 1.0)
        half = synthetic.action_units(name, 0.5)
        assert max(full.values()) > 0.5
        assert all(np.isclose(half[k], 0.5 * full[k]) for k in full)
    assert synthetic.action_units("contempt", 1.0)["unilateral_corner"] == 1.0
    with pytest.raises(ConfigError):
        synthetic.action_units("boredom", 1.0)
    with pytest.raises(ConfigError):
        synthetic.action_units("anger", 1.5)


def test_landmark_order_follows_ibug_300w():
    for identity in _identities(6):
        for name in synthetic.CLASSES:
            img, lm = synthetic.render_face(identity, synthetic.action_units(name, 1.0),
                                            size=96, augment=False)
            assert img.shape == (96, 96) and img.dtype == np.uint8
            assert lm.shape == (68, 2) and lm.dtype == np.float32
            assert np.all(np.diff(lm[0:17, 0]) > 0), "jaw must run image left -> right"
            assert np.all(np.diff(lm[17:22, 0]) > 0) and np.all(np.diff(lm[22:27, 0]) > 0)
            assert lm[21, 0] < lm[22, 0]
            brows, eyes = lm[17:27, 1].mean(), lm[36:48, 1].mean()
            assert brows < eyes < lm[30, 1] < lm[48:68, 1].mean() < lm[8, 1]
            assert lm[27, 1] < lm[28, 1] < lm[29, 1] < lm[30, 1]
            assert np.all(np.diff(lm[31:36, 0]) > 0)
            # 36-41 is the subject's right eye: image left; 36 and 45 are the
            # outer corners.
            assert lm[36:42, 0].max() < lm[42:48, 0].min()
            assert lm[36, 0] < lm[39, 0] and lm[42, 0] < lm[45, 0]
            assert lm[37:39, 1].mean() < lm[40:42, 1].mean()
            assert lm[48, 0] < lm[51, 0] < lm[54, 0]
            assert lm[51, 1] < lm[62, 1] <= lm[66, 1] < lm[57, 1]
            assert np.all((lm >= 0) & (lm < 96))


def _pixel_mirror_axis(img):
    """The continuous x about which the image is most mirror-symmetric.

    Searched on the half-pixel grid: mirroring about x = a maps the centre
    j + 0.5 of column j to that of column 2a - 1 - j.
    """
    img = img.astype(np.float64)
    width = img.shape[1]
    columns = np.arange(width)
    mismatch = {}
    for twice in range(width // 2, 3 * width // 2):
        partner = twice - 1 - columns
        ok = (partner >= 0) & (partner < width)
        mismatch[twice / 2] = np.abs(img[:, columns[ok]] - img[:, partner[ok]]).mean()
    best = min(mismatch, key=mismatch.get)
    assert mismatch[best] < 0.2 * min(mismatch[best - 0.5], mismatch[best + 0.5])
    return best


@pytest.mark.parametrize("name", ["neutral", "surprise"])
def test_landmarks_and_pixels_share_the_continuous_convention(name):
    # A symmetric face: its pixels and its landmarks must mirror about the
    # same line, in x and (rolled by 90 degrees) in y. An index convention
    # (pixel centre at j) would put the landmarks' axis half a pixel off.
    identity = synthetic.Identity(id="S001")
    aus = synthetic.action_units(name, 1.0)
    base = dict(roll=0.0, yaw=0.0, pitch=0.0, scale=1.0, tx=0.0, ty=0.0)
    img, lm = synthetic.render_face(identity, aus, size=96, augment=False, pose=base,
                                    background=40.0)
    axis = _pixel_mirror_axis(img)
    pairs = lm + lm[ibug68.FLIP_PERMUTATION]
    np.testing.assert_allclose(pairs[:, 0] / 2, axis, atol=1e-3)
    np.testing.assert_allclose(ibug68.flip_landmarks(lm, 2 * axis), lm, atol=1e-3)
    # Landmarks of the flipped array (x -> W - x) mirror about the flipped axis.
    flipped = ibug68.flip_landmarks(lm, 96)
    assert _pixel_mirror_axis(img[:, ::-1]) == 96 - axis
    np.testing.assert_allclose((flipped + flipped[ibug68.FLIP_PERMUTATION])[:, 0] / 2,
                               96 - axis, atol=1e-3)

    rolled, lm = synthetic.render_face(identity, aus, size=96, augment=False,
                                       pose=dict(base, roll=90.0, ty=-0.05),
                                       background=40.0)
    pairs = lm + lm[ibug68.FLIP_PERMUTATION]
    np.testing.assert_allclose(pairs[:, 1] / 2, _pixel_mirror_axis(rolled.T), atol=1e-3)


def test_drawn_features_are_darker_than_cheeks():
    for identity in _identities(8, seed=3):
        for name in synthetic.CLASSES:
            img, lm = synthetic.render_face(identity, synthetic.action_units(name, 0.8),
                                            size=96, augment=False)
            cheek = _pixels(img, _cheeks(lm)).mean()
            for sl in (slice(36, 48), slice(17, 27), slice(48, 68)):
                assert _pixels(img, lm[sl]).mean() < cheek - 20, (identity.id, name, sl)


def test_landmarks_follow_the_drawing_under_rotation():
    identity = _identities(1, seed=7)[0]
    aus = synthetic.action_units("happiness", 1.0)
    base = dict(roll=0.0, yaw=0.0, pitch=0.0, scale=1.0, tx=0.0, ty=0.0)
    img0, lm0 = synthetic.render_face(identity, aus, size=96, augment=False, pose=base,
                                      background=40.0)
    img1, lm1 = synthetic.render_face(identity, aus, size=96, augment=False,
                                      pose=dict(base, roll=20.0), background=40.0)
    centre = (48.0, 0.55 * 96)  # in OpenCV's pixel-index space
    rot = cv2.getRotationMatrix2D(centre, -20.0, 1.0)  # OpenCV: positive = counter-clockwise
    # Continuous coordinates are OpenCV's index coordinates + 0.5.
    expected = (lm0 - 0.5) @ rot[:, :2].T + rot[:, 2] + 0.5
    np.testing.assert_allclose(lm1, expected, atol=1e-3)
    warped = cv2.warpAffine(img0, rot, (96, 96), borderValue=40)
    inner = slice(20, 76)
    corr = np.corrcoef(warped[inner, inner].ravel(), img1[inner, inner].ravel())[0, 1]
    assert corr > 0.95


def test_augmented_faces_keep_features_under_their_landmarks():
    rng = np.random.default_rng(11)
    darker = []
    for identity in _identities(6, seed=4):
        for name in ("neutral", "fear", "happiness"):
            img, lm = synthetic.render_face(identity, synthetic.action_units(name, 1.0),
                                            size=96, rng=rng, occlusion_rate=0.0)
            darker.append(_pixels(img, lm[36:48]).mean() < _pixels(img, _cheeks(lm)).mean())
    assert np.mean(darker) >= 0.9


def test_make_synthetic_counts_metadata_and_label_sets():
    r = synthetic.make_synthetic(num_subjects=3, images_per_class=2, size=32, seed=1)
    assert r.class_names == labels.CKPLUS_CLASSES
    assert r.images.shape == (48, 32, 32, 1) and r.images.dtype == np.uint8
    assert r.class_counts() == {c: 6 for c in labels.CKPLUS_CLASSES}
    assert sorted(set(r.subjects)) == ["S001", "S002", "S003"]
    assert len(set(r.groups)) == len(r) and r.groups[0] == "S001/neutral/0"
    assert r.landmarks.shape == (48, 68, 2)
    assert np.all((r.landmarks > -8) & (r.landmarks < 40))
    seven = synthetic.make_synthetic(num_subjects=2, images_per_class=1, size=32,
                                     classes="fer2013", channels=3)
    assert seven.class_names == labels.FER2013_CLASSES and seven.image_shape == (32, 32, 3)
    assert np.array_equal(seven.images[..., 0], seven.images[..., 2])
    six = synthetic.make_synthetic(num_subjects=2, images_per_class=1, size=32,
                                   classes="six")
    assert six.class_counts() == {c: 2 for c in labels.SIX_BASIC}


def test_make_synthetic_is_deterministic_by_seed():
    a = synthetic.make_synthetic(num_subjects=2, images_per_class=2, size=32, seed=5)
    b = synthetic.make_synthetic(num_subjects=2, images_per_class=2, size=32, seed=5)
    c = synthetic.make_synthetic(num_subjects=2, images_per_class=2, size=32, seed=6)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    np.testing.assert_array_equal(a.groups, b.groups)
    assert not np.array_equal(a.images, c.images)
    # A subject's faces do not depend on how many subjects are generated.
    more = synthetic.make_synthetic(num_subjects=3, images_per_class=2, size=32, seed=5)
    np.testing.assert_array_equal(more.images[:len(a)], a.images)


def test_identities_differ_between_subjects():
    ids = _identities(4)
    shapes = [i.neutral_landmarks() for i in ids]
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(shapes[i] - shapes[j]).max() > 0.01
    savee = _identities(8, domain="savee")
    assert all(i.hair_style != "long" for i in savee)


def test_sequence_ramps_from_neutral_to_apex():
    identity = _identities(1)[0]
    frames, marks = synthetic.make_sequence(identity, "surprise", num_frames=6, size=64,
                                            rng=np.random.default_rng(0))
    assert frames.shape == (6, 64, 64) and marks.shape == (6, 68, 2)
    opening = marks[:, 66, 1] - marks[:, 62, 1]
    assert np.all(np.diff(opening) > 0)
    brow_to_eye = marks[:, 37, 1] - marks[:, 19, 1]
    assert np.all(np.diff(brow_to_eye) > 0)
    # Frame 0 is the neutral face of the same camera set-up.
    _, neutral_marks = synthetic.make_sequence(identity, "happiness", num_frames=3,
                                               size=64, rng=np.random.default_rng(0))
    np.testing.assert_allclose(marks[0], neutral_marks[0], atol=1e-4)


def test_video_shapes_boxes_and_domains():
    videos = {d: synthetic.make_video_dataset(num_subjects=2, videos_per_class=1,
                                              classes=("anger", "happiness"), domain=d,
                                              num_frames=4, seed=0)
              for d in ("savee", "enterface")}
    for domain, vids in videos.items():
        assert len(vids) == 4
        assert [v.label for v in vids] == ["anger", "happiness"] * 2
        for v in vids:
            assert v.frames.shape == (4, 120, 160, 3) and v.frames.dtype == np.uint8
            assert v.landmarks.shape == (4, 68, 2) and v.face_boxes.shape == (4, 4)
            assert v.domain == domain and v.subject.startswith(domain[:2].upper())
            x, y, w, h = v.face_boxes.T
            lm = v.landmarks
            assert np.all(x <= lm[..., 0].min(axis=1)) and np.all(y <= lm[..., 1].min(axis=1))
            assert np.all(x + w >= lm[..., 0].max(axis=1))
            assert np.all(y + h >= lm[..., 1].max(axis=1))
            assert np.all((lm[..., 0] >= 0) & (lm[..., 0] < 160))
            assert np.all((lm[..., 1] >= 0) & (lm[..., 1] < 120))
    size = {d: np.mean([v.face_boxes[:, 2].mean() for v in vids]) for d, vids in videos.items()}
    assert size["enterface"] < size["savee"]
    assert {v.subject for v in videos["savee"]}.isdisjoint(
        {v.subject for v in videos["enterface"]})


def test_haar_cascade_finds_the_synthetic_faces():
    # The very Viola-Jones step the PathNet pipeline runs (PathNet Sec. III-A).
    from fer_tf.preprocess.faces import HaarFaceDetector

    detector = HaarFaceDetector()
    hits = []
    for domain in ("savee", "enterface"):
        for v in synthetic.make_video_dataset(num_subjects=2, videos_per_class=1,
                                              domain=domain, num_frames=4, seed=3):
            hits.extend(len(detector.detect(frame)) == 1 for frame in v.frames)
    assert np.mean(hits) >= 0.8, f"video frames: {np.mean(hits):.2f} detected"
    crops = synthetic.make_synthetic(num_subjects=4, images_per_class=1, size=96, seed=3)
    found = [len(detector.detect(img)) == 1 for img in crops.images]
    assert np.mean(found) >= 0.8, f"96x96 crops: {np.mean(found):.2f} detected"


def test_bad_options_raise_config_errors():
    identity = _identities(1)[0]
    with pytest.raises(ConfigError, match="domain"):
        synthetic.make_synthetic(num_subjects=1, images_per_class=1, domain="mars")
    with pytest.raises(ConfigError, match="label set"):
        synthetic.make_synthetic(num_subjects=1, images_per_class=1, classes="nine")
    with pytest.raises(ConfigError, match="channels"):
        synthetic.make_synthetic(num_subjects=1, images_per_class=1, channels=2)
    with pytest.raises(ConfigError, match="intensity_range"):
        synthetic.make_synthetic(num_subjects=1, images_per_class=1,
                                 intensity_range=(0.5, 1.5))
    with pytest.raises(ConfigError, match="action parameter"):
        synthetic.render_face(identity, {"smile": 1.0})
    with pytest.raises(ConfigError, match="pose"):
        synthetic.render_face(identity, {}, pose={"tilt": 3.0})
    with pytest.raises(ConfigError, match="face_size"):
        synthetic.make_video(identity, "anger", face_size=200)
    with pytest.raises(ConfigError, match="hair_style"):
        synthetic.Identity(id="S001", hair_style="mohawk")


def _module_imports(module):
    """Modules imported at module level (not inside functions) by `module`."""
    import ast
    import importlib.util

    tree = ast.parse(open(importlib.util.find_spec(module).origin).read())
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            for alias in node.names:  # `from fer_tf.data import labels` imports a module
                name = f"{node.module}.{alias.name}"
                try:
                    found = name.startswith("fer_tf.") and importlib.util.find_spec(name)
                except ModuleNotFoundError:  # a class or function, not a module
                    found = None
                if found:
                    yield name


def test_the_generator_needs_neither_tensorflow_nor_keras():
    # `import fer_tf` loads Keras to register the package's classes; the
    # generator itself, and every fer_tf module it imports, must not need it.
    seen, todo = set(), ["fer_tf.data.synthetic"]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in _module_imports(module):
            assert name.split(".")[0] not in ("tensorflow", "keras"), (module, name)
            if name.startswith("fer_tf.") and name not in seen:
                todo.append(name)
    assert "fer_tf.data.synthetic.images" in seen and "fer_tf.data.pixels" in seen


def test_outputs_for_a_seed_are_pinned():
    # Values recorded from the generator; a refactor must keep them (pixels
    # to +-1 grey level, as OpenCV's float blur may round differently).
    r = synthetic.make_synthetic(num_subjects=2, images_per_class=1, size=32, seed=5)
    np.testing.assert_allclose(r.images.astype(np.float64).mean(), 109.7312, atol=0.05)
    np.testing.assert_allclose(r.images[:4, 16, 16, 0], [159, 117, 137, 181], atol=1)
    np.testing.assert_allclose(r.images[3, ::8, ::8, 0],
                               [[27, 36, 181, 86], [26, 97, 108, 157],
                                [26, 178, 181, 159], [25, 22, 153, 22]], atol=1)
    np.testing.assert_allclose(r.landmarks[[0, 9]][:, [0, 36, 67]],
                               [[[7.8446, 14.1503], [10.3984, 13.8549], [14.8072, 22.4564]],
                                [[5.6722, 13.7850], [10.1234, 14.4519], [14.4433, 25.1486]]],
                               atol=1e-3)
    identity = synthetic.sample_identity(np.random.default_rng([1, 2]), "S001")
    frames, marks = synthetic.make_sequence(identity, "fear", num_frames=3, size=48,
                                            rng=np.random.default_rng(3))
    np.testing.assert_allclose(frames.astype(np.float64).mean(), 99.2708, atol=0.05)
    np.testing.assert_allclose(marks[2, [8, 30]], [[19.6190, 41.6062], [21.1110, 28.2435]],
                               atol=1e-3)
    video = synthetic.make_video_dataset(num_subjects=1, videos_per_class=1,
                                         classes=("anger",), domain="enterface",
                                         num_frames=2, seed=1)[0]
    assert video.subject == "EN001"
    np.testing.assert_allclose(video.frames.astype(np.float64).mean(), 96.7386, atol=0.05)
    np.testing.assert_allclose(video.landmarks[1, [8, 45]],
                               [[50.1854, 64.7958], [62.0790, 37.1566]], atol=1e-3)
    np.testing.assert_array_equal(video.face_boxes, [[26, 23, 44, 44], [28, 25, 44, 44]])

