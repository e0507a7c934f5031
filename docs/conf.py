"""Sphinx configuration of the analogsim documentation site.

Build with ``bash docs/build.sh`` (quick, as CI) or ``bash docs/build.sh full``. Warnings are errors.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import analogsim  # noqa: E402

project = "analogsim"
author = "the analogsim developers"
copyright = "the analogsim developers"
version = release = analogsim.__version__

QUICK = os.environ.get("ANALOGSIM_DOCS_MODE", "quick") != "full"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "analogsim_docs",  # docs/_ext: API pages, JSON report/benchmark pages, topic-page link fixes
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build", "_generated/**/*.json", "_generated/_mathjax_static", "tutorials/**", "**/.ipynb_checkpoints",
    "auto_tutorials/*.ipynb", "auto_tutorials/*.py", "auto_tutorials/*.zip",
]
templates_path = ["_templates"]

# --- Markdown (MyST) ---------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# --- API reference -----------------------------------------------------------------------------------------
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"           # the numpy-style Parameters sections say the types
autodoc_mock_imports: list[str] = []
autosummary_generate = True
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_custom_sections = [("Measured", "notes_style")]

# --- Tutorials (sphinx-gallery: executed at every build; a failing tutorial fails the build) --------------
sphinx_gallery_conf = {
    "examples_dirs": "tutorials",
    "gallery_dirs": "auto_tutorials",
    "filename_pattern": r"/\d\d_",            # run every numbered tutorial
    "ignore_pattern": r"_helpers\.py",
    "abort_on_example_error": True,
    "run_stale_examples": True,               # execute every build (quick and full sizes differ, the files do not)
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 0,
    "write_computation_times": True,
}

# --- HTML --------------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"analogsim {release}"
html_static_path = ["_static"]
html_css_files = ["analogsim.css"]
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "navbar_end": ["navbar-icon-links"],
}
html_show_sourcelink = False
html_copy_source = False

nitpicky = False
suppress_warnings: list[str] = []

# Topic pages are written to read well on a forge as well as here; a few of their habits need settings:
# '[text](#anchor)' must resolve to headings/labels of the site (not to a Python object of the same name), and
# object references that name a module ambiguously ('energy') are resolved to the first match.
myst_ref_domains = ["std"]
suppress_warnings += ["ref.python"]
