"""Parameters, FLOPs (landmark paper Eq. 7-9), storage and measured latency of
every registered model, against this machine's fp32 matmul throughput.

Prints, per model, the median time per image at batch 1 and 64, the achieved
GFLOP/s (Eq. 7-9 FLOPs / time) and `peak_fraction`, the fraction of the fp32
matrix-multiply GFLOP/s measured in the same process (so a figure from one
machine can be read against another), then the markdown table README shows.
Issue 10 asks the landmark ensemble for peak_fraction >= 0.6 at batch 64 on 2
CPU cores.

    python benchmarks/efficiency.py [--models landmark_ensemble,baseline_cnn]
        [--repeats 5] [--batch-sizes 1,64]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fer_tf.evaluation import efficiency  # noqa: E402
from fer_tf.models import registry  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", help="comma-separated registered names (default: all)")
    parser.add_argument("--repeats", type=int, default=5, help="timed batches per batch size")
    parser.add_argument("--batch-sizes", default="1,64")
    parser.add_argument("--matmul-size", type=int, default=2048)
    args = parser.parse_args()
    names = args.models.split(",") if args.models else [s.name for s in registry.list_models()]
    batches = tuple(int(b) for b in args.batch_sizes.split(","))
    summaries = []
    for name in names:
        summary = efficiency.summarize_registered(name, latency=True, batch_sizes=batches,
                                                  repeats=args.repeats,
                                                  matmul_size=args.matmul_size)
        summaries.append(summary)
        print(efficiency.format_summary(summary), flush=True)
        print()
    print(efficiency.markdown_table(summaries), end="")


if __name__ == "__main__":
    main()
