"""A catalogue of bad inputs: each stops with one clear line naming the file or key, and writes nothing.

Sections: data folders (``adapters.prepare_dataset``, and a few through the workflow's ``prepare_dataset`` job),
the workflow config (schema + cross-reference checks, a few through ``snakemake -n``), the noise command line
(``python -m noise``) and the training entry (``RunConfig.from_mapping``, ``training.engine.train``). Every table
row is one case; its id says what is wrong, its expected text is the distinctive part of the one-line message.
The cases of issue 14's points 1, 5, 8 and 11 expect the whole message (:class:`Whole`) and name their item in a
comment; each also checks that nothing was written.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import tifffile
import yaml
from PIL import Image

import adapters.prepare as prepare_module
import noise.simulate as simulate_module
from adapters import prepare_dataset
from adapters.base import Adapter, Sample
from adapters.brats import RELEASE_FOLDER
from adapters.prepare import listed_train_count
from common import atomic
from common.atomic import write_npz, write_text
from common.errors import InputError
from noise.settings import PAPER_SETTINGS, parse_setting
from tests.test_adapters_multirater import PICKLE_TEST, PICKLE_TRAIN, _mmis_layout, _pickle_layout, _write_h5
from tests.test_adapters_multirater import SIZE as PICKLE_SIZE
from tests.test_brats_3d import _write_nifti, write_brats_layout
from training.engine import train
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs
from workflow.planner.checks import check_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SUBPROCESS_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

IMAGE_SIZE = (48, 40)
SAMPLE_NAMES = [f"case{index}" for index in range(6)]


class Whole(str):
    """An expected text that is the whole one-line message, not a distinctive part of it."""

    def format(self, *args: Any, **kwargs: Any) -> Whole:
        return Whole(super().format(*args, **kwargs))


def assert_one_line(message: str, expected: str) -> None:
    """``message`` is a single line holding ``expected`` (equal to it where ``expected`` is :class:`Whole`)."""
    if isinstance(expected, Whole):
        assert message.strip() == expected, f"expected exactly {expected!r}, got {message!r}"
    assert expected in message, f"expected {expected!r} in {message!r}"
    assert "\n" not in message.strip(), f"more than one line: {message!r}"


def save_image(path: Path, pixels: np.ndarray) -> None:
    """Write ``pixels`` in the format of the suffix (2 channels: LA)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def rectangle_mask(index: int, size: tuple[int, int] = IMAGE_SIZE) -> np.ndarray:
    mask = np.zeros(size, dtype=np.uint8)
    mask[4 + index: 24 + index, 8:28] = 255
    return mask


def write_kvasir_layout(root: Path) -> Path:
    """A small Kvasir-SEG-like release: ``images/*.jpg`` (noisy RGB, so a JPEG has a long entropy-coded body) and
    ``masks/*.png`` (0/255)."""
    rng = np.random.default_rng(0)
    for index, name in enumerate(SAMPLE_NAMES):
        save_image(root / "images" / f"{name}.jpg", rng.integers(0, 256, (*IMAGE_SIZE, 3), dtype=np.uint8))
        save_image(root / "masks" / f"{name}.png", rectangle_mask(index))
    return root


def cut_in_half(path: Path) -> None:
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])


def replace_file(old: Path, new: Path, pixels: np.ndarray) -> None:
    """Remove ``old`` and write ``pixels`` to ``new`` (another format)."""
    old.unlink()
    save_image(new, pixels)


def grey_gradient(size: tuple[int, int] = IMAGE_SIZE) -> np.ndarray:
    return np.tile(np.linspace(0, 255, size[1]).astype(np.uint8), (size[0], 1))


# --- data folders through adapters.prepare_dataset -------------------------------------------------------------

def remove_subfolders(root: Path) -> None:
    for folder in ("images", "masks"):
        shutil.rmtree(root / folder)


def empty_subfolders(root: Path) -> None:
    for folder in ("images", "masks"):
        shutil.rmtree(root / folder)
        (root / folder).mkdir()
    (root / "images" / "notes.txt").write_text("not an image")


def truncated_png_image(root: Path) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (*IMAGE_SIZE, 3), dtype=np.uint8)
    replace_file(root / "images" / "case4.jpg", root / "images" / "case4.png", pixels)
    cut_in_half(root / "images" / "case4.png")


def mask_as_five_channel_array(root: Path) -> None:
    (root / "masks" / "case4.png").unlink()
    tifffile.imwrite(root / "masks" / "case4.tif", np.full((*IMAGE_SIZE, 5), 255, dtype=np.uint8),
                     photometric="minisblack", planarconfig="contig")


def mask_as_volume(root: Path) -> None:
    (root / "masks" / "case0.png").unlink()
    frames = [Image.fromarray(rectangle_mask(depth)) for depth in range(5)]
    frames[0].save(root / "masks" / "case0.tif", save_all=True, append_images=frames[1:])


def float_image(root: Path) -> None:
    (root / "images" / "case1.jpg").unlink()
    Image.fromarray(np.zeros(IMAGE_SIZE, dtype=np.float32)).save(root / "images" / "case1.tif")


def sixteen_bit_gradient_mask(root: Path) -> None:
    gradient = np.tile(np.linspace(0, 65535, IMAGE_SIZE[1]).astype(np.uint16), (IMAGE_SIZE[0], 1))
    Image.fromarray(gradient).save(root / "masks" / "case1.png")


def alpha_only_mask(root: Path) -> None:
    pixels = np.zeros((*IMAGE_SIZE, 4), dtype=np.uint8)
    pixels[..., 3] = rectangle_mask(1)
    save_image(root / "masks" / "case1.png", pixels)


def red_label_mask(root: Path) -> None:
    pixels = np.zeros((*IMAGE_SIZE, 3), dtype=np.uint8)
    pixels[10:13, 10:13, 0] = 255
    save_image(root / "masks" / "case1.png", pixels)


def slightly_grey_mask(root: Path) -> None:
    mask = rectangle_mask(1)
    mask[30:32, 0:10] = 128
    save_image(root / "masks" / "case1.png", mask)


def palette_void_only_mask(root: Path) -> None:
    """A VOC-style palette mask whose object index is gone: only its void (255) border ring is left."""
    indices = np.zeros(IMAGE_SIZE, dtype=np.uint8)
    indices[4:24, 8:28] = 255
    indices[6:22, 10:26] = 0
    image = Image.fromarray(indices, mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0] + [0, 0, 0] * 253 + [224, 224, 192])
    image.save(root / "masks" / "case1.png")


def la_mask_not_opaque(root: Path) -> None:
    """An LA mask whose shape is in both channels (alpha 0 outside it)."""
    mask = rectangle_mask(1)
    Image.fromarray(np.stack([mask, mask], axis=-1), mode="LA").save(root / "masks" / "case1.png")


def tiny_mask(root: Path) -> None:
    mask = np.zeros(IMAGE_SIZE, dtype=np.uint8)
    mask[7, 7] = 255
    save_image(root / "masks" / "case1.png", mask)


BreakLayout = Callable[[Path], None]


def unchanged(_: Path) -> None:
    """A valid layout: the case is in the arguments."""


#: (adapter, how the layout is broken, prepare_dataset arguments, expected text with {root} for the layout folder)
DATA_CASES = [
    pytest.param("kvasir_seg", unchanged, {"path": "{root}/no-such-folder"},
                 "{root}/no-such-folder: data set folder not found", id="missing-folder"),
    pytest.param("kvasir_seg", remove_subfolders, {}, "{root}/images: folder not found", id="empty-folder"),
    pytest.param("kvasir_seg", empty_subfolders, {}, "{root}/images: no images found (looked for .png",
                 id="no-images-in-folders"),
    pytest.param("kvasir_seg", lambda root: (root / "masks" / "case1.png").unlink(), {},
                 "{root}/images: 1 image(s) without a mask in {root}/masks: case1.jpg", id="image-without-mask"),
    pytest.param("kvasir_seg", lambda root: save_image(root / "masks" / "extra.png", rectangle_mask(0)), {},
                 "{root}/masks: 1 mask(s) without an image in {root}/images: extra.png", id="mask-without-image"),
    pytest.param("kvasir_seg", lambda root: save_image(root / "masks" / "case2.png", rectangle_mask(0, (40, 40))),
                 {}, "{root}/masks/case2.png: mask size 40x40 (HxW) differs from the size 48x40 of its image case2.jpg",
                 id="size-mismatch"),
    pytest.param("kvasir_seg", lambda root: (root / "masks" / "case3.png").write_bytes(
                     np.random.default_rng(2).bytes(600)), {},
                 "{root}/masks/case3.png: cannot read image (UnidentifiedImageError", id="random-bytes-png"),
    pytest.param("kvasir_seg", truncated_png_image, {},
                 "{root}/images/case4.png: cannot read image (OSError: image file is truncated", id="truncated-png"),
    pytest.param("kvasir_seg", lambda root: cut_in_half(root / "images" / "case5.jpg"), {},
                 "{root}/images/case5.jpg: cannot read image (OSError: image file is truncated", id="truncated-jpeg"),
    pytest.param("kvasir_seg", lambda root: (root / "images" / "case0.jpg").write_bytes(b""), {},
                 "{root}/images/case0.jpg: cannot read image", id="zero-byte-image"),
    pytest.param("kvasir_seg", lambda root: save_image(root / "masks" / "case1.png", grey_gradient()), {},
                 "{root}/masks/case1.png: mask is not binary", id="non-binary-mask"),
    pytest.param("kvasir_seg", lambda root: save_image(root / "masks" / "case2.png", np.zeros(IMAGE_SIZE, np.uint8)),
                 {}, "{root}/masks/case2.png: mask is empty (all background); set option allow_empty: true",
                 id="empty-mask"),
    pytest.param("kvasir_seg", lambda root: replace_file(root / "images" / "case3.jpg", root / "images" / "case3.png",
                                                         np.full((*IMAGE_SIZE, 2), 90, dtype=np.uint8)), {},
                 "{root}/images/case3.png: image has 2 channels", id="two-channel-image"),
    pytest.param("kvasir_seg", mask_as_five_channel_array, {}, "{root}/masks/case4.tif: cannot read image",
                 id="mask-as-HxWx5-array"),
    pytest.param("kvasir_seg", mask_as_volume, {},
                 "{root}/masks/case0.tif: holds 5 frames (a stack or 3D volume); expected one 2D image",
                 id="mask-as-3D-volume"),
    pytest.param("kvasir_seg", float_image, {}, "{root}/images/case1.tif: floating-point images are not supported",
                 id="float-image"),
    pytest.param("kvasir_seg", lambda root: save_image(root / "images" / "case0.png", grey_gradient()), {},
                 "{root}/images: two files share the name 'case0': case0.jpg, case0.png", id="duplicate-name"),
    # issue 14, 1: a 16-bit grey gradient (scaled by the dtype's range, then the non-binary check)
    pytest.param("kvasir_seg", sixteen_bit_gradient_mask, {},
                 Whole("{root}/masks/case1.png: mask is not binary (75.0 % of pixels lie strictly between 30 and 225 "
                       "on 0-255, more than max_grey_share 1.0 %)"), id="16-bit-grey-gradient-mask"),
    # issue 14, 1: palette PNG, the VOC void index 255 is not foreground (here nothing else is left)
    pytest.param("kvasir_seg", palette_void_only_mask, {},
                 Whole("{root}/masks/case1.png: mask is empty (all background); set option allow_empty: true to "
                       "accept"), id="palette-void-index-is-not-foreground"),
    # issue 14, 1: RGBA mask without mask_channel
    pytest.param("kvasir_seg", alpha_only_mask, {},
                 Whole("{root}/masks/case1.png: mask has an alpha channel that is not fully opaque (mode RGBA); set "
                       "option mask_channel to the channel that holds the mask (0-3)"), id="rgba-mask-shape-in-alpha"),
    # issue 14, 1: LA mask, through the adapters (the noise command line: NOISE_CLI_CASES, same line)
    pytest.param("kvasir_seg", la_mask_not_opaque, {},
                 Whole("{root}/masks/case1.png: mask has an alpha channel that is not fully opaque (mode LA); set "
                       "option mask_channel to the channel that holds the mask (0-1)"), id="la-mask-not-opaque"),
    # issue 14, 1: a red label on < 1 % of pixels says "not binary", not "empty"
    pytest.param("kvasir_seg", red_label_mask, {},
                 Whole("{root}/masks/case1.png: mask is not binary (0.5 % of pixels lie strictly between 30 and 225 "
                       "on 0-255 and none is foreground (> 127); a coloured or dim label?)"),
                 id="red-label-under-1-percent"),
    # issue 14, 1: max_grey_share's message prints the share with enough digits
    pytest.param("kvasir_seg", slightly_grey_mask, {},
                 Whole("{root}/masks/case1.png: mask is not binary (1.04 % of pixels lie strictly between 30 and 225 "
                       "on 0-255, more than max_grey_share 1.0 %)"), id="grey-share-just-above-limit"),
    # issue 14, 1: max_grey_share is an option, checked
    pytest.param("kvasir_seg", unchanged, {"options": {"max_grey_share": 1.5}},
                 Whole("adapter 'kvasir_seg': option 'max_grey_share': must be a number in [0, 1), got 1.5"),
                 id="max-grey-share-out-of-range"),
    # issue 14, 1: mask_channel names a channel the mask lacks
    pytest.param("kvasir_seg", unchanged, {"options": {"mask_channel": 5}},
                 Whole("{root}/masks/case0.png: mask_channel 5 does not exist; the mask has 1 channel(s) (mode L)"),
                 id="mask-channel-missing"),
    # issue 14, 1: a mask whose few foreground pixels vanish at the working size
    pytest.param("kvasir_seg", tiny_mask, {},
                 Whole("{root}: sample 'case1': its mask's 1 foreground pixel(s) at the released size 48x40 vanish at "
                       "the working size 16x16; set option allow_empty: true to accept it as empty"),
                 id="mask-vanishes-at-working-size"),
    pytest.param("kvasir", unchanged, {}, "unknown adapter 'kvasir'; known adapters: brats, folder, gsdnet",
                 id="unknown-adapter"),
    pytest.param("folder", unchanged, {"options": {"mask_sufix": "_mask"}},
                 "adapter 'folder': unknown option 'mask_sufix'; known options:", id="unknown-adapter-option"),
    pytest.param("kvasir_seg", unchanged, {"options": {"allow_empty": "yes"}},
                 "adapter 'kvasir_seg': option 'allow_empty' must be bool, got 'yes'", id="adapter-option-type"),
    pytest.param("kvasir_seg", unchanged, {"n_test": 6},
                 "n_test: the test split needs between 1 and 5 of the 6 samples, got 6", id="n_test-too-large"),
    pytest.param("kvasir_seg", unchanged, {"working_size": 0}, "working_size: must be a positive integer",
                 id="zero-working-size"),
]


@pytest.mark.parametrize(("adapter", "break_layout", "arguments", "expected"), DATA_CASES)
def test_bad_data_folder(tmp_path: Path, adapter: str, break_layout: BreakLayout, arguments: dict[str, Any],
                         expected: str) -> None:
    root = write_kvasir_layout(tmp_path / "kvasir")
    break_layout(root)
    out = tmp_path / "prepared"
    settings = {"dataset": "kvasir", "adapter": adapter, "path": root, "out_dir": out, "working_size": 16,
                "n_test": 2, **arguments}
    if isinstance(settings["path"], str):
        settings["path"] = settings["path"].format(root=root)
    with pytest.raises(InputError) as raised:
        prepare_dataset(**settings)
    assert_one_line(str(raised.value), expected.format(root=root))
    assert not out.exists()


# --- label and image volumes (HDF5, NIfTI) and pickles through adapters.prepare_dataset --------------------------

MMIS_SLICE = "training_2d/npc_001_slice_1.h5"
BRATS_SUBJECT = f"{RELEASE_FOLDER}/BraTS20_Training_002/BraTS20_Training_002"


def mmis_slice(key: str, values: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], tuple[str, Path]]:
    """An MMIS layout whose training slice :data:`MMIS_SLICE` holds ``values(old)`` as dataset ``key``."""

    def build(root: Path) -> tuple[str, Path]:
        written = _mmis_layout(root)
        _write_h5(root / MMIS_SLICE, {**written["npc_001_slice_1"], key: values(written["npc_001_slice_1"][key])})
        return "mmis", root / MMIS_SLICE

    return build


def with_nan(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float32)
    values.flat[7] = np.nan
    return values


def brats_volume(kind: str, values: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], tuple[str, Path]]:
    """A BraTS layout whose second subject's ``kind`` volume (a sequence or "seg") holds ``values(old)``."""

    def build(root: Path) -> tuple[str, Path]:
        write_brats_layout(root, subjects=4)
        path = root / f"{BRATS_SUBJECT}_{kind}.nii.gz"
        _write_nifti(path, values(np.asarray(nib.load(path).dataobj).transpose(2, 1, 0)))
        return "brats", path

    return build


def with_label_3(labels: np.ndarray) -> np.ndarray:
    return np.where(labels == 1, 3, labels).astype(np.int16)


def with_infinities(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float32)
    values.flat[[5, 9]] = [np.inf, -np.inf]
    return values


#: (how the layout is built and broken -> (adapter, the broken file), expected text with {file})
VOLUME_CASES = [
    # issue 14, 1: HDF5 labels of 0.5 (all-foreground before)
    pytest.param(mmis_slice("label_a2", lambda old: np.full(old.shape, 0.5)),
                 Whole("{file}: dataset 'label_a2': labels are not binary (values 0.5; expected 0/1 or 0/255)"),
                 id="hdf5-labels-0.5"),
    # issue 14, 1: HDF5 labels {0, 2} (empty before)
    pytest.param(mmis_slice("label_a2", lambda old: np.tile([0.0, 2.0], (old.shape[0], old.shape[1] // 2))),
                 Whole("{file}: dataset 'label_a2': labels are not binary (values 0, 2; expected 0/1 or 0/255)"),
                 id="hdf5-labels-0-and-2"),
    # issue 14, 1: NaN voxels in an HDF5 image, naming the file and the sequence
    pytest.param(mmis_slice("t1", with_nan),
                 Whole("{file}: dataset 't1': intensities must be finite numbers (found NaN/inf or no values)"),
                 id="hdf5-nan-intensities"),
    # issue 14, 1: NIfTI labels outside BraTS's {0, 1, 2, 4}
    pytest.param(brats_volume("seg", with_label_3),
                 Whole("{file}: segmentation labels 3 are not BraTS labels (0, 1, 2, 4)"), id="nifti-labels-3"),
    # issue 14, 1: NaN voxels in a FLAIR (an all-zero channel before), naming the file and the sequence
    pytest.param(brats_volume("flair", with_nan), Whole("{file}: sequence flair has 1 NaN or infinite voxel(s)"),
                 id="nifti-nan-voxels"),
    # issue 14, 1: infinite voxels
    pytest.param(brats_volume("flair", with_infinities),
                 Whole("{file}: sequence flair has 2 NaN or infinite voxel(s)"), id="nifti-inf-voxels"),
    # issue 14, 1: complex voxels
    pytest.param(brats_volume("flair", lambda old: old.astype(np.complex64)),
                 Whole("{file}: sequence flair voxels are complex64 (complex or not numbers); expected real values"),
                 id="nifti-complex-voxels"),
]


@pytest.mark.parametrize(("build", "expected"), VOLUME_CASES)
def test_bad_label_or_image_volume(tmp_path: Path, build: Callable[[Path], tuple[str, Path]], expected: str) -> None:
    adapter, broken = build(tmp_path / "data")
    out = tmp_path / "prepared"
    size = [16, 16, 16] if adapter == "brats" else 16
    with pytest.raises(InputError) as raised:
        prepare_dataset(adapter, adapter, tmp_path / "data", out, size, n_test=2 if adapter == "brats" else None)
    assert_one_line(str(raised.value), expected.format(file=broken))
    assert not out.exists()


#: Pickles that would run code: a ``_codecs.encode`` call other than latin1 bytes, and ``os.system``.
EXECUTABLE_PAYLOADS = [
    pytest.param(b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00abcq\x01X\x05\x00\x00\x00rot13q\x02\x86q\x03Rq\x04.",
                 "refusing _codecs.encode(str, 'rot13') (only latin1 bytes are read)", id="codecs-rot13"),
    pytest.param(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.",
                 "refusing to load os.system (only NumPy arrays are read)", id="os-system"),
]


def test_protocol_2_pickle_from_python_3_loads(tmp_path: Path) -> None:
    # issue 14, 11: a legitimate protocol-2 pickle (it calls _codecs.encode for its bytes) loads
    data = _pickle_layout(tmp_path / "lidc", PICKLE_TRAIN, PICKLE_TEST)
    (tmp_path / "lidc" / "lidc_attributes.pkl").write_bytes(pickle.dumps(data, protocol=2))
    assert b"_codecs" in (tmp_path / "lidc" / "lidc_attributes.pkl").read_bytes()
    metadata = prepare_dataset("lidc_pkl", "lidc_pickle", tmp_path / "lidc", tmp_path / "prepared", PICKLE_SIZE)
    assert metadata["n_train"] == len(PICKLE_TRAIN) and metadata["n_test"] == len(PICKLE_TEST)


@pytest.mark.parametrize(("payload", "refused"), EXECUTABLE_PAYLOADS)
def test_executable_pickle_payload_is_refused(tmp_path: Path, payload: bytes, refused: str) -> None:
    # issue 14, 11: every executable payload is still refused
    _pickle_layout(tmp_path / "lidc", PICKLE_TRAIN, PICKLE_TEST)
    pkl = tmp_path / "lidc" / "lidc_attributes.pkl"
    pkl.write_bytes(payload)
    with pytest.raises(InputError) as raised:
        prepare_dataset("lidc_pkl", "lidc_pickle", tmp_path / "lidc", tmp_path / "prepared", PICKLE_SIZE)
    assert_one_line(str(raised.value), Whole(f"{pkl}: cannot read pickle (UnpicklingError: {refused})"))
    assert not (tmp_path / "prepared").exists()


# --- data folders through the workflow's prepare_dataset job ---------------------------------------------------

#: data set name -> (how the layout is broken, expected text with {root})
WORKFLOW_DATA_CASES = {
    "nonbinary": (lambda root: save_image(root / "masks" / "case1.png", grey_gradient()),
                  "{root}/masks/case1.png: mask is not binary"),
    "unmatched": (lambda root: (root / "masks" / "case1.png").unlink(),
                  "{root}/images: 1 image(s) without a mask in {root}/masks: case1.jpg"),
    "truncated": (lambda root: cut_in_half(root / "images" / "case5.jpg"),
                  "{root}/images/case5.jpg: cannot read image (OSError: image file is truncated"),
}


def snakemake(workdir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                           str(workdir), *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=SUBPROCESS_ENV, check=False)


@pytest.fixture(scope="module")
def workflow_prepare_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One ``snakemake --keep-going`` over every broken data set of :data:`WORKFLOW_DATA_CASES` (one job each)."""
    base = tmp_path_factory.mktemp("workflow_data")
    datasets = {}
    for dataset, (break_layout, _) in WORKFLOW_DATA_CASES.items():
        root = write_kvasir_layout(base / "data" / dataset)
        break_layout(root)
        datasets[dataset] = {"adapter": "kvasir_seg", "path": str(root), "working_size": 16, "n_test": 2,
                             "noise": {"S_R": "working"}}
    overlay = base / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"datasets": datasets}))
    workdir = base / "work"
    targets = [f"results/prepared/{dataset}/data.npz" for dataset in WORKFLOW_DATA_CASES]
    result = snakemake(workdir, *targets, "--cores", "1", "--keep-going", "--configfile", str(overlay))
    return base, result


@pytest.mark.parametrize("dataset", list(WORKFLOW_DATA_CASES))
def test_bad_data_folder_through_the_workflow(
        workflow_prepare_run: tuple[Path, subprocess.CompletedProcess[str]], dataset: str) -> None:
    base, result = workflow_prepare_run
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    log = (base / "work" / "results" / "logs" / "prepare_dataset" / f"{dataset}.log").read_text()
    assert "Traceback" not in log
    error_lines = [line for line in log.splitlines() if "error:" in line]
    assert len(error_lines) == 1, log
    assert_one_line(error_lines[0], WORKFLOW_DATA_CASES[dataset][1].format(root=base / "data" / dataset))
    assert not (base / "work" / "results" / "prepared" / dataset).exists()


# --- workflow config: schema and cross-reference checks --------------------------------------------------------

def default_config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def set_key(dotted: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change of the config that sets ``dotted`` (e.g. ``training.epochs``) to ``value``."""

    def change(config: dict[str, Any]) -> None:
        *parents, key = dotted.split(".")
        for parent in parents:
            config = config[parent]
        config[key] = value

    return change


def delete_key(dotted: str) -> Callable[[dict[str, Any]], None]:
    """A change of the config that removes ``dotted``."""

    def change(config: dict[str, Any]) -> None:
        *parents, key = dotted.split(".")
        for parent in parents:
            config = config[parent]
        del config[key]

    return change


ConfigChange = Callable[[dict[str, Any]], None]

#: (change of the default config, expected text)
def set_keys(**changes: Any) -> Callable[[dict[str, Any]], None]:
    """Several :func:`set_key` changes at once (keys with ``__`` for dots)."""

    def change(config: dict[str, Any]) -> None:
        for dotted, value in changes.items():
            set_key(dotted.replace("__", "."), value)(config)

    return change


def sweep(parameter: str, base_setting: str, values: list[Any]) -> Callable[[dict[str, Any]], None]:
    """A change of the ``noise_sweep`` section: sweep ``parameter`` of ``base_setting`` over ``values``."""
    return set_keys(noise_sweep__parameter=parameter, noise_sweep__base_setting=base_setting,
                    noise_sweep__values=values)


CONFIG_CASES = [
    # issue 14, 5: adapter options (unknown, and of the wrong type)
    pytest.param(set_key("datasets.synthetic.options.n_trian", 8),
                 Whole("config key datasets.synthetic.options.n_trian: unknown option of adapter 'synthetic'; known "
                       "options: allow_empty, mask_channel, max_grey_share, n_test, n_train, raters, seed, size"),
                 id="unknown-adapter-option-in-config"),
    pytest.param(set_key("datasets.synthetic.options.n_train", "60"),
                 Whole("config key datasets.synthetic.options.n_train: must be int, got '60'"),
                 id="typed-adapter-option"),
    # issue 14, 5: duplicate seeds
    pytest.param(set_key("seeds", [0, 1, 0]), Whole("config key seeds: seed(s) 0 listed twice"), id="duplicate-seeds"),
    # issue 14, 5: NaN/inf noise parameters
    pytest.param(set_key("noise_settings.S_R.theta1", float("nan")),
                 Whole("config key noise_settings.S_R.theta1: must be a finite number, got nan"),
                 id="nan-noise-parameter"),
    pytest.param(set_key("noise_settings.S_DE.radius", [9, float("inf")]),
                 Whole("config key noise_settings.S_DE.radius.1: must be a finite number, got inf"),
                 id="inf-noise-parameter"),
    # issue 14, 5: path ''
    pytest.param(set_key("datasets.kvasir.path", ""),
                 Whole("config key datasets.kvasir.path: empty; give the data set's folder, or null to leave the data "
                       "set out"), id="empty-path"),
    # issue 14, 5: a backbone that cannot take the working size
    pytest.param(set_keys(variants__CE__training={"backbone": "unetpp"}, datasets__synthetic__working_size=48),
                 Whole("config key variants.CE.training.backbone (datasets.synthetic.working_size): working_size "
                       "[48, 48]: backbone 'unetpp' needs every side multiples of 32"),
                 id="backbone-cannot-take-working-size"),
    # issue 14, 5: batch size larger than the training set (generated; real ones: test_batch_larger_than_...)
    pytest.param(set_key("variants.CE.training", {"batch_size": 100}),
                 Whole("config key variants.CE.training.batch_size: 100 is more than the 40 training images of data "
                       "set synthetic"), id="batch-larger-than-training-set"),
    pytest.param(set_key("experiments.table9.train_fractions", [1.0, 0.05]),
                 Whole("config key variants.GSD-Net-short.training.batch_size: 4 is more than the 2 training images of "
                       "data set synthetic at train_fraction 0.05 (experiments.table9.train_fractions)"),
                 id="batch-larger-than-a-table9-subset"),
    # issue 14, 5: error paths name the key as written
    pytest.param(set_key("variants.CE.training", {"eval_last_k": 100}),
                 Whole("config key variants.CE.training.eval_last_k: 100 is more than training.epochs (25) for data "
                       "set synthetic, variant CE"), id="eval_last_k-key-as-written"),
    # issue 14, 5: a typed sweep value (checked as the noise setting it derives)
    pytest.param(sweep("radius", "S_DE", ["x", [5, 7]]),
                 Whole("config key noise_sweep.values.0: 'x' is not of type 'number', 'array'"), id="sweep-string"),
    pytest.param(sweep("radius", "S_DE", [[5, 7], [5, "x"]]),
                 Whole("config key noise_sweep.values.1.1: 'x' is not of type 'number'"), id="sweep-string-in-radius"),
    pytest.param(sweep("steps", "S_R", [100, 2.5]), Whole("config key noise_sweep.values.1: 2.5 is not of type "
                                                          "'integer'"), id="sweep-float-steps"),
    pytest.param(sweep("theta1", "S_R", [0.1, True]),
                 Whole("config key noise_sweep.values.1: True is not of type 'number', 'array'"), id="sweep-bool"),
    pytest.param(sweep("theta1", "S_R", [0.1, float("nan")]),
                 Whole("config key noise_sweep.values.1: must be a finite number, got nan"), id="sweep-nan"),
    # issue 14, 5: a missing SAM checkpoint
    pytest.param(set_key("variants.MSA.sam_checkpoint", "/no/such/sam_vit_b.pth"),
                 Whole("config key variants.MSA.sam_checkpoint: MSA needs the SAM ViT-B checkpoint: set "
                       "sam_checkpoint to the path of sam_vit_b_01ec64.pth (not downloaded by the suite); file not "
                       "found: /no/such/sam_vit_b.pth"), id="missing-sam-checkpoint"),
    pytest.param(set_key("variants.Mine", {"method": "mine"}),
                 "config key variants.Mine.method: unknown method 'mine'; known methods: ",
                 id="unknown-method"),
    pytest.param(set_key("experiments.table4.datasets", ["synthetic", "acdc"]),
                 "config key experiments.table4.datasets: unknown data set 'acdc'",
                 id="unknown-dataset-in-experiment"),
    pytest.param(set_key("datasets.synthetic.noise.S_X", "working"),
                 "config key datasets.synthetic.noise.S_X: unknown noise setting 'S_X'", id="unknown-noise-setting"),
    pytest.param(set_key("experiments.table4.settings", ["S_R", "S_X"]),
                 "config key experiments.table4.settings: unknown noise setting 'S_X'",
                 id="unknown-noise-setting-in-experiment"),
    pytest.param(set_key("experiments.table4.variants", ["CE", "Mine"]),
                 "config key experiments.table4.variants: unknown variant 'Mine'", id="unknown-variant-in-experiment"),
    pytest.param(set_key("training.epochs", "ten"), "config key training.epochs: 'ten' is not of type 'integer'",
                 id="epochs-ten"),
    pytest.param(set_key("training.epochs", -5), "config key training.epochs: -5 is less than the minimum of 1",
                 id="negative-epochs"),
    pytest.param(set_key("training.tau", 1.0),
                 "config key training.tau: 1.0 is greater than or equal to the maximum of 1", id="tau-1.0"),
    pytest.param(set_key("training.tau", -0.1), "config key training.tau: -0.1 is less than the minimum of 0",
                 id="tau-negative"),
    pytest.param(set_key("datasets.synthetic.tau", {"S_R": 1.5}),
                 "config key datasets.synthetic.tau.S_R: 1.5 is greater than or equal to the maximum of 1",
                 id="dataset-tau-1.5"),
    pytest.param(delete_key("training"), "config: 'training' is a required property", id="missing-training"),
    pytest.param(delete_key("datasets.synthetic.working_size"),
                 "config key datasets.synthetic: 'working_size' is a required property", id="missing-working-size"),
    pytest.param(set_key("trainig", {"epochs": 3}), "config: Additional properties are not allowed ('trainig'",
                 id="typo-top-level-key"),
    pytest.param(set_key("training.epohcs", 3), "config key training: Additional properties are not allowed ('epohcs'",
                 id="typo-training-key"),
    pytest.param(set_key("noise_settings.S_R.theta1", 1.5),
                 "config key noise_settings.S_R.theta1: 1.5 is greater than the maximum of 1", id="theta1-1.5"),
    pytest.param(set_key("noise_settings.S_R.stepz", 200),
                 "config key noise_settings.S_R: Additional properties are not allowed ('stepz'",
                 id="typo-noise-parameter"),
    pytest.param(set_key("noise_settings.S_DE.model", "gaussian"),
                 "config key noise_settings.S_DE.model: 'gaussian' is not one of "
                 "['markov', 'dilate_erode', 'clean', 'rater']",
                 id="unknown-noise-model"),
    pytest.param(set_key("noise_settings.S_DE.radius", [11, 9]),
                 "config key noise_settings.S_DE.radius: low 11 > high 9", id="radius-low-above-high"),
    pytest.param(set_key("training.eval_last_k", 26),
                 "config key training.eval_last_k: 26 is more than training.epochs (25)",
                 id="eval_last_k-above-epochs"),
    pytest.param(set_key("variants.GCE.qq", 0.7), "config key variants.GCE: method 'gce': unknown option(s)",
                 id="unknown-method-option"),
    pytest.param(set_key("variants.GCE.q", "high"),
                 "config key variants.GCE: method 'gce': option 'q' must be a number; got 'high'",
                 id="method-option-type"),
    pytest.param(set_key("datasets.synthetic.adapter", "synthetc"),
                 "config key datasets.synthetic.adapter: unknown adapter 'synthetc'; known adapters: brats, ",
                 id="unknown-adapter"),
    pytest.param(set_key("datasets.synthetic.paper_data_set", "Kvasir-SEG"),
                 "config key datasets.synthetic.paper_data_set: 'Kvasir-SEG' is not one of "
                 "['Kvasir', 'Shenzhen', 'BU_SUC', 'BraTS2020', 'LIDC', 'MMIS']", id="unknown-paper-data-set"),
]


@pytest.mark.parametrize(("change", "expected"), CONFIG_CASES)
def test_bad_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: ConfigChange, expected: str) -> None:
    config = default_config()
    change(config)
    monkeypatch.chdir(tmp_path)  # the checks run in the working directory, as in the workflow
    with pytest.raises(InputError) as raised:
        validate_config(config, SCHEMA_PATH)
        check_config(config)
    assert_one_line(str(raised.value), expected)
    assert list(tmp_path.iterdir()) == []


#: (config overlay, expected text): through ``snakemake -n``, the workflow's own start.
SNAKEMAKE_CONFIG_CASES = [
    pytest.param({"training": {"epochs": "ten"}}, "config key training.epochs: 'ten' is not of type 'integer'",
                 id="epochs-ten"),
    pytest.param({"noise_settings": {"S_R": {"theta1": 1.5}}},
                 "config key noise_settings.S_R.theta1: 1.5 is greater than the maximum of 1", id="theta1-1.5"),
    pytest.param({"experiments": {"table4": {"datasets": ["synthetic", "acdc"]}}},
                 "config key experiments.table4.datasets: unknown data set 'acdc'",
                 id="unknown-dataset-in-experiment"),
    pytest.param({"variants": {"GCE": {"method": "gce", "qq": 0.7}}},
                 "config key variants.GCE: method 'gce': unknown option(s)", id="unknown-method-option"),
    # issue 14, 5: a typed sweep value, before any job
    pytest.param({"noise_sweep": {"values": [[5, 7], [5, "x"]]}},
                 Whole("config key noise_sweep.values.1.1: 'x' is not of type 'number'"), id="sweep-string-in-radius"),
    # issue 14, 5: a missing SAM checkpoint, before any job
    pytest.param({"variants": {"MSA": {"sam_checkpoint": "/no/such/sam_vit_b.pth"}}},
                 Whole("config key variants.MSA.sam_checkpoint: MSA needs the SAM ViT-B checkpoint: set "
                       "sam_checkpoint to the path of sam_vit_b_01ec64.pth (not downloaded by the suite); file not "
                       "found: /no/such/sam_vit_b.pth"), id="missing-sam-checkpoint"),
]


@pytest.mark.parametrize(("overlay", "expected"), SNAKEMAKE_CONFIG_CASES)
def test_bad_config_through_snakemake(tmp_path: Path, overlay: dict[str, Any], expected: str) -> None:
    overlay_path = tmp_path / "overlay.yaml"
    overlay_path.write_text(yaml.safe_dump(overlay))
    workdir = tmp_path / "work"
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", str(overlay_path))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    message_lines = [line for line in output.splitlines() if "config key" in line]
    assert len(message_lines) == 1, output
    assert_one_line(message_lines[0], expected)
    assert not (workdir / "results").exists()


def on_table4(dataset: str, entry: dict[str, Any], batch: int) -> dict[str, Any]:
    """An overlay that adds ``entry`` (path ``{root}``) as ``dataset``, Table 4 on it, CE with batch ``batch``."""
    return {"datasets": {dataset: {"path": "{root}", **entry}}, "experiments": {"table4": {"datasets": [dataset]}},
            "variants": {"CE": {"training": {"batch_size": batch}}}}


#: (overlay with {root} for a 6-image Kvasir-style folder, metadata.json written beforehand or None, expected text)
REAL_BATCH_CASES = [
    # issue 14, 5: batch size larger than a real data set's training set (n_test: 4 of 6 images train)
    pytest.param(on_table4("kvasir", {"n_test": 2}, 5), None,
                 Whole("config key variants.CE.training.batch_size: 5 is more than the 4 training images of data set "
                       "kvasir"), id="n_test-split"),
    # the seeded test_fraction rule (default 0.3) over the names: 1 of 6 images train here
    pytest.param(on_table4("mine", {"adapter": "kvasir_seg", "working_size": 32, "noise": {"S_R": "working"}}, 2),
                 None, Whole("config key variants.CE.training.batch_size: 2 is more than the 1 training images of data "
                             "set mine"), id="seeded-fraction-split"),
    # a prepared data set: its metadata.json's n_train counts
    pytest.param(on_table4("kvasir", {"n_test": 2}, 4), {"n_train": 3},
                 Whole("config key variants.CE.training.batch_size: 4 is more than the 3 training images of data set "
                       "kvasir"), id="prepared-metadata"),
    # Table 9's clean subsets, as training.data.subset_indices takes them
    pytest.param({"datasets": {"kvasir": {"path": "{root}", "n_test": 2}},
                  "experiments": {"table9": {"datasets": ["kvasir"], "train_fractions": [1.0, 0.5]}}},
                 None, Whole("config key variants.GSD-Net-short.training.batch_size: 4 is more than the 2 training "
                             "images of data set kvasir at train_fraction 0.5 (experiments.table9.train_fractions)"),
                 id="table9-subset"),
]


@pytest.mark.parametrize(("overlay", "metadata", "expected"), REAL_BATCH_CASES)
def test_batch_larger_than_a_real_training_set_through_snakemake(
        tmp_path: Path, overlay: dict[str, Any], metadata: dict[str, Any] | None, expected: str) -> None:
    root = write_kvasir_layout(tmp_path / "kvasir")
    overlay_path = tmp_path / "overlay.yaml"
    overlay_path.write_text(yaml.safe_dump(overlay).replace("'{root}'", str(root)))
    workdir = tmp_path / "work"
    if metadata is not None:
        write_text(workdir / "results" / "prepared" / "kvasir" / "metadata.json", json.dumps(metadata))
    before = sorted(workdir.rglob("*")) if workdir.exists() else []
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", str(overlay_path))
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    message_lines = [line for line in output.splitlines() if "config key" in line]
    assert len(message_lines) == 1, output
    assert_one_line(message_lines[0], expected)
    assert sorted(path for path in workdir.rglob("*") if ".snakemake" not in path.parts) == before


def test_batch_that_fits_a_real_training_set_plans_and_grouped_layouts_are_not_counted(tmp_path: Path) -> None:
    root = write_kvasir_layout(tmp_path / "kvasir")
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"datasets": {"kvasir": {"path": str(root), "n_test": 2}},
                                       "experiments": {"table4": {"datasets": ["kvasir"]}},
                                       "training": {"batch_size": 4}}))
    result = snakemake(tmp_path / "work", "-n", "--cores", "1", "--configfile", str(overlay))
    assert result.returncode == 0, result.stdout + result.stderr
    (tmp_path / "lidc").mkdir()  # LIDC's seeded split counts patients, known only once the slices are loaded
    assert listed_train_count("lidc", "lidc", tmp_path / "lidc") is None


def test_duplicate_yaml_key_is_refused_naming_key_and_line_before_any_job(tmp_path: Path) -> None:
    # issue 14, 5: duplicate YAML keys are refused naming the key and its line
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("training:\n  epochs: 3\n  batch_size: 4\n  epochs: 5\n")
    result = snakemake(tmp_path / "work", "-n", "--cores", "1", "--configfile", str(overlay))
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    lines = [line for line in output.splitlines() if "duplicate key" in line]
    assert len(lines) == 1, output
    assert_one_line(lines[0], Whole(f"{overlay}: line 4: duplicate key 'epochs'"))
    assert not (tmp_path / "work" / "results").exists()


# --- the noise command line ------------------------------------------------------------------------------------

@pytest.fixture
def mask_folders(tmp_path: Path) -> Path:
    """Folders of masks next to each other: good ones, an empty one, and ones with a single bad file."""
    good = rectangle_mask(0)
    for folder in ("masks", "grey", "volume", "broken", "alpha", "la"):
        save_image(tmp_path / folder / "a.png", good)
    alpha = np.zeros((*IMAGE_SIZE, 4), dtype=np.uint8)
    alpha[..., 3] = good
    save_image(tmp_path / "alpha" / "b.png", alpha)
    Image.fromarray(np.stack([good, good], axis=-1), mode="LA").save(tmp_path / "la" / "b.png")
    save_image(tmp_path / "grey" / "b.png", grey_gradient())
    frames = [Image.fromarray(good) for _ in range(3)]
    frames[0].save(tmp_path / "volume" / "b.tif", save_all=True, append_images=frames[1:])
    (tmp_path / "broken" / "b.png").write_bytes(b"\x89PNG but not really")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no masks here")
    return tmp_path


#: (input folder, arguments, exit status, expected text with {base} for the test's folder)
NOISE_CLI_CASES = [
    pytest.param("missing", ["--setting", "S_R"], 1, "{base}/missing: input folder not found", id="missing-input"),
    pytest.param("empty", ["--setting", "S_R"], 1, "{base}/empty: no mask files (.png", id="no-masks"),
    pytest.param("masks", ["--setting", "S_X"], 2, "--setting: unknown setting 'S_X' (known: S_R",
                 id="unknown-setting"),
    pytest.param("masks", ["--markov", "200", "1.5", "0.05"], 2, "theta1: must lie in [0, 1], got 1.5",
                 id="theta1-1.5"),
    pytest.param("masks", ["--markov", "2.5", "0.2", "0.05"], 2, "--markov: T must be a whole number, got 2.5",
                 id="fractional-steps"),
    pytest.param("masks", ["--dilate-erode", "11", "9"], 2, "radius: need 0 <= low <= high, got [11.0, 9.0]",
                 id="radius-low-above-high"),
    pytest.param("masks", ["--markov", "200", "0.2", "x"], 2, "argument --markov: invalid float value: 'x'",
                 id="not-a-number"),
    pytest.param("masks", ["--setting", "S_R", "--workers", "0"], 2, "--workers: must be >= 1, got 0",
                 id="zero-workers"),
    pytest.param("grey", ["--setting", "S_R"], 1, "{base}/grey/b.png: mask is not binary", id="non-binary-mask"),
    # issue 14, 1: the noise command line reads masks with the adapters' function: RGBA and LA as there
    pytest.param("alpha", ["--setting", "S_R"], 1, Whole(
                 "{base}/alpha/b.png: mask has an alpha channel that is not fully opaque (mode RGBA); set option "
                 "mask_channel to the channel that holds the mask (0-3)"), id="rgba-mask-as-in-the-adapters"),
    pytest.param("la", ["--setting", "S_R"], 1, Whole(
                 "{base}/la/b.png: mask has an alpha channel that is not fully opaque (mode LA); set option "
                 "mask_channel to the channel that holds the mask (0-1)"), id="la-mask-as-in-the-adapters"),
    pytest.param("masks", ["--setting", "S_R", "--max-grey-share", "2"], 2,
                 "--max-grey-share: must be a number in [0, 1), got 2.0", id="max-grey-share-2"),
    pytest.param("broken", ["--setting", "S_R"], 1, "{base}/broken/b.png: cannot read image", id="unreadable-mask"),
    pytest.param("volume", ["--setting", "S_R"], 1, "{base}/volume/b.tif: holds 3 frames", id="mask-as-3D-volume"),
]


def run_noise(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "noise", *map(str, arguments)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=SUBPROCESS_ENV, check=False)


def assert_cli_error(result: subprocess.CompletedProcess[str], status: int, expected: str) -> None:
    assert result.returncode == status, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert_one_line(result.stderr.removeprefix("error: "), expected)


@pytest.mark.parametrize(("folder", "arguments", "status", "expected"), NOISE_CLI_CASES)
def test_bad_noise_command_line(mask_folders: Path, folder: str, arguments: list[str], status: int,
                                expected: str) -> None:
    before = sorted(path.name for path in mask_folders.iterdir())
    result = run_noise(mask_folders / folder, mask_folders / "out", *arguments)
    assert_cli_error(result, status, expected.format(base=mask_folders))
    assert sorted(path.name for path in mask_folders.iterdir()) == before


def test_noise_command_line_refuses_a_non_empty_output_folder(mask_folders: Path) -> None:
    out = mask_folders / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    result = run_noise(mask_folders / "masks", out, "--setting", "S_R")
    assert_cli_error(result, 1, f"{out}: output folder exists and is not empty")
    assert [path.name for path in out.iterdir()] == ["mine.txt"]
    assert (out / "mine.txt").read_text() == "keep"


# --- the training entry ----------------------------------------------------------------------------------------

#: (mapping given to RunConfig.from_mapping, expected text)
RUN_CONFIG_CASES = [
    pytest.param({"prepared_dir": "p", "method": "ce", "epochs": "ten"},
                 "run config key 'epochs': expected an integer, got 'ten'", id="epochs-ten"),
    pytest.param({"prepared_dir": "p", "method": "ce", "epochs": -1}, "run config key 'epochs': must be >= 1, got -1",
                 id="negative-epochs"),
    pytest.param({"prepared_dir": "p", "method": "ce", "tau": 1.0}, "run config key 'tau': 1.0 is outside [0, 1)",
                 id="tau-1.0"),
    pytest.param({"prepared_dir": "p", "method": "ce", "epochs": 5, "eval_last_k": 6},
                 "run config key 'eval_last_k': 6 is more than epochs (5)", id="eval_last_k-above-epochs"),
    pytest.param({"prepared_dir": "p", "method": "ce", "epochz": 5}, "unknown run config key(s): epochz; known keys:",
                 id="typo-key"),
    pytest.param({"method": "ce"}, "run config key 'prepared_dir' is required", id="missing-prepared_dir"),
    pytest.param({"prepared_dir": "p", "method": "ce", "backbone": "resnet50"},
                 "run config key 'backbone': unknown backbone 'resnet50'", id="unknown-backbone"),
    pytest.param([("prepared_dir", "p")], "run config: expected a mapping of run config keys, got list",
                 id="not-a-mapping"),
]


@pytest.mark.parametrize(("mapping", "expected"), RUN_CONFIG_CASES)
def test_bad_run_config(mapping: Any, expected: str) -> None:
    with pytest.raises(InputError) as raised:
        RunConfig.from_mapping(mapping)
    assert_one_line(str(raised.value), expected)


TRAIN_NAMES = np.array([f"case{index:03d}" for index in range(8)])
BreakInputs = Callable[[Path, Path], None]


def split_rows(splits: list[str], names: list[str] | None = None) -> str:
    names = names or [f"case{index:03d}" for index in range(len(splits))]
    return "name,split\n" + "".join(f"{name},{split}\n" for name, split in zip(names, splits, strict=True))


#: (how the prepared set (8 train, 4 test, 16x16) and its noise folder are broken, expected text with {prepared},
#: {noise})
TRAIN_CASES = [
    pytest.param(lambda prepared, noise: (prepared / "data.npz").unlink(), "{prepared}/data.npz: file not found",
                 id="missing-data"),
    pytest.param(lambda prepared, noise: (prepared / "data.npz").write_bytes(b"garbage"),
                 "{prepared}/data.npz: not a readable .npz file (not a zip archive)", id="garbage-data"),
    pytest.param(lambda prepared, noise: cut_in_half(prepared / "data.npz"),
                 "{prepared}/data.npz: not a readable .npz file", id="truncated-data"),
    pytest.param(lambda prepared, noise: (prepared / "split.csv").unlink(), "{prepared}/split.csv: file not found",
                 id="missing-split"),
    pytest.param(lambda prepared, noise: write_text(prepared / "split.csv", split_rows(
                     ["train"] * 12, [f"other{index}" for index in range(12)])),
                 "{prepared}/split.csv: names do not match {prepared}/data.npz (first difference at position 0",
                 id="split-names-mismatch"),
    pytest.param(lambda prepared, noise: write_text(prepared / "split.csv", split_rows(["train"] * 12)),
                 "{prepared}/split.csv: needs both train and test samples, has 12 train and 0 test", id="no-test"),
    pytest.param(lambda prepared, noise: write_text(prepared / "split.csv", split_rows(["trian"] * 8 + ["test"] * 4)),
                 "{prepared}/split.csv: unknown split value(s) trian", id="unknown-split-value"),
    pytest.param(lambda prepared, noise: (noise / "noisy_masks.npz").unlink(),
                 "{noise}/noisy_masks.npz: file not found", id="missing-noisy-masks"),
    pytest.param(lambda prepared, noise: write_npz(noise / "noisy_masks.npz", masks=np.zeros((8, 16, 16), np.uint8),
                                                   names=np.array([f"x{index}" for index in range(8)])),
                 "{noise}/noisy_masks.npz: names do not match {prepared}/split.csv", id="noisy-names-mismatch"),
    pytest.param(lambda prepared, noise: write_npz(noise / "noisy_masks.npz", masks=np.zeros((7, 16, 16), np.uint8),
                                                   names=TRAIN_NAMES[:7]),
                 "{noise}/noisy_masks.npz: 7 names, but {prepared}/split.csv has 8", id="noisy-count-mismatch"),
    pytest.param(lambda prepared, noise: write_npz(noise / "noisy_masks.npz", masks=np.zeros((8, 8, 8), np.uint8),
                                                   names=TRAIN_NAMES),
                 "{noise}/noisy_masks.npz: 'masks' shape (8, 8, 8) does not match the training set (8, 16, 16)",
                 id="noisy-size-mismatch"),
    pytest.param(lambda prepared, noise: write_npz(noise / "distance_maps.npz", distance=np.zeros((8, 8, 8), np.uint8)),
                 "{noise}/distance_maps.npz: 'distance' shape (8, 8, 8) does not match", id="distance-size-mismatch"),
    pytest.param(lambda prepared, noise: write_npz(prepared / "superpixels.npz",
                                                   superpixels=np.zeros((8, 16, 16), np.int32),
                                                   names=TRAIN_NAMES[::-1]),
                 "{prepared}/superpixels.npz: names do not match {prepared}/split.csv", id="superpixel-names-mismatch"),
    pytest.param(lambda prepared, noise: (noise / "summary.json").unlink(),
                 "{noise}/summary.json: file not found (needed for tau; or set the run config key 'tau')",
                 id="missing-noise-rate"),
]


@pytest.mark.parametrize(("break_inputs", "expected"), TRAIN_CASES)
def test_bad_training_inputs(tmp_path: Path, break_inputs: BreakInputs, expected: str) -> None:
    prepared, noise = write_synthetic_inputs(tmp_path / "inputs", n_train=8, n_test=4, size=16)
    break_inputs(prepared, noise)
    config = RunConfig(prepared_dir=prepared, noise_dir=noise, method="ce", epochs=1, eval_last_k=1, batch_size=4,
                       threads=1, device="cpu")
    out, checkpoints = tmp_path / "run", tmp_path / "checkpoints"
    with pytest.raises(InputError) as raised:
        train(config, out, checkpoints, log=lambda _: None)
    assert_one_line(str(raised.value), expected.format(prepared=prepared, noise=noise))
    assert not out.exists() and not checkpoints.exists()



# --- faults: full disk, a crashed worker, two runs on one output folder -----------------------------------------

def _no_space(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_is_one_line_naming_the_path_and_nothing_is_written(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 14, 8: a full disk is one line naming the path and "no space left"
    root = write_kvasir_layout(tmp_path / "kvasir")
    out = tmp_path / "prepared"
    monkeypatch.setattr(np.lib.format, "write_array", _no_space)
    with pytest.raises(InputError) as raised:
        prepare_dataset("kvasir", "kvasir_seg", root, out, 16, n_test=2)
    assert_one_line(str(raised.value), Whole(f"{out}/data.npz: no space left on the device (nothing was written; "
                                             "free space and rerun)"))
    assert not out.exists() or not any(out.iterdir())


def test_full_disk_inside_a_foreign_writer_is_the_same_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 14, 8: a full disk inside torch.save's writer: the same line, never its stack trace
    monkeypatch.setattr(atomic, "_disk_full", lambda folder: True)
    target = tmp_path / "checkpoint.pt"
    with pytest.raises(InputError) as raised, atomic.atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
    assert_one_line(str(raised.value), Whole(f"{target}: no space left on the device (nothing was written; free space "
                                             "and rerun)"))
    assert list(tmp_path.iterdir()) == []


class _CrashingAdapter(Adapter):
    """Two generated samples; loading the second kills its worker process (as a crashing decoder would)."""

    registry_name = "crashing"
    needs_path = False

    def sample_names(self) -> list[str]:
        return ["a", "b"]

    def load(self, name: str) -> Sample:
        if name == "b":
            os._exit(1)
        mask = np.zeros((8, 8), dtype=bool)
        mask[2:6, 2:6] = True
        return Sample(name, np.zeros((8, 8, 1), dtype=np.uint8), mask)


def test_a_crashed_worker_ends_the_job_with_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 14, 8: a crashed worker of a process pool ends the job with its error instead of hanging the parent
    monkeypatch.setattr(prepare_module, "get_adapter", lambda *args, **options: _CrashingAdapter())
    with pytest.raises(InputError) as raised:
        prepare_dataset("crash", "crashing", None, tmp_path / "out", 8, n_test=1, workers=2)
    assert_one_line(str(raised.value), Whole(
        "generated: a worker process died while reading the data set (a crash in a file decoder, or out of memory); "
        "rerun with workers: 1 to see the file"))
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError) as raised:
        simulate_module._parallel_map(os._exit, [1, 1], workers=2)
    assert_one_line(str(raised.value), Whole(
        "a worker process died while making noise (a crash in a file decoder, or out of memory); rerun with one "
        "worker to see the file"))


def test_two_noise_runs_on_one_output_folder_give_one_line(mask_folders: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 14, 8: two noise command runs on one output folder give one line, not a traceback
    out = mask_folders / "out"
    original = simulate_module.write_json

    def other_run_finishes_first(path: Path, data: Any) -> None:
        original(path, data)
        out.mkdir(exist_ok=True)
        (out / "a.png").write_bytes(b"the other run's file")

    monkeypatch.setattr(simulate_module, "write_json", other_run_finishes_first)
    with pytest.raises(InputError) as raised:
        simulate_module.simulate_folder(mask_folders / "masks", out, "S_R", parse_setting("S_R", PAPER_SETTINGS["S_R"]),
                                        seed=0)
    assert_one_line(str(raised.value), Whole(f"{out}: output folder was filled by another run meanwhile; nothing "
                                             "of this run was kept"))
    assert [path.name for path in out.iterdir()] == ["a.png"]
    assert sorted(path.name for path in mask_folders.iterdir() if path.name.startswith(".")) == []
