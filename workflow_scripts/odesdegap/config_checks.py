"""Every check of the workflow's config, in place: check configs through this module.

odesdegap.config checks a config against the schema and its own rules across keys; a list of
choices or a rule that needs a domain's names lives in that domain's module and registers itself
into config when the module is imported (config.register_choices, config.register_check). This
module imports each such module, so that `checked`, `resolve` and `load_schema` from here meet
every one of them (config's own refuse to run until this module is imported). The Snakefile,
`make docs`, the tools, the benchmarks and the tests check configs through here.

A new check: write it beside the names it needs, decorate it with config.register_check, and
import its module below if it is not yet (tests/test_import_graph.py fails until it is).
"""

from odesdegap import models  # noqa: F401  the model kinds
from odesdegap.config import ConfigError, checked, load_schema, resolve
from odesdegap.data import datasets, images  # noqa: F401  data-set names and rules; files on disk
from odesdegap.diffusion import samplers, solvers  # noqa: F401  each sampler entry; solver names
from odesdegap.published import config_rules  # noqa: F401  the published runs and their files

__all__ = ["ConfigError", "checked", "load_schema", "resolve"]
