import importlib.util
import pathlib

import cv2
import numpy as np
import pytest

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def astronaut():
    """The 224x224 RGB public-domain NASA portrait (tests/fixtures/README.md)."""
    image = cv2.imread(str(FIXTURES / "astronaut.png"), cv2.IMREAD_COLOR)
    assert image is not None, "tests/fixtures/astronaut.png is missing"
    return np.ascontiguousarray(image[..., ::-1])


@pytest.fixture(scope="session")
def landmarker():
    from fer_tf.preprocess.landmarks import DlibLandmarker

    return DlibLandmarker()


class FakeDetector:
    """Returns a scripted list of boxes per call, to test tracking rules."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = 0

    def detect(self, image):
        boxes = self.script[self.calls % len(self.script)]
        self.calls += 1
        return list(boxes)


@pytest.fixture
def fake_detector():
    return FakeDetector


@pytest.fixture(scope="session")
def tiny_ssd():
    """tests/preprocess/tiny_ssd.py, loaded by path (works in any import mode)."""
    spec = importlib.util.spec_from_file_location(
        "fer_tf_tests_tiny_ssd", pathlib.Path(__file__).with_name("tiny_ssd.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
