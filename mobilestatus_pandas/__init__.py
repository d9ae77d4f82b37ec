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
from .analysis.grouping import ManyGroupsWarning
from .analysis.report import CostUnknownWarning
from .client import MobileStatusClient
from .engine import display as _engine_display
from .engine.run import Run
from .engine.run_report import RunReport
from .engine.stops import RunStoppedWarning
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
from .sandbox import Sandbox
from .service.actions import TENURE as _TENURE
from .service.codes import (
    DEAD_LINE_STATES,
    LINE_STATES,
    NO_ANSWER_STATES,
    STATUS_DESCRIPTIONS,
    STATUSES,
)
from .service.credentials import Credentials
from .service.encryption import Encryption, EncryptionUnavailable
from .service.result import RESULT_COLUMNS, LookupResult, TenureResult
from .service.tenure import BANDS as TENURE_BANDS
from .service.tenure import TENURE_STATUSES
from .views.run_view import RUN_DISPLAY as _RUN_DISPLAY

#: Modules reachable as attributes of the package (``msp.plots``, ``msp.numbers``, ...), loaded
#: on first access so that ``import mobilestatus_pandas`` stays light (plots and widgets pull in
#: matplotlib and ipywidgets, stats scipy).
_LAZY_MODULES: dict[str, str] = {
    "plots": "views.plots",
    "widgets": "views.widgets",
    "compare_plot": "views.compare_plot",
    "report": "analysis.report",
    "stats": "analysis.stats",
    "sampling": "analysis.sampling",
    "grouping": "analysis.grouping",
    "numbers": "service.numbers",
    "codes": "service.codes",
    "tenure": "service.tenure",
    "credentials": "service.credentials",
    "signing": "service.signing",
    "encryption": "service.encryption",
    "result": "service.result",
    "actions": "service.actions",
}

#: Modules that stood at the top of the package before the layers became folders: still
#: reachable as attributes, with a DeprecationWarning naming where they live now.
_MOVED_MODULES: dict[str, str] = {
    "run": "engine.run",
    "calls": "engine.calls",
    "ratelimit": "engine.ratelimit",
    "concurrency": "engine.concurrency",
    "options": "engine.options",
    "checks": "engine.checks",
    "planning": "engine.planning",
    "drawing": "views.drawing",
    "tenure_plot": "views.tenure_plot",
    "run_view": "views.run_view",
    "progress": "views.progress",
}


def __getattr__(name: str) -> object:
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{_LAZY_MODULES[name]}")
    if name in _MOVED_MODULES:
        import warnings

        where = f"{__name__}.{_MOVED_MODULES[name]}"
        warnings.warn(
            f"{__name__}.{name} moved to {where}: import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(where)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Line tenure's result columns, in order, without prefix (``df.mobile.tenure``).
TENURE_COLUMNS = _TENURE.columns

#: The installed version of mobilestatus-pandas.
__version__ = "0.1.0"

# .mobile on dask DataFrames too, once dask.dataframe is imported (dask itself is not).
_dask_hook.install()
# Runs are shown by the views (their bar, line and widget), which the engine never imports:
# the package hands the views' display down to the engine here.
_engine_display.install(_RUN_DISPLAY)

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
