"""Array kernels shared by introspectors (numpy; optional torch paths where they pay)."""
