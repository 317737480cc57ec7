"""The dynamics a sampler integrates (samplers.<name>.dynamics), named once: the probability-flow
ODE, the reverse SDE, and the eta family between them.

These are kinds of dynamics, not sampler names: the default samplers happen to be named after
theirs (samplers.ode has dynamics ode), and which pair the findings read is the config's `gap`.
This module imports nothing, so the config check and the reporting can read it cheaply."""

ODE = "ode"
SDE = "sde"
ETA = "eta"
DYNAMICS = (ODE, SDE, ETA)
