"""Speed, Haar detectability and learnability of the embedded synthetic faces.

Targets (issue 2 item 3, issue 4 item 4): at least 1,000 96x96 images per
second on one core; OpenCV's Viola-Jones frontal-face cascade finds exactly
one face in >= 90% of the synthetic video frames and >= 80% of 96x96 crops.

    python benchmarks/synthetic_speed.py                 # speed + Haar rates
    python benchmarks/synthetic_speed.py --learnability  # + logistic regression

Prints one `name=value` line per figure.
"""

import argparse
import time

import cv2
import numpy as np

from fer_tf.data import synthetic


def _time(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _one_face_rate(detector, images):
    return float(np.mean([len(detector.detect(g)) == 1 for g in images]))


def _learnability(seed):
    """Held-out-subject accuracy of a linear classifier on 48x48 pixels."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    # A few hundred L-BFGS steps settle the held-out score; full convergence
    # on 2,304 correlated pixels only costs minutes.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    data = synthetic.make_synthetic(num_subjects=24, images_per_class=10, size=48,
                                    seed=seed)
    x = data.images.reshape(len(data), -1).astype(np.float32)
    x = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)
    fold = np.array([int(s[1:]) % 3 for s in data.subjects])
    scores = []
    for k in range(3):
        test = fold == k
        clf = LogisticRegression(C=0.05, max_iter=500)
        clf.fit(x[~test], data.labels[~test])
        scores.append(clf.score(x[test], data.labels[test]))
    return float(np.mean(scores))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000,
                        help="number of 96x96 images to time (rounded to whole subjects)")
    parser.add_argument("--videos-per-domain", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learnability", action="store_true",
                        help="also fit a logistic regression on held-out subjects")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # the target is per core

    per_subject = 8 * 10
    subjects = max(1, round(args.images / per_subject))
    synthetic.make_synthetic(num_subjects=1, images_per_class=1, size=96)  # warm-up
    crops, seconds = _time(lambda: synthetic.make_synthetic(
        num_subjects=subjects, images_per_class=10, size=96, seed=args.seed))
    print(f"images={len(crops)}")
    print(f"images_per_second={len(crops) / seconds:.1f}")

    videos = {}
    frames = 0
    total = 0.0
    for domain in ("savee", "enterface"):
        vids, seconds = _time(lambda d=domain: synthetic.make_video_dataset(
            num_subjects=max(1, args.videos_per_domain // 6), videos_per_class=1,
            domain=d, seed=args.seed))
        videos[domain] = vids
        frames += sum(len(v.frames) for v in vids)
        total += seconds
    print(f"video_frames={frames}")
    print(f"video_frames_per_second={frames / total:.1f}")

    # The pipeline's own Viola-Jones step (fer_tf.preprocess.faces).
    from fer_tf.preprocess.faces import HaarFaceDetector

    detector = HaarFaceDetector()
    rates = {}
    for domain, vids in videos.items():
        rates[domain] = _one_face_rate(detector, [f for v in vids for f in v.frames])
        print(f"haar_one_face_rate_frames_{domain}={rates[domain]:.4f}")
    print(f"haar_one_face_rate_frames={np.mean(list(rates.values())):.4f}")
    sample = crops.images[:: max(1, len(crops) // 400)]
    print(f"haar_one_face_rate_96px={_one_face_rate(detector, sample):.4f} "
          f"(n={len(sample)})")
    if args.learnability:
        print(f"logreg_heldout_subject_accuracy_48px={_learnability(args.seed):.4f} "
              f"(chance=0.125)")


if __name__ == "__main__":
    main()
