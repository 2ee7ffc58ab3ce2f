"""Runs an experiment script (or `python -c` code) as CI does: a fresh
process from the repository root, offline, quiet TensorFlow, Agg plots."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(args, env=None, timeout=900):
    """subprocess.CompletedProcess of `python ARGS` (text stdout/stderr)."""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, MPLBACKEND="Agg",
                    FER_TF_OFFLINE="1", **(env or {}))
    return subprocess.run([sys.executable] + args, capture_output=True, text=True, cwd=ROOT,
                          env=full_env, timeout=timeout)
