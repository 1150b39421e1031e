"""The Cellpose backend on small real crops: settings, input mapping, predict, train, reload, by-name weights.

Cellpose runs on the CPU with fixed seeds; it is imported once per test session. The trained model
is the run's `nuclei_model` (tests/nuclei_model.py, trained once per run on real U2OS crops): the
training tests here check the record of that training, the others predict with it.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from active_learning.backends.base import BackendError, EpochReport, TrainingDataError
from active_learning.backends.cellpose import WEIGHTS_FILE_NAME, CellposeBackend, model_input, resolve_device
from active_learning.backends.settings import (
    FINETUNE_AVERAGE_SHARE,
    FINETUNE_LEARNING_RATE,
    SCRATCH_LEARNING_RATE,
    BackendSettings,
    BackendSettingsError,
    backend_settings_schema,
    parse_backend_settings,
)
from active_learning.backends.weights import PretrainedUnavailable, WeightsError, validate_weights_file
from active_learning.evaluation import evaluate
from active_learning.versions import load_backend
from tests.conftest import DATA
from tests.nuclei_model import HELD_OUT_IMAGES, N_EPOCHS, RECIPE, TRAIN_IMAGES, u2os_window

# --- settings (fast) -------------------------------------------------------------------------------------


def test_it_fills_in_defaults():
    parsed = parse_backend_settings({})

    assert parsed == BackendSettings()
    assert parsed.start_from == "scratch" and parsed.channels == ()
    assert parsed.train.n_epochs == 30 and parsed.train.batch_size == 4 and parsed.train.train_tile == 112
    assert parsed.train.learning_rate is None  # chosen by where training starts (the backend)
    assert parsed.predict.diameter is None


def test_it_reads_every_setting_and_round_trips_through_json():
    data = {
        "start_from": "pretrained:nuclei",
        "channels": [1, 0],
        "normalize": False,
        "seed": 7,
        "promotion_margin": 0.01,
        "train": {"n_epochs": 30, "learning_rate": 0.01, "weight_decay": 0, "batch_size": 4, "train_tile": 224,
                  "min_train_masks": 3, "crops_per_epoch": 16, "rescale": False, "average_last_share": 0.3},
        "predict": {"diameter": 17, "flow_threshold": 0.6, "cellprob_threshold": -1, "min_size": 10,
                    "tile_overlap": 0.2, "batch_size": 16},
    }  # fmt: skip

    parsed = parse_backend_settings(data)

    assert parsed.channels == (1, 0) and parsed.pretrained_name == "nuclei"
    assert parsed.train.weight_decay == 0.0 and isinstance(parsed.train.weight_decay, float)
    assert parsed.predict.diameter == 17.0
    assert parse_backend_settings(parsed.to_dict()) == parsed


def test_it_takes_the_channels_from_the_project_unless_set():
    assert parse_backend_settings({}, model_channels=[2]).channels == (2,)
    assert parse_backend_settings({"channels": [0]}, model_channels=[2]).channels == (0,)


def test_it_lists_every_bad_field():
    with pytest.raises(BackendSettingsError) as caught:
        parse_backend_settings(
            {
                "start_from": "pretrained:cyto9",
                "channels": [0, 1, 2],
                "colour": "blue",
                "train": {"n_epochs": 1, "learning_rate": "fast", "train_tile": 100, "epochs": 3},
                "predict": {"diameter": -5, "flow_threshold": None},
            }
        )

    problems = caught.value.problems
    assert any(p.startswith("start_from names an unknown pretrained model 'cyto9'") for p in problems)
    assert any(p.startswith("channels may name at most 2 channels") for p in problems)
    assert any(p.startswith("colour is not a setting") for p in problems)
    assert "train.n_epochs must be between 2 and 100000 (got 1)" in problems
    assert "train.learning_rate must be a number (got 'fast')" in problems
    assert "train.train_tile must be a multiple of 16 (got 100)" in problems
    assert any(p.startswith("train.epochs is not a setting (known: n_epochs,") for p in problems)
    assert "predict.diameter must be between 1 and 1000 (got -5)" in problems
    assert "predict.flow_threshold must not be null" in problems
    assert len(problems) == 9
    assert caught.value.http_status == 400 and "train.n_epochs" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"start_from": "weights:"}, "start_from must name weights uploaded to this project as 'weights:<sha256>'"),
        ({"start_from": "nonsense"}, "start_from must be 'scratch', 'pretrained:<name>' or 'weights:<sha256>'"),
        ({"start_from": 3}, "start_from must be a string (got 3)"),
        ({"channels": "0"}, "channels must be a list of channel indices >= 0"),
        ({"channels": [-1]}, "channels must be a list of channel indices >= 0"),
        ({"normalize": "yes"}, "normalize must be true or false (got 'yes')"),
        ({"train": {"batch_size": True}}, "train.batch_size must be an integer (got True)"),
        ({"train": []}, "train must be an object (got list)"),
        ({"predict": {"cellprob_threshold": float("nan")}}, "predict.cellprob_threshold must be between -20 and 20"),
        ({"train": {"average_last_share": 1.5}}, "train.average_last_share must be between 0 and 1 (got 1.5)"),
    ],
)
def test_it_refuses_bad_values(data, problem):
    with pytest.raises(BackendSettingsError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_backend_settings(data)


def test_it_refuses_settings_that_are_not_an_object():
    with pytest.raises(BackendSettingsError, match="must be an object"):
        parse_backend_settings(["n_epochs", 3])  # type: ignore[arg-type]


def test_a_null_section_means_its_defaults():
    assert parse_backend_settings({"train": None, "predict": None}) == BackendSettings()


def test_its_json_schema_declares_every_setting_with_its_default_and_bounds():
    schema = backend_settings_schema()
    train = schema["$defs"]["TrainSettings"]

    assert set(schema["properties"]) == set(BackendSettings().to_dict())
    assert schema["additionalProperties"] is False and train["additionalProperties"] is False
    assert train["properties"]["n_epochs"] == {
        "type": "integer", "default": 30, "minimum": 2, "maximum": 100_000, "title": "N Epochs",
        "description": "training epochs",
    }  # fmt: skip
    assert train["properties"]["train_tile"]["multipleOf"] == 16
    assert schema["properties"]["channels"]["maxItems"] == 2


# --- crops as network input (fast) ------------------------------------------------------------------------


def test_a_grey_crop_feeds_the_first_input_and_leaves_the_second_empty():
    crop = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)

    x = model_input(crop, ())

    assert x.shape == (12, 10, 2) and x.dtype == np.float32
    assert np.array_equal(x[..., 0], crop) and not x[..., 1].any()


def test_multi_channel_crops_follow_the_model_channels():
    crop = np.stack([np.full((9, 9), v, np.uint16) for v in (10, 20, 60)], axis=-1)

    assert np.all(model_input(crop, ())[..., 0] == 30)  # no channels named: their mean, as grey
    assert np.all(model_input(crop, (2,))[..., 0] == 60)
    both = model_input(crop, (1, 0))
    assert np.all(both[..., 0] == 20) and np.all(both[..., 1] == 10)


def test_it_refuses_crops_the_network_cannot_take():
    with pytest.raises(BackendError, match=r"model channels \[3\] do not exist in a crop with 3 channel"):
        model_input(np.zeros((16, 16, 3)), (3,))
    with pytest.raises(BackendError, match="at least 8 pixels"):
        model_input(np.zeros((4, 16)), ())
    with pytest.raises(BackendError, match="NaN"):
        model_input(np.full((16, 16), np.nan), ())


def test_the_device_is_cpu_here_and_a_missing_gpu_is_a_clear_error(settings):
    assert resolve_device("auto").type == "cpu"
    settings.LABELSERVER = {**settings.LABELSERVER, "DEVICE": "cpu"}
    assert resolve_device().type == "cpu"
    with pytest.raises(BackendError, match="'cuda' was asked for"):
        resolve_device("cuda")


# --- real crops and models (slow) ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cellpose_loaded() -> None:
    """Import cellpose once per test session (7-10 s)."""
    from active_learning.backends.cellpose import cellpose_modules

    cellpose_modules()


@pytest.fixture(scope="module")
def fresh(cellpose_loaded) -> CellposeBackend:
    """An untrained network: the same settings and seed as the run's nuclei model before its training."""
    return CellposeBackend(None, parse_backend_settings(RECIPE))


@pytest.mark.slow
def test_it_predicts_masks_and_raw_outputs_for_grey_crops(fresh):
    crops = [u2os_window(0, size=128)[0], u2os_window(1, size=128)[0], u2os_window(2, size=96)[0][:, :80]]

    predictions = fresh.predict(crops)

    assert [p.masks.shape for p in predictions] == [(128, 128), (128, 128), (96, 80)]
    for prediction, crop in zip(predictions, crops, strict=True):
        assert prediction.masks.dtype == np.uint16
        assert prediction.cellprob.shape == crop.shape and prediction.cellprob.dtype == np.float32
        assert prediction.flows.shape == (2, *crop.shape) and prediction.flows.dtype == np.float32
        assert prediction.style.shape == (256,) and prediction.style.dtype == np.float32
        assert np.linalg.norm(prediction.style) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_it_predicts_multi_channel_crops_through_the_model_channels(cellpose_loaded):
    names = sorted((DATA / "dsb2018_brightfield" / "images").glob("*.png"))
    crops = [np.array(Image.open(p))[:128, :160, :3] for p in names[:2]]
    assert crops[0].shape == (128, 160, 3)

    for channels in ([], [0], [1, 2]):
        backend = CellposeBackend(None, parse_backend_settings({"channels": channels}))
        predictions = backend.predict(crops)
        assert [p.masks.shape for p in predictions] == [(128, 160)] * 2
        assert all(p.flows.shape == (2, 128, 160) for p in predictions)


@pytest.mark.slow
def test_batched_prediction_equals_one_crop_at_a_time(fresh):
    a, b = u2os_window(3, size=128)[0], u2os_window(5, size=128)[0]

    together = fresh.predict([a, b])
    alone = [fresh.predict([a])[0], fresh.predict([b])[0]]

    for x, y in zip(together, alone, strict=True):
        assert np.allclose(x.cellprob, y.cellprob, atol=1e-4)
        assert np.allclose(x.style, y.style, atol=1e-5)
        assert np.array_equal(x.masks, y.masks)


@pytest.mark.slow
def test_training_reports_every_epoch_and_lowers_the_loss(nuclei_model):
    result, reports = nuclei_model.training, nuclei_model.epochs

    assert [r.epoch for r in reports] == list(range(1, N_EPOCHS + 1))
    assert reports == result.history and not result.stopped_early
    assert all(r.n_epochs == N_EPOCHS and np.isfinite(r.loss) for r in reports)
    # train_seg measures the validation loss at epochs 0, 5, 10, 20, 30 (reported as 1, 6, 11, 21, 31)
    assert [r.epoch for r in reports if r.val_loss is not None] == [1, 6, 11, 21, 31]
    assert np.mean([r.loss for r in reports[-5:]]) < 0.7 * reports[0].loss
    assert reports[30].val_loss < reports[0].val_loss
    assert result.n_train_crops == len(TRAIN_IMAGES)


@pytest.mark.slow
def test_training_writes_a_loadable_weights_file(nuclei_model):
    backend, result = nuclei_model.backend, nuclei_model.training

    assert result.weights_path.name == WEIGHTS_FILE_NAME and backend.weights == result.weights_path
    assert [p.name for p in result.weights_path.parent.iterdir()] == [WEIGHTS_FILE_NAME]  # no scratch left
    info = validate_weights_file(result.weights_path)
    # The network records the mean diameter of the training cells: the default prediction scale.
    assert info.diam_labels == pytest.approx(result.cell_diameter) and 15 < info.diam_labels < 40
    assert backend.cell_diameter == pytest.approx(info.diam_labels)


@pytest.mark.slow
def test_a_reloaded_model_predicts_like_the_trained_one(nuclei_model):
    result = nuclei_model.training
    crop = u2os_window(HELD_OUT_IMAGES[0])[0]

    reloaded = CellposeBackend(result.weights_path, nuclei_model.backend.settings)

    assert reloaded.cell_diameter == pytest.approx(result.cell_diameter)
    # What the trained network predicted for this crop before it was ever reloaded.
    before, after = nuclei_model.trained_prediction, reloaded.predict([crop])[0]
    assert np.array_equal(before.masks, after.masks)
    assert np.allclose(before.cellprob, after.cellprob, atol=1e-4)


@pytest.mark.slow
def test_a_trained_model_segments_held_out_crops_better_than_a_fresh_one(nuclei_model, fresh):
    backend = nuclei_model.backend
    test = [u2os_window(i) for i in HELD_OUT_IMAGES]
    images, truth = [image for image, _ in test], [mask for _, mask in test]

    trained_ap = evaluate(truth, [p.masks for p in backend.predict(images)]).overall
    fresh_ap = evaluate(truth, [p.masks for p in fresh.predict(images)]).overall

    assert trained_ap.n_true > 20
    assert trained_ap.ap[0] > max(fresh_ap.ap[0], 0.3)


@pytest.mark.slow
def test_it_measures_per_cell_flow_errors(nuclei_model):
    backend = nuclei_model.backend
    prediction = backend.predict([u2os_window(HELD_OUT_IMAGES[1])[0]])[0]

    errors = backend.flow_errors(prediction)

    assert set(errors) == set(np.unique(prediction.masks)[1:].tolist()) and errors
    assert all(np.isfinite(e) and e >= 0 for e in errors.values())
    # Cellpose dropped every mask whose flow error exceeded flow_threshold while predicting.
    assert max(errors.values()) <= backend.settings.predict.flow_threshold + 1e-3
    empty = backend.predict([np.zeros((64, 64), np.uint8)])[0]
    assert backend.flow_errors(empty) == {}


@pytest.mark.slow
def test_training_stops_between_epochs_when_asked(cellpose_loaded, tmp_path):
    backend = CellposeBackend(None, parse_backend_settings({"train": {"n_epochs": 50, "crops_per_epoch": 1}}))
    image, mask = u2os_window(0, size=128)
    reports: list[EpochReport] = []

    result = backend.train(
        [image], [mask], out_dir=tmp_path / "run", progress=reports.append, should_stop=lambda: len(reports) >= 2
    )

    assert result.stopped_early and [r.epoch for r in result.history] == [1, 2] and reports == result.history
    assert result.weights_path.is_file()
    validate_weights_file(result.weights_path)


@pytest.mark.slow
def test_weight_averaging_ends_training_with_the_mean_of_the_last_epochs(cellpose_loaded, tmp_path):
    settings = {"train": {"n_epochs": 5, "average_last_share": 0.6, "crops_per_epoch": 4, "batch_size": 2}}
    backend = CellposeBackend(None, parse_backend_settings(settings))
    net = backend._model.net
    image, mask = u2os_window(0, size=128)
    at_epoch_end = []  # the network as each epoch closed, before averaging

    result = backend.train([image], [mask], out_dir=tmp_path / "run",
                           progress=lambda report: at_epoch_end.append(copy.deepcopy(net.state_dict())))

    assert [r.epoch for r in result.history] == [1, 2, 3, 4, 5] and len(at_epoch_end) == 5
    assert result.train_settings == {**result.train_settings, **settings["train"], "learning_rate": 0.005}
    saved = torch.load(result.weights_path, map_location="cpu", weights_only=True)
    last_three = at_epoch_end[2:]
    for name in ("output.2.weight", "downsample.down.res_down_0.conv.conv_0.0.running_mean"):
        assert name in saved
        mean = sum(state[name] for state in last_three) / 3
        assert torch.allclose(saved[name], mean, atol=1e-6)
        assert not torch.allclose(saved[name], at_epoch_end[-1][name], atol=1e-6)  # not the last epoch's
    assert torch.equal(net.state_dict()["output.2.weight"], saved["output.2.weight"])  # predicts with it


@pytest.mark.slow
def test_a_small_training_set_still_gets_enough_steps_per_epoch(cellpose_loaded, tmp_path):
    backend = CellposeBackend(None, parse_backend_settings({}))

    assert backend._train_seg_options(tmp_path, n_crops=6)["nimg_per_epoch"] == 32  # drawn with replacement
    assert backend._train_seg_options(tmp_path, n_crops=40)["nimg_per_epoch"] is None  # each crop once
    pinned = CellposeBackend(None, parse_backend_settings({"train": {"crops_per_epoch": 5}}))
    assert pinned._train_seg_options(tmp_path, n_crops=40)["nimg_per_epoch"] == 5


@pytest.mark.slow
def test_fine_tuning_trained_weights_takes_a_lower_learning_rate_unless_one_is_set(fresh, random_weights, tmp_path):
    tuned = CellposeBackend(random_weights, parse_backend_settings({}))
    pinned = CellposeBackend(random_weights, parse_backend_settings({"train": {"learning_rate": 0.004}}))

    assert fresh._train_seg_options(tmp_path, n_crops=8)["learning_rate"] == SCRATCH_LEARNING_RATE == 0.005
    assert tuned._train_seg_options(tmp_path, n_crops=8)["learning_rate"] == FINETUNE_LEARNING_RATE == 0.001
    assert pinned._train_seg_options(tmp_path, n_crops=8)["learning_rate"] == 0.004


@pytest.mark.slow
def test_fine_tuning_averages_the_last_half_of_its_epochs_unless_set(fresh, random_weights):
    tuned = CellposeBackend(random_weights, parse_backend_settings({"train": {"n_epochs": 12}}))
    pinned = CellposeBackend(random_weights, parse_backend_settings({"train": {"average_last_share": 0}}))

    assert FINETUNE_AVERAGE_SHARE == 0.5 and tuned.average_epochs == 6
    assert fresh.average_epochs == 1 and pinned.average_epochs == 1  # the last epoch's weights alone


@pytest.mark.slow
def test_it_refuses_training_data_it_cannot_use(fresh, tmp_path):
    image, mask = u2os_window(0, size=64)
    with pytest.raises(TrainingDataError, match="none of the 1 training crops has at least 1 labelled cells"):
        fresh.train([image], [np.zeros_like(mask)], out_dir=tmp_path)
    with pytest.raises(TrainingDataError, match="1 training crops but 2 masks"):
        fresh.train([image], [mask, mask], out_dir=tmp_path)
    with pytest.raises(TrainingDataError, match=r"mask has shape \(64, 32\) but its crop is \(64, 64\)"):
        fresh.train([image], [mask[:, :32]], out_dir=tmp_path)


# --- where a model starts from (slow) ------------------------------------------------------------------------


@pytest.fixture
def random_weights(fresh, tmp_path) -> Path:
    return fresh.save_weights(tmp_path / "random.pth")


@pytest.mark.slow
def test_it_loads_pretrained_weights_by_name_from_the_cache(random_weights, tmp_path, settings):
    cache = tmp_path / "models"
    cache.mkdir()
    (cache / "nucleitorch_0").write_bytes(random_weights.read_bytes())  # the file name Cellpose uses
    settings.LABELSERVER = {**settings.LABELSERVER, "CELLPOSE_MODELS_DIR": cache, "CELLPOSE_MODELS_URL": "http://127.0.0.1:9"}

    backend = CellposeBackend.from_start(parse_backend_settings({"start_from": "pretrained:nuclei"}))

    assert backend.weights == cache / "nucleitorch_0"
    assert backend.describe()["diam_mean"] == 17.0  # Cellpose's built-in nuclei scale, not the file's 30
    assert backend.predict([u2os_window(1, size=64)[0]])[0].masks.shape == (64, 64)


@pytest.mark.slow
def test_offline_a_pretrained_name_fails_fast_through_the_backend(cellpose_loaded, tmp_path, settings):
    settings.LABELSERVER = {
        **settings.LABELSERVER,
        "CELLPOSE_MODELS_DIR": tmp_path / "empty-cache",
        "CELLPOSE_MODELS_URL": "http://127.0.0.1:9/models",  # the discard port: nothing listens
    }

    with pytest.raises(PretrainedUnavailable, match="upload a weights file .* or set start_from to 'scratch'"):
        CellposeBackend.from_start(parse_backend_settings({"start_from": "pretrained:cyto3"}))


@pytest.mark.slow
def test_it_never_hands_cellpose_a_bad_weights_file(cellpose_loaded, tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x00" * 1000)

    with pytest.raises(WeightsError, match="not a readable PyTorch weights file"):
        CellposeBackend(corrupt)
    with pytest.raises(WeightsError, match="does not exist"):
        CellposeBackend(tmp_path / "missing.pth")  # Cellpose itself would quietly download cyto3 instead


@pytest.mark.slow
def test_a_project_backend_starts_from_its_settings(project, random_weights, settings):
    sha = hashlib.sha256(random_weights.read_bytes()).hexdigest()
    upload = Path(settings.MEDIA_ROOT) / "models" / str(project.pk) / f"{sha}.pt"  # the project's own upload
    upload.parent.mkdir(parents=True)
    upload.write_bytes(random_weights.read_bytes())
    project.backend_settings = {"start_from": f"weights:{sha}", "predict": {"flow_threshold": 0.5}}
    project.model_channels = [0]

    backend = load_backend(project, None)

    assert isinstance(backend, CellposeBackend) and backend.weights == upload
    assert backend.settings.channels == (0,) and backend.settings.predict.flow_threshold == 0.5
    project.backend_settings = {}
    assert load_backend(project, None).weights is None  # from scratch
