"""Exports that Cellpose itself consumes: a training folder it trains on, and model weights it
loads and predicts with exactly as the server does. Slow: these run Cellpose (CPU, tiny inputs)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from active_learning.backends.cellpose import CellposeBackend, model_input
from active_learning.backends.settings import parse_backend_settings
from active_learning.model_transfer import export_zip
from active_learning.versions import create_version
from annotations.api.export_serializers import export_options
from annotations.imaging import read_crop_pixels
from annotations.imports import ImportOptions, import_annotations
from annotations.models import Crop
from tests.conftest import DATA
from tests.factories import make_project

pytestmark = pytest.mark.slow

U2OS = "10ba6cbee487"  # 67 nuclei, 520x696


@pytest.fixture
def nuclei(db, tmp_path):
    """A project with one labelled U2OS image tiled into 128-px crops."""
    folder = tmp_path / "data"
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
        shutil.copy(DATA / "dsb2018_u2os" / sub / f"{U2OS}.png", folder / sub)
    project = make_project("nuclei", crop_size=128, validation_fraction=0.0,
                           backend_settings={"predict": {"cellprob_threshold": -2.0}})
    import_annotations(project, folder, ImportOptions(format="tiff"))
    return project


def unzip(project, tmp_path: Path, **params) -> tuple[Path, dict]:
    target = tmp_path / "export.zip"
    manifest = export_zip(project, export_options(params), target)
    with zipfile.ZipFile(target) as archive:
        archive.extractall(tmp_path / "export")
    return tmp_path / "export", manifest


def test_an_exported_cellpose_folder_trains_with_train_seg(nuclei, tmp_path):
    from cellpose import io as cellpose_io
    from cellpose import models, train

    folder, _ = unzip(nuclei, tmp_path, format="cellpose")
    images, labels, *_ = cellpose_io.load_train_test_data(str(folder / "cellpose" / "crops"), image_filter="_img",
                                                          mask_filter="_masks")
    assert len(images) == 30 and all(image.shape == (128, 128) for image in images)
    chosen = [i for i, mask in enumerate(labels) if len(np.unique(mask)) > 4][:2]  # two crops with cells
    model = models.CellposeModel(gpu=False, pretrained_model=False)
    (tmp_path / "train" / "models").mkdir(parents=True)  # train_seg saves into <save_path>/models/
    weights, train_losses, _ = train.train_seg(
        model.net, train_data=[images[i] for i in chosen], train_labels=[labels[i] for i in chosen],
        channels=[0, 0], n_epochs=2, batch_size=2, bsize=112, min_train_masks=1, learning_rate=0.01,
        save_path=str(tmp_path / "train"), model_name="from_export",
    )
    assert len(train_losses) == 2 and np.isfinite(train_losses).all()
    whole_images, whole_labels, *_ = cellpose_io.load_train_test_data(
        str(folder / "cellpose" / "images"), image_filter="_img", mask_filter="_masks")
    assert whole_images[0].shape[:2] == whole_labels[0].shape == (520, 696)
    reloaded = models.CellposeModel(gpu=False, pretrained_model=str(weights))
    assert reloaded.pretrained_model == str(weights)


def test_exported_weights_load_in_cellpose_and_predict_like_the_server(nuclei, tmp_path):
    from cellpose import models

    settings = parse_backend_settings(nuclei.backend_settings)
    weights = CellposeBackend(None, settings).save_weights(tmp_path / "fresh.pth")  # a fresh, seeded network
    version = create_version(nuclei, weights, origin="scratch", settings=nuclei.backend_settings,
                             metrics={"ap50": 0.0}, history=[{"epoch": 0, "loss": 1.0, "val_loss": None}])
    folder, manifest = unzip(nuclei, tmp_path, model=str(version.number))

    assert manifest["model_version"]["number"] == version.number
    card = json.loads((folder / manifest["model_version"]["card"]).read_text())
    assert card["settings"] == nuclei.backend_settings and card["metrics"] == {"ap50": 0.0}
    assert card["weights_sha256"] == version.weights_sha256 and card["origin"] == "scratch"
    exported = folder / manifest["model_version"]["weights"]

    crop = Crop.objects.filter(project=nuclei).order_by("id")[7]
    pixels = read_crop_pixels(crop)
    server = CellposeBackend(Path(version.weights.path), settings).predict([pixels])[0]  # as the server loads it
    p = settings.predict
    masks, flows, _ = models.CellposeModel(gpu=False, pretrained_model=str(exported)).eval(
        model_input(pixels, settings.channels), channels=None, channel_axis=2,
        normalize={"normalize": True, "norm3D": False, "invert": False}, diameter=p.diameter,
        flow_threshold=p.flow_threshold, cellprob_threshold=p.cellprob_threshold, min_size=p.min_size,
        tile_overlap=p.tile_overlap, bsize=224,
    )
    assert np.allclose(flows[2], server.cellprob, atol=1e-5)
    assert np.array_equal(masks, server.masks)
