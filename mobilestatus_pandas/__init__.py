"""mobilestatus-pandas: are the phone numbers in a DataFrame live lines?

Tencent Cloud eKYC's ``MobileStatus`` for pandas: ``df.mobile.status("phone")`` runs
rate-limited, signed, cached lookups and adds result and status columns.

>>> import pandas as pd
>>> import mobilestatus_pandas as msp
>>> df = pd.DataFrame({"phone": ["+86 138 0013 8000", "13800000002", "not a number"]})
>>> with msp.Sandbox() as sb:
...     out = df.mobile.status("phone", client=sb.client(), progress=False)
>>> out["mobile_status"].tolist()
['out_of_service', 'cancelled', 'invalid']

Importing the package registers the ``.mobile`` accessor on DataFrame and Series. Heavy
dependencies (matplotlib, ipywidgets, tqdm, phonenumbers' metadata) load on first use.
"""

from __future__ import annotations

from . import _dask_hook
from . import accessor as _accessor  # noqa: F401  (registers .mobile)
from .actions import TENURE as _TENURE
from .client import MobileStatusClient
from .codes import (
    DEAD_LINE_STATES,
    LINE_STATES,
    NO_ANSWER_STATES,
    STATUS_DESCRIPTIONS,
    STATUSES,
)
from .credentials import Credentials
from .encryption import Encryption, EncryptionUnavailable
from .errors import (
    AuthenticationError,
    BudgetExceeded,
    CacheUnavailableError,
    CredentialsNotFound,
    EncryptionKeyError,
    InputError,
    MissingDependencyError,
    MobileStatusError,
    NoAnswerError,
    NotSentError,
    RateLimitError,
    RunInProgressError,
    ServiceError,
    TransportError,
)
from .grouping import ManyGroupsWarning
from .report import CostUnknownWarning
from .result import RESULT_COLUMNS, LookupResult, TenureResult
from .run import Run, RunReport, RunStoppedWarning
from .sandbox import Sandbox
from .tenure import BANDS as TENURE_BANDS
from .tenure import TENURE_STATUSES


def __getattr__(name: str) -> object:
    # plots and widgets pull in matplotlib / ipywidgets: load them only when asked for
    # (stats imports scipy only when compare runs, but stays out of the import all the same).
    if name in ("plots", "widgets", "report", "stats", "compare_plot"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Line tenure's result columns, in order, without prefix (``df.mobile.tenure``).
TENURE_COLUMNS = _TENURE.columns

__version__ = "0.1.0"

# .mobile on dask DataFrames too, once dask.dataframe is imported (dask itself is not).
_dask_hook.install()

__all__ = [
    "DEAD_LINE_STATES",
    "LINE_STATES",
    "NO_ANSWER_STATES",
    "RESULT_COLUMNS",
    "STATUSES",
    "STATUS_DESCRIPTIONS",
    "TENURE_BANDS",
    "TENURE_COLUMNS",
    "TENURE_STATUSES",
    "AuthenticationError",
    "BudgetExceeded",
    "CacheUnavailableError",
    "CostUnknownWarning",
    "Credentials",
    "CredentialsNotFound",
    "Encryption",
    "EncryptionKeyError",
    "EncryptionUnavailable",
    "InputError",
    "LookupResult",
    "ManyGroupsWarning",
    "MissingDependencyError",
    "MobileStatusClient",
    "MobileStatusError",
    "NoAnswerError",
    "NotSentError",
    "RateLimitError",
    "Run",
    "RunInProgressError",
    "RunReport",
    "RunStoppedWarning",
    "Sandbox",
    "ServiceError",
    "TenureResult",
    "TransportError",
    "__version__",
]
