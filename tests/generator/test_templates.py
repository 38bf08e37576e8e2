"""Templates: the source tree's copy is used, and the packaged copy renders the same."""

from __future__ import annotations

from connect_python.codegen.model import build_model
from connect_python.codegen.options import parse_options
from connect_python.codegen.render import TEMPLATE_NAMES, render_file, template_dir
from connect_python.codegen.unasync import build_generated

from ._helpers import REPO, request_for


def test_source_templates_are_used_in_a_checkout() -> None:
    assert template_dir() == REPO / "mako_templates"
    assert sorted(p.name for p in template_dir().glob("*.mako")) == sorted(TEMPLATE_NAMES)


def test_packaged_templates_render_the_same() -> None:
    build_generated(REPO)  # what the build hook does for wheels and editable installs
    packaged = REPO / "src" / "connect_python" / "codegen" / "templates"
    for name in TEMPLATE_NAMES:
        assert (packaged / name).read_text() == (REPO / "mako_templates" / name).read_text()
    model = build_model(request_for(["greet/v1/greet.proto"]), parse_options(""))
    (file,) = model.files
    assert render_file(file, templates_in=packaged) == render_file(file)
