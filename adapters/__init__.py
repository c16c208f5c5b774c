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

Every adapter accepts ``allow_empty`` (default false: an all-background mask is an error naming the file). Masks
are binarised by ``adapters.masks.MASK_RULE`` (value > 127 on 0-255; 0/1 masks as labels; non-binary rejected).
Images are kept grey (1 channel) or RGB (3); RGBA loses its alpha, palette images become RGB, 16-bit images are
scaled to 8 bit, and a set mixing grey and RGB has its grey images repeated to RGB.

Seeded split (layouts without one): names sorted, permuted by ``numpy.random.default_rng(SeedSequence([split_seed,
key]))`` with ``key`` the first 8 bytes (big-endian) of the SHA-256 of the data set's name; the first ``n_test``
(or ``round(test_fraction * N)``, default fraction 0.3) of the permutation are test, the rest train.
"""

from adapters import folder, gsdnet_layout, jsrt, kvasir, synthetic
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
    "folder",
    "get_adapter",
    "gsdnet_layout",
    "jsrt",
    "kvasir",
    "prepare_dataset",
    "register_adapter",
    "resize_image",
    "resize_mask",
    "seeded_split",
    "synthetic",
]
