"""The authors' released models and histograms (Deveney et al., GitHub teojd/ODESDEGap), by
concern: where their files are (`layout`), filling the project's copy of them (`fetch`), reading
their checkpoints safely (`checkpoints`), the config rules of a run on them (`config_rules`) and
the paper's table beside ours (`tables`)."""
