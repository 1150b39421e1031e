"""`manage.py import_images`: directories, the two label-image conventions, and per-file
failures that are reported while the rest is imported."""

from __future__ import annotations

import shutil
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image as PILImage

from annotations.management.commands.import_images import Command
from annotations.masks import decode_png, relabel_sequential
from annotations.models import Annotation, Crop, Image
from tests.conftest import DATA

pytestmark = pytest.mark.django_db


@pytest.fixture
def manage_py(monkeypatch):
    """Run the command as manage.py does (exit status included), but keep the test's database
    connection open: run_from_argv closes all connections when it ends."""
    monkeypatch.setattr("django.db.connections.close_all", lambda: None)
    return lambda *args: Command().run_from_argv(["manage.py", "import_images", *args])


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_images", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_the_shipped_layout_with_its_labels(project):
    out, _ = run(project.name, str(DATA / "dsb2018_brightfield"))

    assert Image.objects.filter(project=project).count() == 4
    assert set(Crop.objects.filter(project=project).values_list("status", flat=True)) == {"labelled"}
    assert "Imported 4 new image(s)" in out and "0 failed" in out
    for image in Image.objects.all():
        labels = np.asarray(PILImage.open(DATA / "dsb2018_brightfield" / "masks" / image.original_name))
        assert image.crops.count() == 2  # 320 x 256: two 256 crops side by side
        for crop in image.crops.all():
            window = labels[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width]
            assert np.array_equal(decode_png(crop.annotations.get().mask_png), relabel_sequential(window))


def test_it_finds_cellpose_masks_beside_the_images_and_skips_them_as_images(project, u2os_pairs, tmp_path):
    for image, mask in u2os_pairs[:2]:
        shutil.copy(image, tmp_path / image.name)
        shutil.copy(mask, tmp_path / f"{image.stem}_masks.png")
    shutil.copy(u2os_pairs[2][0], tmp_path / u2os_pairs[2][0].name)  # no label image: unlabelled

    out, _ = run(project.name, str(tmp_path), "-v", "2")

    assert Image.objects.count() == 3
    assert Crop.objects.filter(status="labelled").count() == 18
    assert Crop.objects.filter(status="unlabelled").count() == 9
    assert f"labelled from {u2os_pairs[0][0].stem}_masks.png" in out


def test_it_takes_labels_from_a_masks_dir_and_a_custom_suffix(project, u2os_pairs, tmp_path):
    (image, mask), (other, other_mask) = u2os_pairs[:2]
    (tmp_path / "labels").mkdir()
    (tmp_path / "cellpose").mkdir()
    shutil.copy(mask, tmp_path / "labels" / image.name)
    shutil.copy(other, tmp_path / "cellpose" / other.name)
    shutil.copy(other_mask, tmp_path / "cellpose" / f"{other.stem}-cells.png")

    run(project.name, str(image), "--masks-dir", str(tmp_path / "labels"))
    run(project.name, str(tmp_path / "cellpose"), "--masks-suffix=-cells")

    assert Image.objects.count() == 2
    assert Annotation.objects.count() == 18


def test_bad_files_are_reported_and_the_rest_imported(project, u2os_pairs, tmp_path):
    good = u2os_pairs[0][0]
    shutil.copy(good, tmp_path / good.name)
    (tmp_path / "broken.png").write_bytes(good.read_bytes()[:5000])
    (tmp_path / "readme.tif").write_text("not an image")

    with pytest.raises(CommandError, match="2 of 3 file"):
        run(project.name, str(tmp_path))

    assert list(Image.objects.values_list("original_name", flat=True)) == [good.name]


def test_the_exit_status_and_messages_of_a_failed_run(project, u2os_pairs, tmp_path, capsys, manage_py):
    (tmp_path / "broken.png").write_bytes(u2os_pairs[0][0].read_bytes()[:5000])

    with pytest.raises(SystemExit) as exited:
        manage_py(project.name, str(u2os_pairs[1][0]), str(tmp_path / "broken.png"), str(tmp_path / "missing.png"))

    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert "FAILED" in err and "broken.png: the file is truncated" in err
    assert "missing.png: file not found" in err
    assert "Imported 1 new image(s)" in out and "2 failed" in out
    assert "CommandError: 2 of 3 file(s) failed" in err


def test_a_successful_run_exits_normally_and_a_rerun_skips_what_is_there(project, u2os_pairs, manage_py):
    manage_py(project.name, str(u2os_pairs[0][0]))  # no SystemExit: status 0
    out, _ = run(project.name, str(u2os_pairs[0][0]), "-v", "2")
    assert "already in the project" in out and "1 already in the project" in out
    assert Image.objects.count() == 1


def test_it_refuses_an_unknown_project_or_an_empty_folder(project, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CommandError, match="no project named 'nope'.*'nuclei'"):
        run("nope", str(empty))
    with pytest.raises(CommandError, match="no image files"):
        run(str(project.pk), str(empty))
    assert Image.objects.count() == 0


def test_labels_beside_images_already_in_the_project_are_reported_as_not_imported(project, u2os_pairs, tmp_path):
    """An image the project already has is skipped whole, its label image too: the command says so
    and names the command that imports those labels (import_annotations --format cellpose)."""
    (image, mask), (other, _) = u2os_pairs[:2]
    run(project.name, str(image), str(other))  # imported unlabelled first
    shutil.copy(image, tmp_path / image.name)
    shutil.copy(mask, tmp_path / f"{image.stem}_masks.png")
    shutil.copy(other, tmp_path / other.name)  # no label image: nothing to say about it

    out, _ = run(project.name, str(tmp_path))

    assert "2 already in the project" in out and Annotation.objects.count() == 0
    assert f"The labels of 1 image(s) already in the project were NOT imported ({image.name} with " \
           f"{image.stem}_masks.png)" in out
    assert f"python manage.py import_annotations {project.name} {tmp_path} --format cellpose" in out
    (tmp_path / other.name).unlink()  # import_annotations wants a label image for every image in the folder
    call_command("import_annotations", project.name, str(tmp_path), "--format", "cellpose", stdout=StringIO())
    assert Annotation.objects.filter(crop__image__original_name=image.name).count() == 9  # what it says works


def test_the_shipped_layout_rerun_names_the_folder_above_images(project):
    folder = DATA / "dsb2018_brightfield"
    run(project.name, str(folder))
    out, _ = run(project.name, str(folder))
    assert "The labels of 4 image(s) already in the project were NOT imported" in out
    assert f"import_annotations {project.name} {folder} --format cellpose" in out


def test_a_rerun_without_label_images_says_nothing_about_labels(project, u2os_pairs):
    run(project.name, str(u2os_pairs[0][0]))
    out, _ = run(project.name, str(u2os_pairs[0][0]))
    assert "NOT imported" not in out
