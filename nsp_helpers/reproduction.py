r"""The reproduction report: every figure panel and quantitative claim of Pretorius et al. (2018), ours beside it.

A small registry (:data:`ENTRIES`) holds, for each panel or claim of the paper, the paper's setting, the
book's, whether the book runs it at the same size, reduced (and why) or not at all (and why), the
section of the book that shows it, the glue keys of the numbers that section states, and, where both
exist, the paper's number and a function that computes the book's. :func:`report_table` turns the registry
into the Markdown table of the page *Reproduction report* (``book/reproduction.md``); ``tests/test_reproduction.py``
keeps the registry in step with the chapters (every section label and glue key exists there).

The paper's numbers that are not settings of an experiment (read off its figures) are in :data:`PAPER`.

Introduced in the page *Reproduction report* (``book/reproduction.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .errors import InvalidParameterError

__all__ = ["ENTRIES", "PAPER", "STATUSES", "Entry", "report_table", "status_counts", "training_reduction",
           "value_range"]

#: Numbers of Pretorius et al. (2018) read off their figures (not settings of an experiment).
PAPER = {
    # Fig. 6b, c: the colour scale of the MNIST trainable-depth heatmaps (training and validation loss)
    "mnist_colour_scale": (0.065, 0.11),
    # the multiple of the depth scale drawn over Fig. 6b, c, e, f (after Schoenholz et al. 2017)
    "boundary_multiple": 6.0,
    # Fig. 6 trainable depth: the deepest network of the grid, which trains near p = 1
    "deepest": 40,
}

#: The statuses of an entry.
STATUSES = ("same size", "theory", "reduced", "not reproduced here")


@dataclass(frozen=True)
class Entry:
    """One panel or quantitative claim of the paper.

    Attributes
    ----------
    item : str
        ``"Fig. 2a"``, or a short name of a claim.
    what : str
        What it shows.
    paper, ours : str
        The paper's setting and the book's.
    status : str
        One of :data:`STATUSES`.
    why : str
        Why it is reduced or not reproduced (or what differs); empty when nothing does.
    chapter : str
        The chapter's file name without ``.md`` (``book/<chapter>.md``).
    label : str
        The MyST label (section or figure) the table links to; it must exist in the chapter.
    keys : tuple of str
        Glue keys of the numbers the chapter states about it; they must be glued in the chapter.
    expected : dict
        Glue key -> the value the chapter must glue under it (the sizes this entry claims); checked
        against the built chapter by ``tests/test_reproduction.py``.
    paper_value : str
        The paper's number, where it states or draws one (empty otherwise).
    our_value : callable or None
        Computes the book's number as text (theory, or stored results; nothing that simulates).
    """

    item: str
    what: str
    paper: str
    ours: str | Callable[[], str]
    status: str
    chapter: str
    label: str
    why: str = ""
    keys: tuple = ()
    expected: dict = field(default_factory=dict, compare=False)
    paper_value: str = ""
    our_value: Callable[[], str] | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise InvalidParameterError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.status in ("reduced", "not reproduced here") and not self.why:
            raise InvalidParameterError(f"{self.item}: a {self.status!r} entry must say why")


def value_range(values, fmt: str = ".0f") -> str:
    """``"14"`` for equal values (after formatting), ``"13–15"`` for a range; ``"none"`` for no values.

    Examples
    --------
    >>> value_range([13.2, 14.9]), value_range([14.0, 14.2]), value_range([])
    ('13–15', '14', 'none')
    >>> value_range([13.2], fmt="d")
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: fmt must be a format specification for a float such as '.0f' or '.2g', got the string 'd' (Unknown format code 'd' for object of type 'float')
    """
    from .errors import InvalidParameterError, as_float_array, describe

    if not isinstance(fmt, str):
        raise InvalidParameterError(f"fmt must be a format specification string such as '.0f', got {describe(fmt)}")
    try:
        format(0.0, fmt)
    except (ValueError, TypeError) as exc:  # checked before the values: an empty list must not hide a bad fmt
        raise InvalidParameterError(f"fmt must be a format specification for a float such as '.0f' or '.2g', got "
                                    f"{describe(fmt)} ({exc})") from None
    values = as_float_array("values", values).ravel().tolist()
    if not values:
        return "none"
    low, high = format(min(values), fmt), format(max(values), fmt)
    return low if low == high else f"{low}–{high}"


def training_reduction(config: dict) -> str:
    """How a trainable-depth run differs from the paper's (Fig. 6), in words, e.g. for a caption.

    Parameters
    ----------
    config : dict
        The ``config`` of a results file (:class:`nsp_helpers.train.TrainConfig` as a dict).

    Examples
    --------
    >>> from nsp_helpers import train
    >>> training_reduction(train.profile_config("medium").to_dict())
    'width 128 instead of 1000, images pooled to 14 × 14 instead of 28 × 28, 4000 instead of all 60000 training images, Adam instead of SGD, batch 64 instead of 128, 20 epochs instead of 200'
    >>> training_reduction(train.profile_config("paper").to_dict())
    'none'
    """
    from .errors import InvalidParameterError, describe
    from .train import profile_config

    if not isinstance(config, dict):
        raise InvalidParameterError(f"config must be a results file's config dict, got {describe(config)}")
    paper = profile_config("paper", config.get("dataset", "mnist"), config.get("task", "reconstruct")).to_dict()
    side = 28 if config.get("dataset", "mnist") == "mnist" else 32
    parts = []
    if config["width"] != paper["width"]:
        parts.append(f"width {config['width']} instead of {paper['width']}")
    if config["pool"] != paper["pool"]:
        parts.append(f"images pooled to {side // config['pool']} × {side // config['pool']} instead of {side} × {side}")
    if config["n_examples"] != paper["n_examples"]:
        total = 60000 if config.get("dataset", "mnist") == "mnist" else 50000
        parts.append(f"{config['n_examples']} instead of all {total} training images")
    if config["optimizer"] != paper["optimizer"] or config["lr"] != paper["lr"]:
        name = dict(sgd="SGD", adam="Adam")
        lr = "" if config["lr"] == paper["lr"] else f" (learning rate {config['lr']:g} instead of {paper['lr']:g})"
        parts.append(f"{name[config['optimizer']]} instead of {name[paper['optimizer']]}{lr}")
    if config["batch_size"] != paper["batch_size"]:
        parts.append(f"batch {config['batch_size']} instead of {paper['batch_size']}")
    if config["n_epochs"] != paper["n_epochs"]:
        parts.append(f"{config['n_epochs']} epochs instead of {paper['n_epochs']}")
    return ", ".join(parts) or "none"


# ------------------------------------------------------------------------------------------------
# the book's numbers (theory and stored results only: the report page simulates nothing)
# ------------------------------------------------------------------------------------------------
def _critical_values() -> str:
    from . import theory
    from .noise import Dropout, MultiplicativeGaussian

    return (f"{theory.critical_weight_variance(Dropout(keep_prob=0.6)):.3g} and "
            f"{theory.critical_weight_variance(MultiplicativeGaussian(std=0.25)):.3g}")


def _fig3_growth() -> str:
    from . import theory
    from .noise import Dropout

    noise = Dropout(keep_prob=0.6)
    sigma_w2 = 1.15**2 * theory.critical_weight_variance(noise)
    return f"× {theory.iterate_variance(4.0, 15, noise, sigma_w2, 0.0)[-1] / 4.0:.1f} over 15 layers"


def _xavier_he() -> str:
    from . import theory
    from .noise import Dropout

    return (f"p = 0.5: {theory.critical_weight_variance(Dropout(keep_prob=0.5)):g}, "
            f"p = 1: {theory.critical_weight_variance(Dropout(keep_prob=1.0)):g}")


def _c_one() -> str:
    from . import theory
    from .noise import Dropout

    noise = Dropout(keep_prob=0.6)
    return f"C(1) = {theory.correlation_map(1.0, noise, q=1.0):.4f} = 1/μ₂ (p = 0.6)"


def _seed_grid(task: str):
    from . import analysis, train

    first = train.stored_results("mnist", task)
    if first is None:
        return None, None
    runs = train.stored_seed_results("mnist", task, first["profile"]) or [first]
    metric = "val_loss" if task == "reconstruct" else "val_accuracy"
    return analysis.seed_grid(runs, metric), first["profile"]


def _fitted_k(task: str) -> Callable[[], str]:
    def compute() -> str:
        from . import analysis

        grid, profile = _seed_grid(task)
        if grid is None:
            return "no stored results"
        fit = analysis.fit_depth_multiple(grid)
        return (f"k ∈ [{fit.k_low:.3g}, {fit.k_high:.3g}), {100 * fit.level:.0f} % bootstrap interval "
                f"[{fit.interval[0]:.3g}, {fit.interval[1]:.3g}] (`{profile}`, {len(grid.seeds)} seed(s))")

    return compute


def _deepest_p1() -> str:
    from . import analysis

    grid, profile = _seed_grid("reconstruct")
    if grid is None:
        return "no stored results"
    summary = analysis.boundary_summary(grid.depths, grid.keep_probs, grid.mean, grid.baseline)
    return (f"L = {int(grid.depths[-1])}, p = 1: {100 * summary.gain(grid.mean[-1, -1]):.0f} % below the "
            f"mean-image loss (`{profile}`)")


def _colour_scale() -> str:
    from . import analysis

    grid, profile = _seed_grid("reconstruct")
    if grid is None:
        return "no stored results"
    summary = analysis.boundary_summary(grid.depths, grid.keep_probs, grid.mean, grid.baseline)
    best = summary.best[0]
    return (f"best {best:.4f}, {100 * summary.gain(best):.0f} % below our mean-image loss {grid.baseline:.4f} "
            f"(`{profile}`, 14 × 14 images)")


def _paper_colour_scale() -> str:
    low, high = PAPER["mnist_colour_scale"]
    return f"{low:g}–{high:g} (mean image ≈ 0.067, zeros ≈ 0.11)"


_FIG6_PAPER_TRAINING = ("width 1000, 28 × 28 MNIST, 54 000 / 6 000 split, SGD lr 1e-3, batch 128, 200 epochs, "
                        "depths 2–40 × p = 0.1–1")


def _medium_setting() -> str:
    from .train import profile_config

    return f"`medium` profile: {training_reduction(profile_config('medium').to_dict())}; every stored seed"


def _variance_depth_setting() -> str:
    from .simulate import scaled
    from .variance_depth import BOOK_N_IMAGES

    return (f"the first {scaled(*BOOK_N_IMAGES)} of the 60 000 images (on this device), the same networks, "
            "weight variances and depths; q⁰ of the data and 1")


_FIG23 = {"ch2_n_networks": 50, "ch2_n_inputs_map": 30, "ch2_n_inputs_dynamics": 50}
_FIG3 = {"ch3_n_networks": 50, "ch3_n_inputs_map": 30, "ch3_n_inputs_dynamics": 50}
_FIG4 = {"ch4_n_networks": 50, "ch4_n_pairs_map": 50, "ch4_n_c0": 51, "ch4_n_pairs_dynamics": 100}
_FIG5 = {"ch5_n_networks": 50, "ch5_n_pairs": 50, "ch5_n_levels": 22}

#: The registry: every figure panel and quantitative claim of Pretorius et al. (2018).
ENTRIES = (
    Entry("Fig. 2a", "one-layer variance map, tanh + Xavier and ReLU + He, with and without additive noise",
          "q⁰ ∈ [0, 15]: 30 values × 30 inputs, 50 networks, width 1000",
          "the same: 30 values × 30 inputs, 50 networks, width 1000", "same size", "variance_map", "vm-fig2",
          expected=_FIG23),
    Entry("Fig. 2b", "variance dynamics from q⁰ = 4", "50 inputs, 15 layers, 50 networks, mean ± 1 s.d.",
          "the same: 50 inputs, 15 layers, 50 networks", "same size", "variance_map", "vm-fig2", expected=_FIG23),
    Entry("Fig. 3a", "variance map at and off criticality, dropout p = 0.6 and Gaussian σ = 0.25",
          "σ_w at 1, 1.15, 0.85 (dropout) and 1, 1.25, 0.75 (Gaussian) × critical; 30 × 30 inputs, 50 networks",
          "the same", "same size", "critical_init", "ci-fig3", keys=("ch3_sw2_drop_crit", "ch3_sw2_gauss_crit"),
          expected=_FIG3, paper_value="critical σ_w² = 2/μ₂: 1.2 and 1.88", our_value=_critical_values),
    Entry("Fig. 3b", "variance dynamics at and off criticality (log scale)", "50 inputs, 15 layers, 50 networks",
          "the same", "same size", "critical_init", "ci-fig3", keys=("ch3_ratio15_drop_hi",), expected=_FIG3,
          our_value=_fig3_growth),
    Entry("Fig. 3c", "the critical line σ_w² = 2/μ₂, μ₂ ∈ [1, 2]", "theory", "theory", "theory", "critical_init",
          "ci-boundary"),
    Entry("Xavier and He", "critical dropout initialisation σ_w² = 2p recovers Xavier (p = 0.5) and He (p = 1)",
          "theory", "theory", "theory", "critical_init", "ci-fig3", keys=("ch3_crit_xavier", "ch3_crit_he"),
          paper_value="σ_w² = 1 and 2", our_value=_xavier_he),
    Entry("No critical point for additive noise", "additive noise has no critical initialisation", "theory",
          "theory (`NoCriticalPointError`)", "theory", "critical_init", "ci-fig3"),
    Entry("Fig. 4a", "one-layer correlation map at criticality: no noise, dropout 0.6, 0.8, Gaussian 0.25, 2",
          "50 trials of 1 reference + 50 partners (c⁰ ∈ [0, 1]), 50 networks",
          "51 values of c⁰ ∈ [−1, 1] × 50 partners of one reference, 50 networks per c⁰", "same size",
          "correlations", "fig-ch4-fig4", why="each c⁰ through its own 50 networks; c⁰ also negative",
          expected=_FIG4, paper_value="c = 1 not a fixed point", our_value=_c_one),
    Entry("Fig. 4b", "correlation dynamics from c⁰ ∈ {0, 0.5, 0.9}", "100 partners of one reference, 30 layers, "
          "50 networks", "the same", "same size", "correlations", "fig-ch4-fig4", expected=_FIG4),
    Entry("Fig. 4c", "χ(c*) against μ₂ ∈ [1, 10]", "theory", "theory", "theory", "correlations", "fig-ch4-fig4",
          keys=("ch4_chi_gauss2",)),
    Entry("Fig. 5a, b", "depth scales for dropout p = 0.1 … 0.9: fits of ln|cˡ − c*| against ξ_c",
          "'simulation' = the iterated mean-field map (the authors' code)",
          "simulated networks: 50 networks × 50 pairs of identical inputs, width 1000, fit window above the "
          "noise floor",
          "same size", "depth_scales", "fig-ch5-fig5", why="we fit simulated networks, not the iterated map",
          keys=("ch5_mean_abs_rel",), expected=_FIG5),
    Entry("Fig. 5c, d", "depth scales for Gaussian σ = 0.1 … 1.9, step 0.15", "as Fig. 5a, b", "as Fig. 5a, b",
          "same size", "depth_scales", "fig-ch5-fig5", why="we fit simulated networks, not the iterated map",
          expected=_FIG5),
    Entry("6ξ_c rule", "trainable depth L ≲ 6ξ_c, a constant read off experiments by Schoenholz et al.",
          "drawn over Fig. 6b, c, e, f", "drawn over every grid; the fitted k is in the rows of Fig. 6b, c", "theory", "depth_scales", "ds-rule",
          keys=("ch5_6xi_keep05",), paper_value="k = 6"),
    Entry("Fig. 6a", "variance depth on MNIST: ln qˡ per layer against the float32 failure depth L*",
          "60 000 training images in batches of 128, 25 σ_w² ∈ [0.1, 2.5], min(1000, 1.1 L*) layers, q⁰ = 1",
          _variance_depth_setting, "reduced", "variance_depth", "fig-vd-mnist",
          why="the whole training set takes hours on a 2-core CPU (the chapter estimates how many); no full run is "
              "stored", keys=("ch6v_build_images", "ch6v_n_train", "ch6v_mnist_rel_data", "ch6v_full_hours")),
    Entry("Fig. 6d", "variance depth on CIFAR-10", "50 000 images", "runs when CIFAR-10 is on disk",
          "not reproduced here", "variance_depth", "vd-cifar", why="CIFAR-10 is absent from the build machine"),
    Entry("Fig. 6b, c", "trainable depth on MNIST: training and validation loss, 6ξ_c overlaid",
          _FIG6_PAPER_TRAINING, _medium_setting, "reduced", "trainable_depth", "fig-ch6-mnist",
          why="the paper's budget needs a GPU (`--profile paper`, a job array; the chapter counts its PFLOP)",
          keys=("ch6_reduction", "ch6_n_seeds", "ch6_fit_k_reconstruct", "ch6_paper_pflop"),
          paper_value="boundary at k = 6", our_value=_fitted_k("reconstruct")),
    Entry("Fig. 6b, c as classification", "the same grid trained as a classifier (the book's addition)", "—",
          "as Fig. 6b, c, with cross-entropy", "reduced", "trainable_depth", "td-seeds", why="as Fig. 6b, c",
          keys=("ch6_fit_k_classify",), our_value=_fitted_k("classify")),
    Entry("Near p = 1 all depths train", "without dropout every depth up to 40 trains", "as Fig. 6b, c",
          "as Fig. 6b, c", "reduced", "trainable_depth", "fig-ch6-mnist", why="as Fig. 6b, c",
          keys=("ch6_gain_p1_deep",), paper_value="L = 40 trains at p = 1", our_value=_deepest_p1),
    Entry("MNIST colour scale", "the range of losses of Fig. 6b, c", "as Fig. 6b, c", "as Fig. 6b, c",
          "reduced", "trainable_depth", "td-paper-scale",
          why="as Fig. 6b, c; pooled images have a lower mean-image loss",
          keys=("ch6_paper_low_gain", "ch6_paper_mean_image"), our_value=_colour_scale),
    Entry("Fig. 6e, f", "trainable depth on CIFAR-10", "as Fig. 6b, c on CIFAR-10", "none stored",
          "not reproduced here", "trainable_depth", "td-cifar",
          why="CIFAR-10 is absent from the build machine, and the paper's budget needs a GPU"),
)


def _paper_value(entry: Entry) -> str:
    if entry.item == "MNIST colour scale":
        return _paper_colour_scale()
    return entry.paper_value


def report_table(entries=ENTRIES) -> str:
    """The reproduction report as a MyST Markdown table, one row per entry, computing the book's numbers.

    Examples
    --------
    >>> table = report_table(ENTRIES[:2])
    >>> table.splitlines()[0]
    '| Paper | Setting: paper → this book | Status | Numbers: paper / this book |'
    >>> "{ref}`vm-fig2`" in table
    True
    """
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    rows = ["| Paper | Setting: paper → this book | Status | Numbers: paper / this book |", "|---|---|---|---|"]
    for e in entries:
        ours = e.our_value() if e.our_value is not None else ""
        setting = e.ours() if callable(e.ours) else e.ours
        paper = _paper_value(e)
        numbers = " / ".join(v for v in (paper or "—", ours or "—")) if (paper or ours) else ""
        status = e.status + (f": {e.why}" if e.why else "")
        # a figure is linked by its number (its caption, with roles and math, would be the text of a {ref})
        role = "numref" if e.label.startswith("fig-") else "ref"
        item = f"**{e.item}**: {e.what} ({{{role}}}`{e.label}`)"
        rows.append(f"| {cell(item)} | {cell(e.paper)} → {cell(setting)} | {cell(status)} | {cell(numbers)} |")
    return "\n".join(rows)


def status_counts(entries=ENTRIES) -> dict:
    """How many entries have each status.

    Examples
    --------
    >>> sum(status_counts().values()) == len(ENTRIES)
    True
    """
    counts = {s: 0 for s in STATUSES}
    for e in entries:
        counts[e.status] += 1
    return counts

