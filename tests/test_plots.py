"""Training figures: scikit-learn displays and a SHAP beeswarm on Figure objects, no pyplot."""

import io
import subprocess
import sys

import numpy as np
import pandas as pd

from churnml.plots import evaluation_figure, shap_summary_figure


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_figures_render_without_pyplot():
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    rng = np.random.default_rng(0)
    p = rng.uniform(size=400)
    y = (rng.uniform(size=400) < p).astype(int)
    fig = evaluation_figure(y, p, "churn: backtest")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["ROC", "precision-recall"] and titles[3] == "cumulative gain"
    assert "AUC = " in fig.axes[0].get_legend().get_texts()[0].get_text()
    assert _png(fig).startswith(b"\x89PNG")
    values = pd.DataFrame(
        {"usage": rng.normal(size=400), "segment": pd.Categorical(rng.choice(["SMB", "Ent"], 400))}
    )
    bee = shap_summary_figure(rng.normal(size=(400, 2)), ["usage", "segment"], values=values)
    assert len(bee.axes) == 2  # the beeswarm and its feature-value colour bar
    assert _png(bee).startswith(b"\x89PNG")
    assert plt.get_fignums() == open_before  # nothing left open in pyplot


def test_importing_the_plots_switches_no_backend():
    code = "import matplotlib, churnml.plots; print(matplotlib.rcParams._get_backend_or_none())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"
