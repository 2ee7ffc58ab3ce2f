"""Landmark part-ensemble performance targets (issue: ensemble inference and
one face end to end on 2 CPU cores).

    python benchmarks/landmark_ensemble.py            # 160 x 160, 7 classes
    python benchmarks/landmark_ensemble.py --frames 50 --detector haar

1. Ensemble inference at batch 64: achieved GFLOP/s (Eq. 7-9 FLOPs from the
   counter / median time) as a fraction of the fp32 matmul throughput this
   process measures (target >= 0.6; `fer_tf.evaluation.efficiency`).
2. One face end to end (Sec. III-A/B pipeline): grey 640 x 480 frame ->
   300 x 300 -> CLAHE -> face detector -> crop -> 160 x 160 -> [-1, 1] ->
   five sub-networks at batch 1; the median time of each stage and the frames
   per second (target >= 15).
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _frame(size=(480, 640)):
    """A synthetic grey frame with one face (a CK+-sized frame)."""
    import numpy as np

    from fer_tf.data.synthetic import make_synthetic
    from fer_tf.preprocess import image_ops

    face = make_synthetic(num_subjects=1, images_per_class=1, classes=("happiness",),
                          size=240).images[0, ..., 0]
    frame = np.full(size, int(np.median(face)), np.uint8)
    top, left = (size[0] - 240) // 2, (size[1] - 240) // 2
    frame[top:top + 240, left:left + 240] = face
    return image_ops.check_image(frame)


def end_to_end(ensemble, detector_name, frames):
    """Median seconds of each pipeline stage over `frames` runs of one face."""
    import numpy as np
    import tensorflow as tf

    from fer_tf.preprocess import faces, image_ops

    detector = faces.make_detector(detector_name)
    size = tuple(ensemble.members[0].input_shape[1:3])
    forward = tf.function(lambda x: ensemble(x, training=False)["probabilities"])
    frame = _frame()
    stages = {"resize 300": [], "clahe": [], "detect": [], "crop+resize": [],
              "normalise": [], "5 sub-networks": []}
    missed = 0
    for i in range(frames + 2):          # two warm-up frames (tracing)
        t = [time.perf_counter()]
        small = image_ops.resize_image(frame, (300, 300), "bilinear")
        t.append(time.perf_counter())
        small = image_ops.clahe(small)
        t.append(time.perf_counter())
        boxes = detector.detect(small)
        t.append(time.perf_counter())
        crop = faces.crop_face(small, boxes[0]) if boxes else small
        crop = image_ops.resize_image(crop, size, "bilinear")
        t.append(time.perf_counter())
        crop = crop if crop.ndim == 3 else crop[..., None]
        x = np.repeat(crop[..., :1], 3, axis=-1)[None].astype(np.float32) / 127.5 - 1.0
        t.append(time.perf_counter())
        np.asarray(forward(x))
        t.append(time.perf_counter())
        if i >= 2:
            missed += not boxes
            for name, a, b in zip(stages, t, t[1:]):
                stages[name].append(b - a)
    medians = {name: statistics.median(v) for name, v in stages.items()}
    return medians, missed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input-size", type=int, default=160)
    p.add_argument("--num-classes", type=int, default=7)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--detector", default="auto",
                   help="auto (SSD when its files are found, else dlib HOG), haar, dlib, ssd")
    args = p.parse_args(argv)
    from fer_tf.evaluation.efficiency import count_flops, measure_latency
    from fer_tf.models.landmark_ensemble import el_ensemble

    shape = (args.input_size, args.input_size, 3)
    ensemble = el_ensemble(args.num_classes, shape)
    flops = count_flops(ensemble, shape)
    latency = measure_latency(ensemble, shape, flops=flops, batch_sizes=(64,),
                              repeats=args.repeats)
    b64 = latency["batches"]["64"]
    print(f"ensemble {shape}: {flops / 1e9:.3f} GFLOPs per image (Eq. 7-9)")
    print(f"batch 64: {1000 * b64['seconds_per_image']:.2f} ms/image, "
          f"{b64['achieved_gflops']:.1f} GFLOP/s; {latency.get('peak_dtype', 'float32')} matmul "
          f"{latency['matmul_gflops']:.1f} "
          f"GFLOP/s; peak fraction {b64['peak_fraction']:.2f} (target >= 0.60)")
    medians, missed = end_to_end(ensemble, args.detector, args.frames)
    total = sum(medians.values())
    print(f"one face end to end ({args.frames} frames, detector {args.detector}, "
          f"{missed} missed):")
    for name, seconds in medians.items():
        print(f"  {name:<15} {1000 * seconds:8.2f} ms")
    print(f"  {'total':<15} {1000 * total:8.2f} ms = {1 / total:.1f} frames/s (target >= 15)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
