"""Datasets: readers that turn each source into the manifest, the image scan, and
the synthetic default set.

>>> from modelkit.data import load_dataset
>>> ds = load_dataset("utkface", root="../shared/data/utkface_sample", limit=500)
>>> ds.manifest.head(), ds.skipped[:3]
"""

from modelkit.data.manifest import Dataset, Skipped, assign_splits, build_manifest, counts
from modelkit.data.scan import ScanResult, scan_images
from modelkit.data.sources.readers import load_dataset
from modelkit.data.synthetic.generate import generate_synthetic, synthetic_root

__all__ = [
    "Dataset", "ScanResult", "Skipped", "assign_splits", "build_manifest",
    "counts", "generate_synthetic", "load_dataset", "scan_images",
    "synthetic_root",
]
