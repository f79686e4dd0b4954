"""monai-deid: MONAI dictionary transforms that de-identify DICOM for AI training."""

__version__ = "0.1.0"
