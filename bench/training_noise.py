"""How far does one fine-tune's AP move when only its random draws change? Retrains model
versions that `manage.py simulate_labelling --keep` kept, each from its own parent on exactly
the annotations it was trained on, with the crops in different orders, and evaluates each
retrained network on the project's validation crops as the promotion gate does. Cellpose 3
seeds its own draws (`np.random.seed(epoch)` in `train_seg`: crop order, rotations, scales), so
one training set always gives the same network and reseeding numpy or torch changes nothing;
shuffling the crops changes every draw and nothing else (repeat 0 keeps the recorded order and,
under the recorded settings, reproduces the recorded AP). The spread is a floor under any
comparison of strategies: two label orders whose models differ by less than it, averaged over a
few seeds, are not told apart.

    LABELSERVER_DATA_DIR=bench/out/simdata6-random-0 .venv/bin/python bench/training_noise.py \\
        --versions 1:3,3:3 --repeats 4 [--train average_last_share=0.5]

Each version is retrained with the settings it records (`ModelVersion.settings`); `--train
KEY=VALUE` overrides its training settings (backends/settings.py, `train`), to measure whether a
setting steadies fine-tuning. Versions trained before the backend recorded its own choices (the
learning rate, weight averaging) record nulls there, which take today's defaults: pass
`--train average_last_share=0` to retrain those trained before fine-tunes were averaged.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import simulation_breakdown  # noqa: F401  (puts the repo on the path and sets Django up)
import torch

from active_learning.datasets import LabelledCrop, labelled_crops, labelled_examples
from active_learning.evaluation import evaluate_masks
from active_learning.models import ModelVersion
from active_learning.versions import load_backend
from annotations.models import Split


def trained_set(version: ModelVersion) -> list[LabelledCrop]:
    return labelled_examples(version.trained_on.select_related("crop", "crop__image").order_by("crop_id"))


def retrain_ap50(version: ModelVersion, train: list[LabelledCrop], validation: list[LabelledCrop],
                 repeat: int) -> float:
    if repeat:
        train = [train[i] for i in np.random.default_rng(repeat).permutation(len(train))]
    backend = load_backend(version.project, version.parent)
    with tempfile.TemporaryDirectory() as out_dir:
        backend.train([e.image for e in train], [e.mask for e in train], out_dir=Path(out_dir))
        predictions = backend.predict([e.image for e in validation])
    return float(evaluate_masks([e.mask for e in validation], [p.masks for p in predictions])["ap50"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", required=True, help="PROJECT_ID:VERSION_NUMBER,... (fine-tuned versions)")
    parser.add_argument("--repeats", type=int, default=4, help="trainings per version, the recorded order first")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training setting (JSON value), e.g. n_epochs=24")
    args = parser.parse_args()
    overrides = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.train)}
    torch.set_num_threads(args.torch_threads)
    spreads = []
    for key in args.versions.split(","):
        project_id, number = (int(part) for part in key.split(":"))
        version = ModelVersion.objects.select_related("project", "parent").get(project_id=project_id, number=number)
        if version.parent is None:
            raise SystemExit(f"version {key} has no parent: pick a fine-tuned version")
        # The settings the version was trained with, in memory only: the project is not saved.
        settings = version.settings or version.project.backend_settings
        version.project.backend_settings = {**settings, "train": {**settings.get("train", {}), **overrides}}
        train, validation = trained_set(version), labelled_crops(version.project, Split.VALIDATION)
        started = time.perf_counter()
        aps = [retrain_ap50(version, train, validation, repeat) for repeat in range(args.repeats)]
        recorded = (version.metrics or {}).get("ap50")
        spreads.append(np.std(aps, ddof=1) if len(aps) > 1 else np.nan)
        print(f"{version.project.name} version {number} ({len(train)} crops, parent {version.parent.number}"
              f"{', train ' + json.dumps(overrides) if overrides else ''}): "
              f"recorded AP@0.5 {recorded:.3f}; retrained (recorded order first) "
              f"{', '.join(f'{ap:.3f}' for ap in aps)}: "
              f"mean {np.mean(aps):.3f}, sd {spreads[-1]:.3f}, range {max(aps) - min(aps):.3f} "
              f"({(time.perf_counter() - started) / len(aps):.0f} s each)", flush=True)
    print(f"mean sd of one fine-tune's AP@0.5 over {len(spreads)} training sets: {np.nanmean(spreads):.3f}")


if __name__ == "__main__":
    main()
