"""Bridges between deepview and deep-learning frameworks, one subpackage each, imported only
when you import it (``import deepview.integrations`` imports no framework):
:mod:`deepview.integrations.torch` (extra ``torch``), :mod:`deepview.integrations.hf` (extra
``hf``: Hugging Face datasets) and :mod:`deepview.integrations.ray` (extra ``ray``).
"""
