"""Framework bridges, one subpackage each, imported only on request: ``torch``, ``hf`` (Hugging
Face datasets) and ``ray``."""
