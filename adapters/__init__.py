"""Data-set adapters: each turns a data set as users have it into the one prepared form (``prepare_dataset``).

Adapters (registered name: layout, options):

- ``kvasir_seg``: the Kvasir-SEG release, ``images/*.jpg`` and ``masks/*.jpg`` with the same names. No split in
  the release: the seeded rule takes 30 % as test (700 train / 300 test of 1000, as the GSD-Net paper).
- ``gsdnet``: one data set folder of the GSD-Net authors' release, ``images/`` + ``masks/`` (train) and
  ``images_test/`` + ``masks_test/`` (test), matched by file name; the split is the layout's. Other folders there
  (``images_SLIC``, ``masks_200_...``, ``masks_DE``) are ignored.
- ``folder``: any ``{images}/`` + ``{masks}/`` pair (options ``images``, ``masks``, defaults "images", "masks"),
  files (png, jpg, jpeg, bmp, tif, tiff) matched by stem, option ``mask_suffix`` (e.g. "_mask") stripped from
  mask stems; with a suffix, images and masks may share one folder. Split by the seeded rule.
- ``jsrt``: JSRT chest X-rays with SCR masks, ``images_{train,val,test}/*.png`` and
  ``{organ}_gts_{train,val,test}/*.png``, option ``organ`` in lung (default), heart, clavicle; the split is the
  layout's (148 / 24 / 75). The images are stored with inverted intensity and kept as stored.
- ``synthetic``: generated, no path and no download; RGB blobs on a smooth background (see
  ``adapters.synthetic``), options ``seed`` (0), ``n_train`` (60), ``n_test`` (20), ``size`` (256, the
  "released" size). Recorded as ``synthetic: true``, ``source: "generated"``.
- ``lidc``: the 2D four-rater LIDC-IDRI release, ``LIDC-IDRI-XXXX/nodule-K/images/slice-N.png`` with
  ``mask-0`` .. ``mask-3/slice-N.png``; names ``LIDC-IDRI-XXXX_nodule-K_slice-N``, group = patient, raters in
  mask-0..3 order, ``mask`` = their consensus; no split in the layout (the seeded rule splits by patient);
  ``allow_empty`` defaults to true.
- ``lidc_pickle``: ``lidc_attributes.pkl`` (``{key: {image, masks, series_uid}}``) with ``train_idx.npy`` /
  ``test_idx.npy`` (the split), as the GSD-Net and D-Persona authors read LIDC; option ``n_raters`` (4);
  ``allow_empty`` defaults to true; read with an unpickler that accepts only NumPy arrays.
- ``mmis``: MMIS-2024 in D-Persona's HDF5 layout, ``training_2d/*.h5`` (2-D slices, train) and the volumes of
  ``{test_folder}/*.h5`` (option, default "validation"; test), datasets ``t1, t1c, t2`` (option ``sequences``)
  and ``label_a1`` .. ``label_a4``; test slices ``{volume}_slice-{k:03d}``, group = volume, scored per volume
  (``evaluation_unit = "group"``); ``allow_empty`` defaults to true.
- ``brats``: BraTS2020 training data, ``MICCAI_BraTS2020_TrainingData/BraTS20_Training_XXX/`` with
  ``BraTS20_Training_XXX_{t1,t1ce,t2,flair,seg}.nii[.gz]`` (the folder or its parent); volumes ``(D, H, W, 4)``
  (sequences T1, T1ce, T2, FLAIR; per-volume percentile intensity rule, see ``adapters.brats``), mask = whole
  tumour (labels 1, 2, 4); seeded split (the paper: ``n_test: 73``).
- ``synthetic_3d``: generated 4-channel volumes with tumour-like blobs (see ``adapters.synthetic_3d``), options
  ``seed`` (0), ``n_train`` (8), ``n_test`` (4), ``size`` (32, the "released" side); ``synthetic: true``.

Every adapter accepts ``allow_empty`` (default false, true for the multi-rater ones: an all-background mask is an
error naming the file). Masks are read by ``adapters.reading.read_mask`` and binarised by ``adapters.masks.MASK_RULE``
(0/1 labels; else scaled by the file's range, > 127; palette by index; alpha refused unless ``mask_channel``;
non-binary beyond ``max_grey_share`` rejected).
Images are kept grey (1 channel) or RGB (3); RGBA loses its alpha, palette images become RGB, 16-bit images are
scaled to 8 bit, and a set mixing grey and RGB has its grey images repeated to RGB.

Seeded split (layouts without one): each name (or group) gets a key in [0, 1) from the SHA-256 of
``"{dataset}/{split_seed}/{name}"`` alone (``adapters.prepare.split_key``). With ``test_fraction`` (default 0.3) a
name is test where its key is below the fraction, so adding or removing a file moves no other sample; with
``n_test`` the ``n_test`` smallest keys are test (exact count; adding a file moves at most the boundary name).
"""

from adapters import brats, folder, gsdnet_layout, jsrt, kvasir, lidc, lidc_pickle, mmis, synthetic, synthetic_3d
from adapters.base import Adapter, Sample
from adapters.masks import MASK_RULE, binarize_mask, resize_image, resize_mask
from adapters.prepare import prepare_dataset, seeded_split
from adapters.registry import available_adapters, get_adapter, register_adapter

__all__ = [
    "MASK_RULE",
    "Adapter",
    "Sample",
    "available_adapters",
    "binarize_mask",
    "brats",
    "folder",
    "get_adapter",
    "gsdnet_layout",
    "jsrt",
    "kvasir",
    "lidc",
    "lidc_pickle",
    "mmis",
    "prepare_dataset",
    "register_adapter",
    "resize_image",
    "resize_mask",
    "seeded_split",
    "synthetic",
    "synthetic_3d",
]
