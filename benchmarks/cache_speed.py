"""Preprocessing cache: a second run must read the cache >= 20x faster.

Builds a few hundred face crops with 68 dlib landmarks from synthetic
SAVEE-style videos (Viola-Jones with the PathNet previous-box rule, crop,
resize, dlib ERT landmarks), caches them, then asks for the same key again.
Also times OpenCV's Viola-Jones (`HaarFaceDetector`) on one frame of SAVEE's
320x256 and eNTERFACE's 720x576 size.

    python benchmarks/cache_speed.py [--subjects 4] [--frames 6] [--cache-dir DIR]

Prints the number of frames, both times, their ratio, and the per-frame
detection times.
"""

import argparse
import pathlib
import shutil
import tempfile
import time

import numpy as np

from fer_tf.data.synthetic import make_video, make_video_dataset, sample_identity
from fer_tf.preprocess.cache import cached
from fer_tf.preprocess.faces import HaarFaceDetector
from fer_tf.preprocess.landmarks import DlibLandmarker
from fer_tf.preprocess.video import faces_from_videos


def time_haar(detector, frame_size, face_size, repeats=5):
    """Median seconds of `detector.detect` on one synthetic frame, and its faces."""
    rng = np.random.default_rng(0)
    identity = sample_identity(rng, "BENCH", "savee")
    frame = make_video(identity, "happiness", num_frames=1, frame_size=frame_size,
                       face_size=face_size, rng=rng, domain="savee").frames[0]
    found = detector.detect(frame)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.detect(frame)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), len(found)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--videos-per-class", type=int, default=2)
    parser.add_argument("--frames", type=int, default=6, help="frames per video")
    parser.add_argument("--size", type=int, default=64, help="crop side in pixels")
    parser.add_argument("--cache-dir", default=None,
                        help="cache folder (default: a temporary one, removed after)")
    args = parser.parse_args()

    videos = make_video_dataset(num_subjects=args.subjects,
                                videos_per_class=args.videos_per_class,
                                classes="six", domain="savee", num_frames=args.frames)
    class_names = tuple(sorted({v.label for v in videos}))
    detector = HaarFaceDetector()
    landmarker = DlibLandmarker()
    key = {"dataset": "synthetic-savee", "subjects": args.subjects,
           "videos_per_class": args.videos_per_class, "frames": args.frames,
           "settings": {"size": args.size, "grayscale": True, "landmarks": "dlib68",
                        **detector.config()}}

    def build():
        return faces_from_videos(videos, class_names, size=args.size, detector=detector,
                                 landmarker=landmarker, name="synthetic-savee",
                                 return_stats=True)

    cache_dir = pathlib.Path(args.cache_dir or tempfile.mkdtemp(prefix="fer_tf_cache_"))
    try:
        start = time.perf_counter()
        records, stats = cached(key, build, cache_dir, name="synthetic-savee")
        first = time.perf_counter() - start
        start = time.perf_counter()
        again, _ = cached(key, build, cache_dir, name="synthetic-savee")
        second = time.perf_counter() - start
    finally:
        if args.cache_dir is None:
            shutil.rmtree(cache_dir, ignore_errors=True)
    assert len(again) == len(records)
    print(f"frames: {len(records)} ({stats['videos']} videos), crops "
          f"{records.image_shape}, landmarks {records.landmarks.shape[1:]}, "
          f"Viola-Jones single-face rate {stats['detection_rate']:.3f}")
    print(f"first run (detect + crop + landmarks + write): {first:.2f} s "
          f"({1000 * first / len(records):.1f} ms/frame)")
    print(f"second run (read cache): {second:.4f} s")
    print(f"speed-up: {first / second:.0f}x (target >= 20x)")
    # SAVEE's and eNTERFACE's frame sizes, faces about 40% of the frame height.
    for frame_size, face_size in (((256, 320), 100), ((576, 720), 230)):
        seconds, found = time_haar(detector, frame_size, face_size)
        print(f"HaarFaceDetector on {frame_size[1]}x{frame_size[0]}: "
              f"{1000 * seconds:.1f} ms/frame ({found} face(s))")
    seconds, found = time_haar(HaarFaceDetector(max_side=360), (720, 576), 230)
    print(f"HaarFaceDetector(max_side=360) on 720x576: {1000 * seconds:.1f} ms/frame "
          f"({found} face(s))")


if __name__ == "__main__":
    main()
