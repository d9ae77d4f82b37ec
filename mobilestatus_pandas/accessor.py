"""The ``.mobile`` accessor on DataFrame and Series: thin pandas glue over the engine.

pandas caches one accessor object per frame, so no client or run state lives here: each
method validates its input and hands it to plain functions.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from .analysis import sampling
from .client import MobileStatusClient
from .engine import options
from .engine.options import RunOptions
from .engine.plan import estimate
from .engine.run import run_lookups
from .errors import InputError
from .service import numbers
from .service.actions import STATUS, TENURE, Action, get_action, get_actions
from .service.result import ATTRS_KEY, KEY_COLUMN

if TYPE_CHECKING:
    from .engine.run import Run

DEFAULT_PREFIX = STATUS.default_prefix
#: The prefix of line tenure's columns.
TENURE_PREFIX = TENURE.default_prefix
#: The options of a run (beside the client's), for "did you mean" hints.
RUN_OPTIONS: Final = (
    "client", "prefix", "progress", "max_billed", "refresh", "validate", "overwrite",
    "sample", "by", "seed",
)  # fmt: skip

_default_client: MobileStatusClient | None = None
_default_lock = threading.Lock()


def default_client() -> MobileStatusClient:
    """The client built from the environment, made on first use and reused across calls."""
    global _default_client
    with _default_lock:
        if _default_client is None:
            _default_client = MobileStatusClient()
        return _default_client


def resolve_client(
    client: MobileStatusClient | None, options: dict[str, Any]
) -> MobileStatusClient:
    """``client`` as given, a new client from ``options``, or the shared default.

    An option name the client does not take raises :class:`InputError` (with close matches)
    before anything is made or sent.
    """
    known = [name for name in inspect.signature(MobileStatusClient).parameters if name != "self"]
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, [*known, *RUN_OPTIONS], n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise InputError(
                f"{name}= is not an option of the lookup or of MobileStatusClient.{hint}"
            )
    if client is not None:
        if options:
            raise InputError(
                f"pass either client= or client options ({', '.join(sorted(options))}), not both"
            )
        return client
    if options:
        return MobileStatusClient(**options)
    return default_client()


def _check_column(frame: pd.DataFrame, column: object) -> pd.Series:
    if column not in frame.columns:
        names = [str(c) for c in frame.columns]
        close = difflib.get_close_matches(str(column), names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"column {column!r} is not in the frame (columns: {names[:20]}).{hint}")
    selected: object = frame[column]
    if not isinstance(selected, pd.Series):
        raise InputError(f"column label {column!r} is not unique in the frame")
    return selected


def _check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise InputError(
            f"prefix must be a string (the result columns' prefix, e.g. 'mobile_'), got {prefix!r}"
        )
    return prefix


def _clashes(
    frame: pd.DataFrame, column: object, prefix: str, overwrite: object, action: Action = STATUS
) -> list[str]:
    """The result columns that already exist; refused unless ``overwrite``, and never the
    input column itself."""
    overwrite = options.flag("overwrite", overwrite)
    # A stale sample weight from an earlier sampled run must not outlive its results.
    produced = [*action.columns, sampling.WEIGHT_COLUMN, KEY_COLUMN]
    clash = [prefix + name for name in produced if prefix + name in frame.columns]
    if clash and not overwrite:
        raise InputError(
            f"columns {clash} already exist; pass overwrite=True to replace them, or another "
            "prefix="
        )
    if column in clash:
        raise InputError(
            f"the result column {column!r} is the input column: overwrite=True never replaces "
            f"the numbers being looked up; pass another prefix= (now {prefix!r})"
        )
    return clash


def _numbers_per_group(series: pd.Series, groups: pd.Series) -> dict[Any, int]:
    """The distinct valid numbers of each group, a number in the group of its first row (as
    a stratified sample draws them); missing groups under ``None``."""
    from .analysis.sampling import MISSING_GROUP

    national = numbers.normalize(series)
    valid = numbers.is_valid(national).fillna(False).to_numpy(dtype=bool)
    frame = pd.DataFrame({"number": national.to_numpy(), "group": groups.to_numpy()})[valid]
    first = frame.drop_duplicates("number")
    labels = first["group"].astype(object).where(first["group"].notna(), MISSING_GROUP)
    counts = labels.value_counts(dropna=False, sort=False)
    with contextlib.suppress(TypeError):  # labels that do not sort keep their order
        counts = counts.sort_index()
    return {(k.item() if hasattr(k, "item") else k): int(v) for k, v in counts.items()}


def group_values(frame: pd.DataFrame | pd.Series, by: object) -> pd.Series | None:
    """``by`` as a Series of one label per row (positional), named after the grouping,
    resolved as everywhere (:func:`~.grouping.resolve_by`); several keys make tuple labels."""
    from .analysis.grouping import resolve_by

    if by is None:
        return None
    host = frame.to_frame() if isinstance(frame, pd.Series) else frame
    if isinstance(by, str) and by not in host.columns and by not in host.index.names:
        _check_column(host, by)  # raises, naming close matches
    keys, names = resolve_by(host, by, warn_above=None)
    if len(keys) == 1:
        return pd.Series(keys[0].to_numpy(dtype=object), name=keys[0].name)
    labels = list(zip(*(k.to_numpy(dtype=object) for k in keys), strict=True))
    return pd.Series(labels, dtype=object, name=", ".join(names))


def _lookup(
    series: pd.Series,
    client: MobileStatusClient | None,
    client_options: dict[str, Any],
    prefix: str,
    **run_options: Any,
) -> pd.DataFrame:
    """Check the values and options, run the lookups, and prefix the result columns.

    Every check runs before the client is made and before any request.
    """
    numbers.check_dtype(series)
    asked = RunOptions(**run_options)
    results = run_lookups(resolve_client(client, client_options), series, asked)
    return results.add_prefix(prefix)


def _check_prefixes(prefixes: object, actions: tuple[Action, ...]) -> dict[str, str]:
    """Each action's prefix: its default, or what ``prefixes`` (a dict by action) says."""
    chosen = {a.name: a.default_prefix for a in actions}
    if prefixes is None:
        return chosen
    if not isinstance(prefixes, dict):
        raise InputError(
            f"prefixes must be a dict by action, e.g. {{'tenure': 'ten_'}}, got {prefixes!r}"
        )
    for name, prefix in prefixes.items():
        chosen[get_action(name).name] = _check_prefix(prefix)
    if len(set(chosen.values())) < len(chosen):
        raise InputError(f"each action needs its own prefix, got {chosen}")
    return chosen


def _start(
    series: pd.Series,
    client: MobileStatusClient | None,
    client_options: dict[str, Any],
    shape: Callable[[pd.DataFrame], pd.DataFrame],
    **run_options: Any,
) -> Run:
    """Check the values and options and start a background run (see :mod:`.run`)."""
    from .engine.run import start

    numbers.check_dtype(series)
    asked = RunOptions(**run_options)
    return start(resolve_client(client, client_options), series, asked, shape=shape)


def _joined(
    frame: pd.DataFrame, clash: list[str], prefix: str
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """How results become ``status``'s output: ``frame`` plus the prefixed result columns."""

    def shape(results: pd.DataFrame) -> pd.DataFrame:
        results = results.add_prefix(prefix)
        out = frame.drop(columns=clash) if clash else frame.copy(deep=False)
        out = pd.concat([out, results], axis=1)
        out.attrs = {**frame.attrs, **results.attrs}
        return out

    return shape


def _prefixed(prefix: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def shape(results: pd.DataFrame) -> pd.DataFrame:
        return results.add_prefix(prefix)

    return shape


@pd.api.extensions.register_dataframe_accessor("mobile")
class MobileFrameAccessor:
    """``df.mobile``: look up a phone column and add the result columns, then read them.

    Before paying, :meth:`estimate`; to look up, :meth:`status` (or :meth:`start` in the
    background), :meth:`tenure` for line tenure, :meth:`check` for both; on the result,
    :meth:`summary`, :meth:`compare`, :meth:`shared`, :meth:`plot` and :meth:`dashboard`.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def status(
        self,
        column: object,
        *,
        client: MobileStatusClient | None = None,
        prefix: str = DEFAULT_PREFIX,
        progress: bool = True,
        max_billed: int | None = None,
        refresh: bool = False,
        validate: str | None = None,
        overwrite: bool = False,
        sample: int | None = None,
        by: object = None,
        seed: int | None = None,
        **client_options: Any,
    ) -> pd.DataFrame:
        """Return a new frame: this frame plus the ``mobile_*`` result columns.

        Each distinct number of ``column`` is looked up once, however many rows carry it;
        fresh cached answers cost nothing; calls go out signed, at the client's rate limit,
        and each answer is written to the cache and the ledger as it arrives, so a run
        stopped by Ctrl-C or a crash resumes without paying twice. Values that are not CN
        mobile numbers are never sent: their rows are ``invalid`` or ``missing``, with the
        reason in ``description``. Every check on the column and the options runs before the
        first request. The frame itself is never modified.

        Args:
            column: the phone column: strings in any format, integers, floats or
                categoricals (read a CSV's phone column with ``dtype=str``).
            client: the :class:`~mobilestatus_pandas.MobileStatusClient` to use; without
                one, a client is made from ``client_options`` (or the default one is used).
            prefix: the prefix of the result columns.
            progress: show the run's progress: a live widget in Jupyter, tqdm's bar on a
                terminal, a few plain lines in a log.
            max_billed: the most calls the service may bill in this run, counting the
                possibly billed ones (sent, no answer) and retries; the rows left are
                ``not_checked`` and a :class:`~mobilestatus_pandas.RunStoppedWarning`
                says so.
            refresh: ask the service again even when a fresh answer is cached.
            validate: ``"local"`` sends only numbers in libphonenumber's CN mobile ranges,
                ``"server"`` every 11-digit number; ``None``: the client's (``"local"``).
            overwrite: replace result columns that exist already (never ``column`` itself).
            sample: look up only this many distinct numbers, drawn at random among those a
                full run would send; other rows are ``not_checked`` with
                ``error="not sampled"``, ``attrs["mobilestatus"]["sample"]`` records the
                design and ``mobile_sample_weight`` each row's weight (see
                :meth:`compare`, which estimates the whole frame from them).
            by: stratify the sample (a column name, or a Series or array, as ``groupby``
                takes), with a floor of numbers per group so that a rare label is drawn.
            seed: make the sample's draw repeatable (``None`` draws one and records it).
            **client_options: :class:`~mobilestatus_pandas.MobileStatusClient`'s options
                (``endpoint=``, ``secret_id=``, ``cache=``, ``rate_limit=``,
                ``price_per_call=``, ...) when no ``client`` is given.

        Returns:
            pandas.DataFrame: this frame's index and columns, then ``mobile_number``,
            ``mobile_valid``, ``mobile_result``, ``mobile_description``,
            ``mobile_status_code``, ``mobile_status`` (a category of
            :data:`~mobilestatus_pandas.STATUSES`, in that order), ``mobile_billed``,
            ``mobile_from_cache``, ``mobile_checked_at``, ``mobile_request_id`` and
            ``mobile_error``. The run's :class:`~mobilestatus_pandas.RunReport` (calls,
            billed calls, cache hits, cost, why it stopped) is in
            ``out.attrs["mobilestatus"]``.

        Raises:
            KeyError: ``column`` is not in the frame (the message suggests close names).
            ~mobilestatus_pandas.InputError: a bad option, result columns that exist already
                (without ``overwrite``), or a ``float32`` column that cannot hold 11 digits.
            ~mobilestatus_pandas.AuthenticationError: the service refused the credentials,
                at the run's first call (it goes alone, so a wrong key costs one request).
            ~mobilestatus_pandas.TransportError: the run's first call got no answer: the
                endpoint is wrong or unreachable.
            ~mobilestatus_pandas.CacheUnavailableError: the cache cannot be used; nothing
                was sent.

        See Also:
            :meth:`estimate`: what a run would cost, before any call.
            :meth:`start`: the same run in the background.
            :meth:`summary`, :meth:`compare`, :meth:`plot`: read the result.

        Examples:
            >>> import pandas as pd, mobilestatus_pandas as msp
            >>> with msp.Sandbox() as sb:
            ...     out = pd.DataFrame({"phone": ["13800000000"]}).mobile.status(
            ...         "phone", client=sb.client(), progress=False)
            >>> out.loc[0, "mobile_status"]
            'normal'
        """
        series = _check_column(self._frame, column)
        clash = _clashes(self._frame, column, _check_prefix(prefix), overwrite)
        groups = group_values(self._frame, by)
        results = _lookup(
            series, client, client_options, prefix,
            progress=progress, max_billed=max_billed, refresh=refresh, validate=validate,
            sample=sample, by=groups, seed=seed,
        )  # fmt: skip
        out = self._frame.drop(columns=clash) if clash else self._frame.copy(deep=False)
        out = pd.concat([out, results], axis=1)
        out.attrs = {**self._frame.attrs, **results.attrs}
        return out

    def start(
        self,
        column: object,
        *,
        client: MobileStatusClient | None = None,
        prefix: str | None = None,
        progress: bool = True,
        max_billed: int | None = None,
        refresh: bool = False,
        validate: str | None = None,
        overwrite: bool = False,
        sample: int | None = None,
        by: object = None,
        seed: int | None = None,
        action: str = "status",
        **client_options: Any,
    ) -> Run:
        """Start :meth:`status` in the background: a :class:`~mobilestatus_pandas.Run`, at once.

        ``action="tenure"`` starts :meth:`tenure` instead (its columns, prefix ``tenure_``).

        The same options as :meth:`status`. ``run.partial()`` is the frame so far (shaped
        exactly like ``status``'s output, rows not answered yet ``not_checked``),
        ``run.stop()`` stops sending and keeps every answer, ``run.result()`` waits for the
        frame; in Jupyter ``run`` displays as a live widget. Every check on the column and
        the options runs now, before the run starts.

        >>> import pandas as pd, mobilestatus_pandas as msp
        >>> with msp.Sandbox() as sb:
        ...     run = pd.DataFrame({"phone": ["13800000000"]}).mobile.start(
        ...         "phone", client=sb.client(cache=None))
        ...     run.result(timeout=30).loc[0, "mobile_status"]
        'normal'
        """
        chosen = get_action(action)
        prefix = chosen.default_prefix if prefix is None else _check_prefix(prefix)
        series = _check_column(self._frame, column)
        clash = _clashes(self._frame, column, prefix, overwrite, chosen)
        groups = group_values(self._frame, by)
        return _start(
            series, client, client_options, _joined(self._frame, clash, prefix),
            progress=progress, max_billed=max_billed, refresh=refresh, validate=validate,
            sample=sample, by=groups, seed=seed, action=chosen,
        )  # fmt: skip

    def tenure(
        self,
        column: object,
        *,
        client: MobileStatusClient | None = None,
        prefix: str = TENURE_PREFIX,
        progress: bool = True,
        max_billed: int | None = None,
        refresh: bool = False,
        validate: str | None = None,
        overwrite: bool = False,
        sample: int | None = None,
        by: object = None,
        seed: int | None = None,
        **client_options: Any,
    ) -> pd.DataFrame:
        """Return a new frame: this frame plus the ``tenure_*`` columns (line tenure, from
        MobileNetworkTimeVerification). Options as for :meth:`status`.

        Columns: ``number``, ``valid``, ``result``, ``description``, ``range`` (the
        service's text, e.g. ``[6,12)``), ``months_min`` and ``months_max`` (Int64; no upper
        bound is ``<NA>``), ``band`` (ordered: ``[0,3)`` < ``[3,6)`` < ``[6,12)`` <
        ``[12,24)`` < ``[24,+)``), ``status`` (``known``, ``no_duration``, ``not_found``,
        ``unsupported``, ``invalid``, ``missing``, ``busy``, ``daily_limit``, ``error``,
        ``not_checked``), ``billed``, ``from_cache``, ``checked_at``, ``request_id``,
        ``error``. Results 0, -2 and -3 are billed.

        >>> import pandas as pd, mobilestatus_pandas as msp
        >>> with msp.Sandbox() as sb:
        ...     out = pd.DataFrame({"phone": ["13900000003"]}).mobile.tenure(
        ...         "phone", client=sb.client(cache=None), progress=False)
        >>> out.loc[0, "tenure_band"], int(out.loc[0, "tenure_months_max"])
        ('[3,6)', 6)
        """
        series = _check_column(self._frame, column)
        clash = _clashes(self._frame, column, _check_prefix(prefix), overwrite, TENURE)
        groups = group_values(self._frame, by)
        results = _lookup(
            series, client, client_options, prefix,
            progress=progress, max_billed=max_billed, refresh=refresh, validate=validate,
            sample=sample, by=groups, seed=seed, action=TENURE,
        )  # fmt: skip
        out = self._frame.drop(columns=clash) if clash else self._frame.copy(deep=False)
        out = pd.concat([out, results], axis=1)
        out.attrs = {**self._frame.attrs, **results.attrs}
        return out

    def check(
        self,
        column: object,
        actions: str | tuple[str, ...] | list[str] = ("status", "tenure"),
        *,
        client: MobileStatusClient | None = None,
        prefixes: dict[str, str] | None = None,
        progress: bool = True,
        max_billed: int | None = None,
        refresh: bool = False,
        validate: str | None = None,
        overwrite: bool = False,
        sample: int | None = None,
        by: object = None,
        seed: int | None = None,
        **client_options: Any,
    ) -> pd.DataFrame:
        """Several actions in one pass: this frame plus each action's columns
        (``mobile_*`` for status, ``tenure_*`` for tenure, or ``prefixes={"tenure": ...}``).

        The actions run at the same time, each at its own rate limit (so two take about as
        long as one); ``max_billed`` is one budget for all of them; each has its own cache
        entries, ledger rows and price. ``attrs["mobilestatus"]`` holds the first action's
        run report, and each action's under its name (``["status"]``, ``["tenure"]``).

        >>> import pandas as pd, mobilestatus_pandas as msp
        >>> with msp.Sandbox() as sb:
        ...     out = pd.DataFrame({"phone": ["13800138000"]}).mobile.check(
        ...         "phone", client=sb.client(cache=None), progress=False)
        >>> out.loc[0, "mobile_status"], out.loc[0, "tenure_band"]
        ('out_of_service', '[24,+)')
        """
        from .engine.checks import run_actions

        chosen = get_actions(actions)
        series = _check_column(self._frame, column)
        numbers.check_dtype(series)
        options.check_run_options(
            progress=progress, max_billed=max_billed, refresh=refresh, validate=validate
        )
        prefix_of = _check_prefixes(prefixes, chosen)
        clash = [
            c
            for a in chosen
            for c in _clashes(self._frame, column, prefix_of[a.name], overwrite, a)
        ]
        groups = group_values(self._frame, by)
        resolved = resolve_client(client, client_options)
        asked = RunOptions(
            progress=progress, max_billed=max_billed, refresh=refresh, validate=validate,
            sample=sample, by=groups, seed=seed,
        )  # fmt: skip
        if len(chosen) == 1:  # one action: the plain run
            only = chosen[0]
            frames = {only.name: run_lookups(resolved, series, asked.replace(action=only))}
        else:
            frames = run_actions(resolved, series, chosen, asked)
        out = self._frame.drop(columns=clash) if clash else self._frame.copy(deep=False)
        parts = [frames[a.name].add_prefix(prefix_of[a.name]) for a in chosen]
        out = pd.concat([out, *parts], axis=1)
        reports = {a.name: frames[a.name].attrs.get(ATTRS_KEY, {}) for a in chosen}
        out.attrs = {
            **self._frame.attrs,
            ATTRS_KEY: {**reports[chosen[0].name], **reports},
        }
        return out

    def summary(
        self,
        by: object = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        price_per_call: float | None = None,
        currency: str | None = None,
        all_statuses: bool = False,
        wide: bool = False,
        values: str = "rows",
    ) -> pd.DataFrame:
        """Line health per status (and per group with ``by``), columns named for their unit:
        ``rows``, ``row_share``, ``answered_share`` (among rows with an answer about the
        line), ``numbers``, ``number_share``, ``billed_numbers``, ``cached_numbers``,
        ``cached_rows``, and ``cost_<currency>`` when a price is known.

        ``by`` takes what ``groupby`` takes: a column, a list, a Series
        (``out.signup_ts.dt.month``), an array or a ``pd.Grouper``. Statuses with no row are
        hidden unless ``all_statuses=True``; ``wide=True`` gives a row per group and a column
        per status (holding ``values``), then the group totals. ``price_per_call`` (default:
        the run's) and ``currency`` (default ``"USD"``) price the billed numbers; a number in
        several rows has its cost split equally among them. On a sampled frame,
        ``estimated_rows`` and ``estimated_share`` estimate the whole frame.

        >>> import pandas as pd, mobilestatus_pandas as msp
        >>> with msp.Sandbox() as sb:
        ...     out = pd.DataFrame({"phone": ["13800000000"] * 2 + ["junk"]}).mobile.status(
        ...         "phone", client=sb.client(price_per_call=0.05), progress=False)
        >>> table = out.mobile.summary()
        >>> normal = table.loc["normal"]
        >>> int(normal["rows"]), int(normal["billed_numbers"]), float(normal["cost_usd"])
        (2, 1, 0.05)
        >>> list(table.index)
        ['normal', 'invalid']
        """
        from .analysis.report import summary

        return summary(
            self._frame, by, prefix=prefix, price_per_call=price_per_call, currency=currency,
            all_statuses=all_statuses, wide=wide, values=values,
        )  # fmt: skip

    def compare(
        self,
        by: object,
        *,
        reference: object = None,
        statuses: Sequence[str] | str | None = None,
        level: float = 0.95,
        population: str = "process",
        outcome: str = "status",
        prefix: str | None = None,
    ) -> pd.DataFrame:
        """Shares of each status (and ``dead_line``) per group with Wilson intervals, lift
        against a reference group with its interval, and p-values (Fisher's exact test);
        rows that share a number are one cluster (``mobile_key``, else ``mobile_number``).

        One row per (status, group): ``status, group, rows, n, numbers, effective_n, share,
        ci_low, ci_high, lift, lift_ci_low, lift_ci_high, p_value, note``. ``by`` is a column
        name or a Series/array like ``groupby``'s; ``reference`` defaults to the largest group
        (the ``False`` group of a boolean). On a sampled frame the shares estimate the whole
        frame. ``population="table"`` asks about this table rather than the process that
        makes sign-ups. ``outcome="tenure"`` compares line tenure instead: ``new_line``
        (under six months) and the bands in their order, among rows with a known band. See
        :func:`mobilestatus_pandas.analysis.stats.compare`.
        """
        from .analysis.stats import compare

        return compare(
            self._frame, by, reference=reference, statuses=statuses, level=level,
            population=population, outcome=outcome, prefix=prefix,
        )  # fmt: skip

    def plot(
        self,
        kind: str = "health",
        by: object = None,
        ax: Any = None,
        **options: Any,
    ) -> Any:
        """A picture of the results; returns the matplotlib Axes (``ax=`` draws into yours).

        ``kind="health"``: stacked status shares, one bar per group of ``by`` (anything
        ``groupby`` takes). Options: ``normalize=True`` (False: row counts), ``prefix``.

        ``kind="time"``: dead lines over time, the share of dead lines (dashed) and of each
        dead line state per period, the rows per period as bars, partial first or last periods
        drawn hollow and named in the title. Options: ``on`` (a datetime column; default the
        index), ``freq="W"`` (a pandas period: ``"D"``, ``"W"``, ``"M"``, ...),
        ``answered=True`` (shares among rows with an answer about the line, the one
        definition, with the dead-line share's interval; False: of all rows), ``statuses``
        (default dead lines and each dead line state; ``"all"``), ``prefix``.

        ``kind="billing"``: billed and unbilled calls, cache hits and numbers not sent for a
        run; per period for a ledger frame or with ``ledger=client.ledger()``. Options:
        ``ledger``, ``period="D"``, ``price_per_call``, ``currency="USD"``. Takes no ``by``.

        ``kind="compare"`` (needs ``by``): shares with Wilson interval bars per group beside
        the lift against the reference group on a log axis with its interval (a forest
        plot); returns both Axes. Options: ``reference``, ``statuses``, ``level``,
        ``outcome`` (``"tenure"``: new lines and tenure bands), ``population``, ``prefix``
        (as for :meth:`compare`).

        ``kind="tenure"``: line tenure of a tenure frame (``df.mobile.tenure`` or
        ``df.mobile.check``), one stacked bar of tenure bands per group of ``by``, then the
        rows without a tenure. Options: ``normalize=True``, ``prefix="tenure_"``.

        An unknown kind or option raises ``InputError``.
        """
        from .views.plots import plot

        return plot(self._frame, kind, by, ax, **options)

    def shared(
        self, by: object, *, min_accounts: int = 2, prefix: str = DEFAULT_PREFIX
    ) -> pd.DataFrame:
        """Numbers used by several accounts (a fraud signal of their own), most shared first.

        ``by`` names the account (e.g. ``"user_id"``; anything ``groupby`` takes). One row per
        number carried by at least ``min_accounts`` distinct accounts: ``accounts``, ``rows``,
        the line ``status`` and ``dead_line``, indexed by the number. The numbers come from
        your own frame and are shown as they are there; they are never logged.
        """
        from .analysis.report import shared

        return shared(self._frame, by, min_accounts=min_accounts, prefix=prefix)

    def dashboard(
        self, by: str | None = None, *, prefix: str = DEFAULT_PREFIX, currency: str | None = None
    ) -> Any:
        """One ipywidgets widget: headline figures, grouping and counts/shares controls,
        the health plot and the summary table; changing a control redraws in place."""
        from .views.widgets import Dashboard

        return Dashboard(self._frame, by=by, prefix=prefix, currency=currency)

    def estimate(
        self,
        column: object,
        *,
        client: MobileStatusClient | None = None,
        validate: str | None = None,
        refresh: bool = False,
        sample: int | None = None,
        target_width: float | None = None,
        level: float = 0.95,
        expected_share: float | None = None,
        by: object = None,
        action: str = "status",
        **client_options: Any,
    ) -> pd.Series:
        """Before paying: rows, distinct, invalid, cached, calls needed, worst-case cost, time.

        No call is made. ``sample=N`` adds what a sample of N distinct numbers would cost
        beside the full run (``sample numbers``, ``sample worst-case billed calls``,
        ``sample worst-case cost``, ``sample expected minutes``) and the ``sample interval
        width`` of the dead-line share at ``level``; ``target_width=0.02`` adds the
        ``numbers for target width``. Both plan for a dead-line share of ``expected_share``
        (default 0.5, the widest interval), about the process (the full run has a width too:
        ``full run interval width``). With ``sample`` and ``by`` (as ``status(sample=, by=)``
        takes it) each group's allocated ``sample numbers [by=g]``, its ``sample interval
        width [by=g]`` and its ``full run interval width [by=g]``. See
        :mod:`mobilestatus_pandas.engine.planning`. ``action="tenure"`` estimates line
        tenure's run: its cache entries, its price.

        >>> import pandas as pd, mobilestatus_pandas as msp
        >>> with msp.Sandbox() as sb:
        ...     est = pd.DataFrame({"phone": ["13800000000"] * 3 + ["junk"]}).mobile.estimate(
        ...         "phone", client=sb.client(price_per_call=0.1))
        >>> est["calls needed"], est["invalid rows"], est["worst-case cost"]
        (1, 1, 0.1)
        """
        from .engine.planning import extend_estimate

        series = _check_column(self._frame, column)
        numbers.check_dtype(series)
        options.check_run_options(refresh=refresh, validate=validate)
        chosen = get_action(action)
        resolved = resolve_client(client, client_options)
        full = estimate(resolved, series, validate=validate, refresh=refresh, action=chosen)
        groups = group_values(self._frame, by)
        if groups is not None and sample is None:
            raise InputError("by= plans a stratified sample: pass sample=N with it")
        return extend_estimate(
            full, sample=sample, target_width=target_width, level=level,
            expected_share=expected_share, price_per_call=resolved.price_for(chosen),
            rate_per_second=resolved.rate_limit,
            groups=None if groups is None else _numbers_per_group(series, groups),
            by_name=None if groups is None else groups.name,
        )  # fmt: skip


@pd.api.extensions.register_series_accessor("mobile")
class MobileSeriesAccessor:
    """``s.mobile``: normalise or look up a Series of phone numbers."""

    def __init__(self, series: pd.Series) -> None:
        self._series = series

    def normalize(self, *, reasons: bool = False) -> pd.Series | pd.DataFrame:
        """The 11-digit national numbers (string dtype), ``<NA>`` where not a number.

        With ``reasons=True``, a frame (see :func:`mobilestatus_pandas.service.numbers.classify`):
        ``number``, ``valid`` (a CN mobile number: it would be looked up) and ``reason`` (why
        not: "no number given", "digits lost", "landline", ...).

        >>> import pandas as pd, mobilestatus_pandas as msp
        >>> pd.Series(["138 0013 8000", None, "1.38001E+10"]).mobile.normalize().tolist()
        ['13800138000', <NA>, <NA>]
        >>> pd.Series(["138 0013 8000", None, "1.38001E+10"]).mobile.normalize(
        ...     reasons=True)["reason"].tolist()
        [<NA>, 'no number given', 'digits lost']
        """
        if options.flag("reasons", reasons):
            return numbers.classify(self._series)
        return numbers.normalize(self._series)

    def status(
        self,
        *,
        client: MobileStatusClient | None = None,
        prefix: str = DEFAULT_PREFIX,
        progress: bool = True,
        max_billed: int | None = None,
        refresh: bool = False,
        validate: str | None = None,
        sample: int | None = None,
        by: object = None,
        seed: int | None = None,
        **client_options: Any,
    ) -> pd.DataFrame:
        """Only the result columns, indexed like the Series.

        The same run as :meth:`DataFrame.mobile.status <pandas.DataFrame.mobile.status>`,
        with the same options; ``by`` is a Series or an array, one value per row.

        >>> import pandas as pd, mobilestatus_pandas as msp
        >>> phones = pd.Series(["138 0013 8000", "", "13800000002"], index=[10, 20, 30])
        >>> with msp.Sandbox() as sb:
        ...     cols = phones.mobile.status(client=sb.client(cache=None), progress=False)
        >>> cols["mobile_status"].tolist(), cols.index.tolist()
        (['out_of_service', 'missing', 'cancelled'], [10, 20, 30])
        """
        groups = group_values(self._series, by)
        return _lookup(
            self._series, client, client_options, _check_prefix(prefix),
            progress=progress, max_billed=max_billed, refresh=refresh, validate=validate,
            sample=sample, by=groups, seed=seed,
        )  # fmt: skip

    def tenure(
        self,
        *,
        client: MobileStatusClient | None = None,
        prefix: str = TENURE_PREFIX,
        progress: bool = True,
        max_billed: int | None = None,
        refresh: bool = False,
        validate: str | None = None,
        sample: int | None = None,
        by: object = None,
        seed: int | None = None,
        **client_options: Any,
    ) -> pd.DataFrame:
        """Only the line tenure columns (``tenure_*``), indexed like the Series; options as
        for :meth:`status`."""
        groups = group_values(self._series, by)
        return _lookup(
            self._series, client, client_options, _check_prefix(prefix),
            progress=progress, max_billed=max_billed, refresh=refresh, validate=validate,
            sample=sample, by=groups, seed=seed, action=TENURE,
        )  # fmt: skip

    def start(
        self,
        *,
        client: MobileStatusClient | None = None,
        prefix: str = DEFAULT_PREFIX,
        progress: bool = True,
        max_billed: int | None = None,
        refresh: bool = False,
        validate: str | None = None,
        sample: int | None = None,
        by: object = None,
        seed: int | None = None,
        **client_options: Any,
    ) -> Run:
        """:meth:`status` in the background: a :class:`~mobilestatus_pandas.Run`, at once
        (see :meth:`DataFrame.mobile.start <pandas.DataFrame.mobile.start>`); its frames
        hold only the result columns."""
        groups = group_values(self._series, by)
        return _start(
            self._series, client, client_options, _prefixed(_check_prefix(prefix)),
            progress=progress, max_billed=max_billed, refresh=refresh, validate=validate,
            sample=sample, by=groups, seed=seed,
        )  # fmt: skip
