"""The pyfunc face of a registered ModelBundle, logged as code (MLflow "models from code").

MLflow runs this file when it loads the model, so nothing is cloudpickled: the bundle itself is
a joblib artifact, and the few churnml modules it refers to travel with it as ``code_paths``.
Do not import this module: it is a script for ``mlflow.pyfunc.log_model(python_model=<path>)``.
"""

import joblib
import mlflow
import pandas as pd


class BundleModel(mlflow.pyfunc.PythonModel):
    """Takes a feature frame (category columns as strings), returns raw and calibrated scores."""

    def load_context(self, context) -> None:
        self.bundle = joblib.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        raw = self.bundle.predict_raw(model_input)
        return pd.DataFrame({"p_raw": raw, "p_cal": self.bundle.calibrator.predict(raw)})


mlflow.models.set_model(BundleModel())
