"""eqnas: search and scale equivariant convolutional networks."""
__version__ = "0.1.0"
