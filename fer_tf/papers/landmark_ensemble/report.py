"""The landmark paper's tables and figures from an experiment's results:
Table I (networks and part networks), Table II (with the counter's
parameters), Table III (cross-dataset), Sec. III-E efficiency, Sec. V-B
landmark errors, Fig. 7-9 confusion matrices, Fig. 10 landmarks before and
after fine-tuning, Fig. 11 Grad-CAM; each beside the paper's numbers.
"""

import glob
import os

import numpy as np

from fer_tf.evaluation.metrics import fold_mean_interval, fold_mean_text, percent, wilson_text
from fer_tf.evaluation.report import (atomic_savefig, command_lines, comparison_table,
                                      plot_confusion_matrix)
from fer_tf.io import atomic_write_text
from fer_tf.models.landmark_ensemble import presets
from fer_tf.models.saving import load_model

NETWORK_NAMES = {"baseline": "Baseline", "ftl": "FTL", "el": "EL"}
#: This paper's page, with the deviations table; results.md links to it.
DOCS_PAGE = "docs/papers/landmark_ensemble.md"
#: Fig. 4 / Fig. 10 colours: eyebrows blue, eyes green, nose light blue,
#: mouth red, jaw pink.
PART_COLOURS = {"eyebrows": "blue", "eyes": "green", "nose": "deepskyblue", "mouth": "red",
                "jaw": "hotpink"}


def efficiency_figures(num_classes, input_shape):
    """Sec. III-E by the counter: the ensemble at the paper's 160 x 160 and
    at the run's input size (parameters do not depend on it)."""
    from fer_tf.evaluation.efficiency import summarize
    from fer_tf.models.landmark_ensemble.model import el_ensemble

    out = {}
    for label, shape in (("paper_input", presets.INPUT_SHAPE), ("run_input", input_shape)):
        s = summarize(el_ensemble(num_classes, tuple(shape)), keras_file=False)
        member = s["components"][0] if s["components"] else {}
        out[label] = {"input_shape": list(shape), "params": s["params"],
                      "member_params": member.get("params"), "gflops": s["gflops"],
                      "member_gflops": (member.get("flops") or 0) / 1e9,
                      "float32_mb": s["params"] * 4 / 1e6,
                      "conv_flops_share": s["conv_flops_share"]}
        if tuple(shape) == tuple(input_shape):
            out["run_input"] = out[label]
    return out


def fold_mean(m):
    """Mean over folds of a network's ensemble accuracy (the paper's average)."""
    return fold_mean_interval(m["fold_accuracies"])[0]


def table_i(metrics, paper):
    """Table I: each accuracy as the paper averages it, the mean over folds
    (Sec. II: "the average performance across the ten models") with its 95%
    Student-t interval over the folds, beside the paper; then the pooled
    accuracy (confusion matrices summed over folds) with its 95% Wilson
    interval over the n test faces, a different average when folds differ
    in size."""
    rows = []

    def row(name, fold_accs, pooled, n, paper_value, folds=""):
        mean = fold_mean_interval(fold_accs)[0] if fold_accs else None
        return {"name": name, "mean": percent(mean),
                "t_ci": fold_mean_text(fold_accs or []) or None, "paper": paper_value,
                "pooled": percent(pooled), "wilson": wilson_text(pooled, n) or None, "n": n,
                "folds": folds or None}

    for network, m in metrics["networks"].items():
        n = int(np.sum(m["confusion_matrix"]))
        rows.append(row(NETWORK_NAMES[network], m["fold_accuracies"], m["accuracy"], n,
                        paper.get(network) if paper else None,
                        " ".join(f"{100 * a:.1f}" for a in m["fold_accuracies"])))
        member_folds = m.get("member_fold_accuracies") or {}
        if network == "el":
            for part, acc in m["members"].items():
                rows.append(row(f"EL {part} alone", member_folds.get(part), acc, n,
                                paper.get(part) if paper else None))
        else:
            means = [fold_mean_interval(a)[0] for a in member_folds.values()]
            r = row(f"{NETWORK_NAMES[network]} members alone (mean)", None,
                    float(np.mean(list(m["members"].values()))), n, None)
            r.update(mean=percent(np.mean(means)) if means else None, wilson=None)
            rows.append(r)
    return comparison_table(rows, ("mean", "t_ci", "paper", "pooled", "wilson", "n", "folds"),
                            ["network", "accuracy % (ours, mean over folds)",
                             "95% t-interval over folds", "paper (mean over folds)",
                             "pooled % (summed confusion)", "95% Wilson CI (pooled)", "n",
                             "per fold %"])


def table_ii(metrics, dataset):
    cb = presets.TABLE_II.get(dataset)
    eff = metrics["efficiency"]["paper_input"]
    el = metrics["networks"].get("el")
    rows = [{"name": "accuracy % (mean over folds)",
             "cb": cb and f"{cb['cb_accuracy']:.2f} {cb['cb_reference']}",
             "paper": cb and cb["el_accuracy"], "ours": el and percent(fold_mean(el))},
            {"name": "parameters (M)", "cb": cb and cb["cb_params_m"],
             "paper": cb and cb["el_params_m"], "ours": eff["params"] / 1e6}]
    return comparison_table(rows, ("cb", "paper", "ours"),
                            ["", "current benchmark", "EL (paper)", "EL (ours)"], digits=3)


def table_iii(metrics):
    """Table III with n and the 95% Wilson interval of every figure, and what
    each test set lacks or drops against the training classes."""
    rows, notes = [], []
    for other, nets in metrics["cross"].items():
        paper = presets.TABLE_III.get(other, {})
        for network, m in nets.items():
            n = int(np.sum(m["confusion_matrix"]))
            named = [(NETWORK_NAMES[network], m["accuracy"], paper.get(network))]
            if network == "el":
                named += [(f"EL {part}", acc, paper.get(part))
                          for part, acc in m["members"].items()]
            rows += [{"name": f"{metrics['dataset']} -> {other}: {name}", "ours": percent(acc),
                      "ci": wilson_text(acc, n), "n": n, "paper": value}
                     for name, acc, value in named]
        test = (metrics.get("cross_test_sets") or {}).get(other)
        if test and (test["missing_classes"] or test["dropped_classes"]):
            notes.append(f"{other}: {test['images']} images; classes dropped (not in "
                         f"{metrics['dataset']}): {', '.join(test['dropped_classes']) or '-'}; "
                         f"classes of {metrics['dataset']} with no {other} image: "
                         f"{', '.join(test['missing_classes']) or '-'} (still predictable, "
                         "so an error when predicted).")
    table = comparison_table(rows, ("ours", "ci", "n", "paper"),
                             ["train -> test", "accuracy %", "95% Wilson CI", "n", "paper"])
    return table + ("\n" + "\n".join(notes) + "\n" if notes else "")


def efficiency_table(metrics):
    eff, p = metrics["efficiency"], presets.PAPER_EFFICIENCY
    ours = eff["paper_input"]
    rows = [{"name": "parameters, one sub-network", "paper": "0.33M",
             "ours": f"{ours['member_params']:,}"},
            {"name": "parameters, ensemble", "paper": "1.65M", "ours": f"{ours['params']:,}"},
            {"name": "GFLOPs, one sub-network (Eq. 7-9)", "paper": f"{p['subnetwork_gflops']}",
             "ours": f"{ours['member_gflops']:.4f}"},
            {"name": "GFLOPs, ensemble", "paper": f"{p['ensemble_gflops']}",
             "ours": f"{ours['gflops']:.4f}"},
            {"name": "storage, ensemble (float32)", "paper": f"{p['ensemble_storage_mb']} MB",
             "ours": f"{ours['float32_mb']:.2f} MB"}]
    run = eff["run_input"]
    if run["input_shape"] != ours["input_shape"]:
        rows.append({"name": f"GFLOPs, ensemble at this run's {run['input_shape'][0]} px",
                     "paper": None, "ours": f"{run['gflops']:.4f}"})
    classes = metrics["networks"] and len(next(iter(metrics["networks"].values()))[
        "confusion_matrix"])
    return comparison_table(rows, ("paper", "ours"),
                            ["Sec. III-E", "paper (8 classes)", f"fer_tf ({classes} classes)"])


def faces_text(faces):
    """One sentence on face detection: how many images had a face found, and
    only where some had none, that those were used whole."""
    images, detected = int(faces["images"]), int(faces["detected"])
    missed = images - detected
    if int(faces.get("missed", missed)) != missed:
        raise ValueError(f"face counts disagree: {faces}")
    detector = f" ({faces['detector']})" if faces.get("detector") else ""
    if not missed:
        return f"Faces: the detector{detector} found a face in all {images} images."
    return (f"Faces: the detector{detector} found a face in {detected} of {images} "
            f"images; the other {missed} were used whole (listed in config.json).")


def landmark_table(metrics):
    """Sec. V-B per part; FTL's five 68-point members are averaged."""
    rows = []
    for network, m in metrics["networks"].items():
        errors = m.get("landmark_mae") or {}
        if network == "ftl" and errors:
            parts = next(iter(errors.values()))
            errors = {f"{len(errors)} members (mean)": {
                part: {w: float(np.mean([e[part][w] for e in errors.values()]))
                       for w in ("before", "after")} for part in parts}}
        for member, parts in errors.items():
            for part, e in parts.items():
                rows.append({"name": f"{NETWORK_NAMES[network]} {member}: {part}",
                             "before": e["before"], "after": e["after"],
                             "change": e["after"] - e["before"]})
    return comparison_table(rows, ("before", "after", "change"),
                            ["sub-network: part", "MAE before fine-tuning",
                             "MAE after (head put back)", "change"], digits=4)


def confusion_text(matrix, class_names):
    lines = ["| actual \\ predicted | " + " | ".join(class_names) + " |",
             "|" + "---|" * (len(class_names) + 1)]
    for name, row in zip(class_names, matrix):
        lines.append(f"| {name} | " + " | ".join(str(int(v)) for v in row) + " |")
    return "\n".join(lines) + "\n"


def paper_confusion(dataset, class_names):
    """Fig. 7-9 reordered to our class order, or None."""
    paper = presets.PAPER_CONFUSION.get(dataset)
    if paper is None or set(paper["classes"]) != set(class_names):
        return None
    order = [paper["classes"].index(c) for c in class_names]
    return np.asarray(paper["matrix"])[np.ix_(order, order)]


def write_figures(run, summary, class_names, first_folds, test, input_shape, dataset):
    """Fig. 7-9 (ours and the paper's), Fig. 10 and Fig. 11 into plots/."""
    for network, m in summary.items():
        plot_confusion_matrix(m["confusion_matrix"], class_names,
                              run.file("plots", f"confusion_{network}.png"),
                              title=f"{NETWORK_NAMES[network]} on {dataset}, summed over "
                                    f"folds (accuracy {m['accuracy']:.1%})")
    paper = paper_confusion(dataset, class_names)
    if paper is not None:
        plot_confusion_matrix(paper, class_names, run.file("plots", "confusion_paper.png"),
                              title=f"paper's EL on {dataset} (Fig. 7-9)")
    _gradcam_figure(run, first_folds, test, input_shape, class_names)
    if "el" in first_folds or "ftl" in first_folds:
        _landmark_figure(run, first_folds, test)


def _gradcam_figure(run, first_folds, test, input_shape, class_names, count=3):
    """Fig. 11: per-member heatmaps and their union for the first test faces."""
    from fer_tf.evaluation.gradcam import ensemble_gradcam, plot_gradcam
    from fer_tf.papers.landmark_ensemble.experiment import _inputs

    images = _inputs(test.subset(np.arange(min(count, len(test)))), input_shape)
    for network, fold_run in first_folds.items():
        ensemble = load_model(fold_run.file("ensemble.keras"))
        result = ensemble_gradcam(ensemble, images)
        for i in range(len(images)):
            panels = {name.split("_", 1)[1]: r["heatmaps"][i]
                      for name, r in result["members"].items()}
            panels["union"] = result["union"][i]
            predicted = class_names[int(result["class_index"][i])]
            plot_gradcam(images[i], panels, run.file("plots", f"gradcam_{network}_{i}.png"),
                         title=f"{NETWORK_NAMES[network]}: Grad-CAM of {predicted} "
                               f"(true {class_names[int(test.labels[i])]})",
                         class_name=predicted)


def _landmark_figure(run, first_folds, test, count=3):
    """Fig. 10: points before (top) and after fine-tuning (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fer_tf.data import ibug68

    network = "el" if "el" in first_folds else "ftl"
    files = sorted(glob.glob(first_folds[network].file("landmarks_*.npz")))
    if not files:
        return
    loaded = [np.load(f) for f in files]
    count = min(count, len(test))
    fig, axes = plt.subplots(2, count, figsize=(2.6 * count, 5.4), squeeze=False)
    for i in range(count):
        for row, when in enumerate(("before", "after")):
            ax = axes[row, i]
            ax.imshow(test.images[i, ..., 0], cmap="gray")
            for data in loaded:
                part = str(data["part"])
                points = data[when][i]
                names = [part] if part != "all" else list(ibug68.PART_NAMES)
                index = ibug68.part_indices(part)
                for name in names:
                    sel = np.isin(index, ibug68.part_indices(name))
                    # Continuous coordinates: pixel centres sit at +0.5.
                    ax.scatter(points[sel, 0] - 0.5, points[sel, 1] - 0.5, s=6,
                               c=PART_COLOURS.get(name, "yellow"))
            # Points the network puts outside the crop are clipped, not drawn
            # by shrinking the face.
            ax.set_xlim(0, test.images.shape[2])
            ax.set_ylim(test.images.shape[1], 0)
            ax.set_title(f"{when} fine-tuning", fontsize=8)
            ax.axis("off")
    fig.suptitle(f"{NETWORK_NAMES[network]}: landmarks before / after fine-tuning "
                 "(Fig. 10)", fontsize=9)
    fig.tight_layout()
    atomic_savefig(fig, run.file("plots", "landmarks_before_after.png"))
    plt.close(fig)


#: Sec. II's training part of each protocol, for the report.
TRAINING_PARTS = {"ckplus": "the nine other folds (Sec. II)",
                  "jaffe": "the nine other subjects (Sec. II)",
                  "sfew": "all of SFEW Train (Sec. II)",
                  "synthetic": "every subject not held out for testing"}


def _training_set_text(metrics, budget, dataset):
    """The training set and stopping rule of the run, in one paragraph."""
    sizes = metrics.get("split_sizes") or {}
    counts = "; ".join(f"fold {k}: train {v['train']}, validation {v['val']}, test {v['test']}"
                       for k, v in sizes.items())
    fraction = float(budget.get("val_fraction") or 0.0)
    part = TRAINING_PARTS.get(dataset, "the protocol's training part")
    held = (f"{part}, nothing held out" if not fraction else
            f"{part}, less {fraction:.0%} of its subjects (of its images without subject "
            "ids) held out for validation (`--val-fraction`)")
    return (f"Training set: {held}. Stopping: {metrics.get('stopping', '-')}"
            + (" (Sec. III-D3 epochs; the paper stops \"when the validation loss "
               "saturates\" but names no validation set)" if not fraction else "")
            + (f". Images per fold: {counts}." if counts else "."))


def _paper_budget_text(dataset, budget):
    """The paper's budget (Sec. III-C1, III-D3) beside this run's, in one line."""
    paper = presets.PAPER_EPOCHS.get(dataset)
    if paper is None:
        return "The paper trains no network on this data; its CK+ budget is the reference."
    cut = [] if budget["input_size"] == presets.INPUT_SHAPE[0] else [
        f"input {budget['input_size']} px instead of {presets.INPUT_SHAPE[0]}"]
    if float(budget["epochs_scale"]) != 1.0 or budget.get("landmark_epochs"):
        cut.append("fewer epochs")
    return (f"The paper's budget for {dataset} (Sec. III-C1, III-D3): {presets.INPUT_SHAPE[0]} "
            f"x {presets.INPUT_SHAPE[0]} crops; Baseline {paper['baseline']} epochs; FTL/EL "
            f"landmarks {paper['landmarks']}, head and fine-tuning {paper['head_and_finetune']}"
            f". Cut here: {', '.join(cut) if cut else 'nothing'}.")


def write_report(run, metrics, config):
    """results.md: every table beside the paper's, the budget and the protocol."""
    dataset = metrics["dataset"]
    paper = presets.TABLE_I.get(dataset)
    budget = metrics["budget"]
    recipes = config["recipes"]
    stages = {n: [(s["name"], s["epochs"]) for s in r["stages"]] or [("direct", r["epochs"])]
              for n, r in recipes.items()}
    lines = [f"# Landmark part ensemble on {dataset}", ""]
    lines += command_lines(config, "finished folds")
    lines += [
             f"Protocol: {config['protocol']}, folds {metrics['folds']}; input "
             f"{budget['input_size']} x {budget['input_size']}, epochs scaled by "
             f"{budget['epochs_scale']} of Sec. III-D3"
             + (f" and the landmark stage's own {budget['landmark_epochs']} epochs, not "
                f"scaled and without early stopping"
                if budget.get("landmark_epochs") else "")
             + " (per stage: "
             + "; ".join(f"{n}: " + ", ".join(f"{s} {e}" for s, e in st)
                         for n, st in stages.items())
             + f"), class-balanced batches: {budget['class_balanced']}; "
             f"{metrics['seconds']:.0f} s in this process"
             + (f", {metrics['member_seconds']:.0f} s of member training in all"
                if metrics.get("member_seconds") else "") + "."
             + (f" Precision: {metrics['precision']['policy']} "
                f"({metrics['precision']['reason']})." if metrics.get("precision") else ""),
             "", _paper_budget_text(dataset, budget), "",
             "FTL/EL head and fine-tuning epochs: Sec. III-D3 gives one budget for the two "
             "together and calls the head stage \"a few epochs\"; fer_tf gives the head "
             f"{presets.HEAD_SHARE:.0%} of it and fine-tuning the other "
             f"{1 - presets.HEAD_SHARE:.0%} (`presets.HEAD_SHARE`).", "",
             _training_set_text(metrics, budget, dataset), "",
             f"Deviations from the paper: {DOCS_PAGE} (in the fer_tf repository).", ""]
    if paper is None:
        lines += ["The paper has no figures for this data; the paper column is empty "
                  "(its CK+ row: " + ", ".join(f"{k} {v}" for k, v in
                                               presets.TABLE_I["ckplus"].items()) + ").", ""]
    if dataset == "ckplus" and len(config["class_names"]) != 8:
        lines += [f"This CK+ copy has {len(config['class_names'])} classes (CK+48: the last "
                  "three frames only, no neutral first frames), not the paper's 8 classes and "
                  "1,308 images (Sec. II): the paper column is not like for like.", ""]
    if metrics.get("test_set"):
        lines += [f"Test set: {metrics['test_set']} The paper's SFEW column is measured on "
                  "Val: not like for like.", ""]
    if metrics["faces"]["detected"] is not None:
        lines += [faces_text(metrics["faces"]), ""]
    classes = len(config["class_names"])
    lines += ["## Table I: accuracy (ensemble: Eq. 4), mean over folds beside the paper",
              "", table_i(metrics, paper),
              f"Chance is {100 / classes:.2f}% ({classes} classes). The paper's figures "
              "are averages over folds (Sec. II), so they stand beside our mean over folds, "
              "with its 95% Student-t interval over the folds (n - 1 degrees of freedom, "
              "clipped to 0-100; none with one fold). The pooled accuracy (confusion "
              "matrices summed over folds, Fig. 7-9) weights folds by their size, a "
              "different average; its interval is the test faces' sampling error (Wilson, "
              "95%). Each network was trained once per fold.", ""]
    ordering = [fold_mean(metrics["networks"][n]) for n in ("el", "ftl", "baseline")
                if n in metrics["networks"]]
    if len(ordering) == 3:
        holds = ordering[0] >= ordering[1] >= ordering[2]
        lines += [f"The paper's ordering EL >= FTL >= Baseline {'holds' if holds else 'does NOT hold'}"
                  f" here (means over folds: EL {100 * ordering[0]:.2f}, FTL "
                  f"{100 * ordering[1]:.2f}, Baseline {100 * ordering[2]:.2f}).", ""]
    lines += ["## Table II: against the current benchmark", "", table_ii(metrics, dataset)]
    if metrics["cross"]:
        lines += ["## Table III: cross-dataset", "", table_iii(metrics)]
    lines += ["## Sec. III-E: efficiency (fer_tf.evaluation.efficiency)", "",
              efficiency_table(metrics),
              "Parameters match the authors' architecture exactly; the FLOPs are what "
              "Eq. 7-9 give for that architecture (0.67 GFLOPs per sub-network, not the "
              "printed 0.555), and the paper's 31.5 MB applies the factor 5 twice "
              f"({DOCS_PAGE}).", ""]
    study = landmark_table(metrics)
    if study.count("\n") > 2:
        lines += ["## Sec. V-B: landmark error before vs after fine-tuning", "",
                  "Mean absolute difference (Eq. 1, coordinates / crop size) on the test "
                  "faces, averaged over folds; after = fine-tuned extractor with the "
                  "stage-1 localisation head put back (plots/landmarks_before_after.png, "
                  "Fig. 10).", "", study]
    for network, m in metrics["networks"].items():
        lines += [f"## Confusion matrix, {NETWORK_NAMES[network]} (Fig. 7-9)", "",
                  confusion_text(m["confusion_matrix"], config["class_names"])]
    ours_paper = paper_confusion(dataset, config["class_names"])
    if ours_paper is not None:
        lines += ["Paper's EL (Fig. 7-9), same class order:", "",
                  confusion_text(ours_paper, config["class_names"])]
    lines += ["Figures: plots/confusion_<network>.png, plots/gradcam_<network>_<i>.png "
              "(Fig. 11), plots/landmarks_before_after.png (Fig. 10).", ""]
    atomic_write_text(os.path.join(run.path, "results.md"), "\n".join(lines))
