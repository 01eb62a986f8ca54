"""deepview: see what is inside your datasets and networks.

Stream model responses through introspectors (Familiarity, Duplicates,
DimensionReduction, DatasetReport, PFA, IUA) and get answers about rare samples,
near-duplicates, the shape of the data and redundant or dead units.

``import deepview`` is light: it pulls numpy and nothing heavier. Optional
libraries (torch, umap-learn, pacmap, faiss, annoy, matplotlib) are imported only by
the features that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
