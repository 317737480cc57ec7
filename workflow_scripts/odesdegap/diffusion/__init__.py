"""The method: forward processes, DSM, the FP residuals, samplers, likelihood, training."""
