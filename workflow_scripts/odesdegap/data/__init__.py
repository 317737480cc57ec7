"""The data sets: 2-D point clouds, Gaussian mixtures in d dimensions, images."""
