"""Tests of nsp_helpers.widgets.slider_figure: frames, client-side links, embeddable state, live mode, bad input."""

import base64
import io
import json

import html

import ipywidgets as widgets
import matplotlib
import matplotlib.figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from ipywidgets.embed import embed_data  # noqa: E402

from nsp_helpers import widgets as nw  # noqa: E402
from nsp_helpers.errors import InvalidParameterError  # noqa: E402


def line_figure(slope, offset=0.0):
    """A tiny pyplot figure whose pixels depend on both arguments."""
    fig, ax = plt.subplots(figsize=(1.5, 1.0))
    ax.plot([0, 1], [offset, offset + slope])
    ax.set_ylim(-3, 3)
    ax.set_title(f"{slope} {offset}")
    ax.set_yticks(range(-3, 4), [f"{slope * t:g}" for t in range(-3, 4)])  # tick labels of varying width
    return fig


@pytest.fixture(autouse=True)
def _static_mode(monkeypatch):
    monkeypatch.delenv("NSP_LIVE_WIDGETS", raising=False)


def test_one_grid_frames_link_and_initial_frame():
    box = nw.slider_figure(line_figure, slope=[-1, 0, 1, 2], initial={"slope": 1}, dpi=40)
    slider, stack = box.children
    assert isinstance(slider, widgets.SelectionSlider) and isinstance(stack, widgets.Stack)
    assert box.n_frames == 4 and list(stack.children) == box.frames
    assert slider.index == 2 and stack.selected_index == 2
    (link,) = box.links
    assert type(link).__name__ == "Link" and link._model_name == "LinkModel"
    assert link.source == (slider, "index") and link.target == (stack, "selected_index")
    pngs = [box.frame_png(i) for i in range(box.n_frames)]
    assert all(p.startswith(b"\x89PNG") for p in pngs)
    assert len(set(pngs)) == 4, "every grid value must give a different frame"
    sizes = {Image.open(io.BytesIO(p)).size for p in pngs}
    assert sizes == {(120, 80)}, f"frames share one pixel size (the page must not jump), 2 x 1.5 x 1 inch at 40: {sizes}"
    for frame, png in zip(box.frames, pngs):  # shown at half their pixel size (high-DPI), with an alternative text
        assert isinstance(frame, widgets.HTML) and frame.value.startswith('<picture class="nsp-figure">')
        assert 'width="60" height="40"' in frame.value and 'alt="Figure' in frame.value
        assert base64.b64encode(png).decode("ascii") in frame.value
    assert plt.get_fignums() == [], "figures must be closed after rendering"


def test_two_grids_stack_of_stacks():
    slopes, offsets = [1, 2], [0.0, 0.5, 1.0]
    box = nw.slider_figure(line_figure, slope=slopes, offset=offsets, dpi=40,
                           labels={"slope": "slope a"}, formats={"offset": "{:.2f}"})
    s1, s2, outer = box.children
    assert [s1.description, s2.description] == ["slope a", "offset"]
    assert [label for label, _ in s2.options] == ["0.00", "0.50", "1.00"]
    assert box.n_frames == 6 and len(outer.children) == 2
    assert all(isinstance(inner, widgets.Stack) and len(inner.children) == 3 for inner in outer.children)
    # frames are row-major and inner stack i holds the frames of slope i
    assert [img for inner in outer.children for img in inner.children] == box.frames
    assert box.links[0].source == (s1, "index") and box.links[0].target == (outer, "selected_index")
    assert [lk.source for lk in box.links[1:]] == [(s2, "index")] * 2
    assert [lk.target[0] for lk in box.links[1:]] == list(outer.children)
    assert len({box.frame_png(i) for i in range(6)}) == 6


def test_static_state_is_embeddable():
    box = nw.slider_figure(line_figure, slope=[1, 2], offset=[0.0, 1.0], dpi=30, width=200)
    data = embed_data(views=[box])
    text = json.dumps(data["manager_state"])  # must be JSON-serialisable
    state = data["manager_state"]["state"]
    ids = {w.model_id for w in [box, *box.sliders, *box.frames, *box.links]}
    assert ids <= set(state), "every slider, frame and link must be in the embedded state"
    for link in box.links:
        assert state[link.model_id]["model_name"] == "LinkModel"
    frame_state = state[box.frames[0].model_id]
    assert 'width="200"' in frame_state["state"]["value"], "the frame is shown 200 CSS pixels wide"
    assert "data:image/png;base64," in frame_state["state"]["value"], "frame pixels travel in the page"
    assert data["view_specs"][0]["model_id"] == box.model_id
    assert "IPY_MODEL_" in text


def test_static_renderers_get_the_shown_frame_as_png():
    """Without widgets (the PDF edition, GitHub's viewer) the output is the PNG of the figure shown."""
    box = nw.slider_figure(line_figure, slope=[-1, 1], offset=[0.0, 1.0], initial={"slope": 1, "offset": 1.0}, dpi=40)
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == box.frame_png(3)  # row-major (slope, offset)
    outer = box.children[-1]
    outer.selected_index = 0
    outer.children[0].selected_index = 0
    assert base64.b64decode(box._repr_mimebundle_()["image/png"]) == box.frame_png(0)


def test_book_figures_are_framed_as_the_book_shows_them():
    """A figure of nsp_helpers.plots: the same style and resolution as the static figures, a narrow variant."""
    from nsp_helpers import plots
    from nsp_helpers.plots.style import NARROW_BREAKPOINT

    box = nw.slider_figure(plots.correlation_dynamics_figure, keep_prob=[0.5, 0.9], c0=[0.9])
    frame = box.frames[0].value
    static = plots.correlation_dynamics_figure(keep_prob=0.5, c0=0.9)
    wide, narrow = static.css_size(), static.css_size(narrow=True)
    assert f'<source media="(max-width: {NARROW_BREAKPOINT - 0.02:g}px)"' in frame
    assert f'width="{narrow[0]}" height="{narrow[1]}"' in frame and f'width="{wide[0]}" height="{wide[1]}"' in frame
    assert Image.open(io.BytesIO(box.frame_png(0))).size == (2 * wide[0], 2 * wide[1])
    assert f'alt="{html.escape(static.alt)}"' in frame


def test_line_plots_are_stored_with_a_palette_and_heat_maps_are_not():
    import numpy as np

    lines = nw._compact_png(plots_png(lambda ax: ax.plot(np.sin(np.linspace(0, 9, 99)))))
    assert Image.open(io.BytesIO(lines)).mode == "P"
    ramp = plots_png(lambda ax: ax.imshow(np.linspace(0, 1, 4096).reshape(64, 64), cmap="viridis"))
    assert nw._compact_png(ramp) == ramp, "a smooth colour map would band in 256 colours"


def plots_png(draw) -> bytes:
    fig = matplotlib.figure.Figure(figsize=(3, 3))
    draw(fig.add_subplot())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def test_live_mode_recomputes_between_grid_points():
    calls = []

    def fig_fn(slope):
        calls.append(slope)
        return line_figure(slope)

    box = nw.slider_figure(fig_fn, slope=[0.0, 2.0], live=True, live_steps=4)
    slider, image, output = box.children
    assert isinstance(slider, widgets.FloatSlider) and box.links == [] and box.live
    assert box.frames == [image] and box.output is output and isinstance(output, widgets.Output)
    assert (slider.min, slider.max, slider.step) == (0, 2, 0.5)
    before = bytes(image.value)
    slider.value = 0.5  # between grid points
    assert calls == [0, 0.5]
    assert bytes(image.value) != before
    assert plt.get_fignums() == []
    # what a notebook front end asks for when it shows the widget (the error area is the last child)
    assert box.shown_frame() == bytes(image.value)
    assert base64.b64decode(box._repr_mimebundle_()["image/png"]) == bytes(image.value)


def test_live_mode_integer_and_text_grids():
    calls = []

    def fig_fn(depth, name):
        calls.append((depth, name))
        return line_figure(depth / 10)

    box = nw.slider_figure(fig_fn, depth=[10, 20, 40], name=["a", "b"], live=True)
    depth, name, image, _output = box.children
    assert isinstance(depth, widgets.IntSlider) and (depth.min, depth.max, depth.step) == (10, 40, 10)
    assert isinstance(name, widgets.SelectionSlider)
    depth.value = 30  # between grid points, still an integer
    name.value = "b"
    assert calls == [(10, "a"), (30, "a"), (30, "b")]


def test_live_mode_grid_only_snaps_to_the_grid_and_says_so():
    data = {0.6: 1.0, 0.9: 2.0}  # stored results: only the grid's values exist

    box = nw.slider_figure(lambda keep_prob: line_figure(data[keep_prob]), keep_prob=[0.6, 0.9], live=True,
                           grid_only=True, labels={"keep_prob": "keep probability"})
    slider, note, image, _output = box.children
    assert isinstance(slider, widgets.SelectionSlider) and slider.options == (("0.6", 0.6), ("0.9", 0.9))
    assert "keep probability: the values of the grid only" in note.value
    before = bytes(image.value)
    slider.value = 0.9
    assert bytes(image.value) != before and box.output.outputs == ()
    # a grid left out of grid_only stays continuous
    box = nw.slider_figure(line_figure, slope=[0.0, 1.0], offset=[0.0, 1.0], live=True, grid_only=["offset"])
    assert [type(s).__name__ for s in box.sliders] == ["FloatSlider", "SelectionSlider"]
    with pytest.raises(InvalidParameterError, match=r"grid_only names unknown grid\(s\) \['slop'\]"):
        nw.slider_figure(line_figure, slope=[0.0, 1.0], live=True, grid_only=["slop"])


def test_live_mode_shows_errors_under_the_figure():
    def fig_fn(slope):
        if slope > 1:
            raise KeyError(slope)
        return line_figure(slope)

    box = nw.slider_figure(fig_fn, slope=[0.0, 2.0], live=True, live_steps=4)
    slider, image, output = box.children
    before = bytes(image.value)
    slider.value = 1.5  # figure_fn fails: the traceback goes under the figure, the figure stays
    assert bytes(image.value) == before
    (err,) = output.outputs
    assert err["name"] == "stderr" and "KeyError: 1.5" in err["text"]
    slider.value = 0.5  # a value that works clears the error
    assert output.outputs == () and bytes(image.value) != before


def test_live_mode_draws_the_figure_at_the_size_it_is_shown():
    box = nw.slider_figure(line_figure, slope=[0.0, 1.0], live=True, dpi=40)
    (image,) = box.frames
    png = Image.open(io.BytesIO(bytes(image.value)))
    assert png.size == (120, 80) and image.width == "60", "1.5 x 1 inch shown at 40 CSS px per inch, 2 x the pixels"
    assert image.layout.align_self == "flex-start" and image.layout.max_width == "100%", "never stretched"
    box = nw.slider_figure(line_figure, slope=[0.0, 1.0], live=True, width=300)
    (image,) = box.frames
    assert Image.open(io.BytesIO(bytes(image.value))).size[0] == 600 and image.width == "300"
    box.sliders[0].value = 0.5
    assert Image.open(io.BytesIO(bytes(image.value))).size[0] == 600, "re-rendered at the shown width too"


def test_live_mode_from_environment(monkeypatch):
    monkeypatch.setenv("NSP_LIVE_WIDGETS", "1")
    assert nw.slider_figure(line_figure, slope=[0, 1]).live
    monkeypatch.setenv("NSP_LIVE_WIDGETS", "0")
    assert not nw.slider_figure(line_figure, slope=[0, 1]).live


def test_heavy_widget_warns(monkeypatch):
    monkeypatch.setattr(nw, "MAX_WIDGET_BYTES", 10)
    with pytest.warns(UserWarning, match="MB of PNG"):
        nw.slider_figure(line_figure, slope=[0, 1], dpi=20)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "one or two keyword grids"),
        ({"slope": [1], "offset": [0], "extra": [1]}, "one or two keyword grids"),
        ({"slope": []}, "grid 'slope' must be a non-empty list"),
        ({"slope": [1, 1]}, "distinct"),
        ({"slope": 3}, "grid 'slope'"),
        ({"slope": [1], "dpi": 0}, r"dpi must be in \(0, 600\]"),
        ({"slope": [1], "width": 0}, r"width must be an integer in \[1, 10000\]"),
        ({"slope": [1], "max_frames": 0}, "max_frames must be an integer >= 1"),
        ({"slope": [1, 2], "max_frames": 1}, "2 frames, more than max_frames=1"),
        ({"slope": [1], "labels": {"slop": "x"}}, r"labels names unknown grid\(s\) \['slop'\]"),
        ({"slope": [1], "initial": {"slope": 5}}, r"initial\['slope'\] must be one of"),
        ({"slope": [1], "formats": {"slope": 3}}, r"formats\['slope'\]"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        nw.slider_figure(line_figure, **kwargs)


def test_figure_fn_must_return_a_figure():
    with pytest.raises(InvalidParameterError, match="figure_fn must return a matplotlib.figure.Figure"):
        nw.slider_figure(lambda slope: None, slope=[1])
    with pytest.raises(InvalidParameterError, match="figure_fn must be callable"):
        nw.slider_figure("not a function", slope=[1])
