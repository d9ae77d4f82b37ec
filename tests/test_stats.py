"""compare(): Wilson intervals, lift and its interval, Fisher and chi-square p-values, and
estimates with intervals that cover the truth on sampled frames."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest, chi2_contingency, fisher_exact

import mobilestatus_pandas as msp
from mobilestatus_pandas.analysis.sampling import WEIGHT_COLUMN, SampleRequest, draw
from mobilestatus_pandas.analysis.stats import MIN_ANSWERED_FOR_TEST, compare, wilson_interval
from mobilestatus_pandas.datasets import random_numbers
from mobilestatus_pandas.service.tenure import BANDS, NEW_LINE_BANDS


def _frame(groups: dict[object, tuple[int, int]], other: str = "normal") -> pd.DataFrame:
    """Rows per group: (dead lines as 'cancelled', everything else as ``other``)."""
    labels: list[object] = []
    status: list[str] = []
    for group, (dead, alive) in groups.items():
        labels += [group] * (dead + alive)
        status += ["cancelled"] * dead + [other] * alive
    return pd.DataFrame({"g": labels, "mobile_status": status})


def _row(table: pd.DataFrame, status: str, group: object) -> pd.Series:
    hit = table[(table["status"] == status) & (table["group"] == group)]
    assert len(hit) == 1
    return hit.iloc[0]


# -- the interval -----------------------------------------------------------------------------


def test_wilson_interval_matches_a_hand_computed_case() -> None:
    # k = 14, n = 40, z = 1.959964: p = 0.35, centre = (p + z²/2n) / (1 + z²/n) = 0.363143,
    # half-width = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n) = 0.141798
    low, high = wilson_interval(np.array([14]), np.array([40]))
    assert low[0] == pytest.approx(0.221345, abs=1e-6)
    assert high[0] == pytest.approx(0.504941, abs=1e-6)
    table = compare(_frame({"a": (14, 26), "b": (16, 144)}), "g")
    row = _row(table, "dead_line", "a")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.221345, 0.504941), abs=1e-6)


@pytest.mark.parametrize(("k", "n"), [(0, 12), (12, 12), (1, 3), (57, 1000), (500, 1000)])
def test_wilson_interval_is_scipys(k: int, n: int) -> None:
    ci = binomtest(k, n).proportion_ci(0.9, method="wilson")
    low, high = wilson_interval(np.array([k]), np.array([n]), 0.9)
    assert (low[0], high[0]) == pytest.approx((ci.low, ci.high), abs=1e-12)


# -- lift and p-values ------------------------------------------------------------------------


def test_two_groups_columns_fisher_p_value_and_the_false_reference() -> None:
    frame = _frame({True: (14, 26), False: (16, 144)})
    table = frame.mobile.compare("g")
    assert list(table.columns) == [
        "status", "group", "rows", "n", "numbers", "effective_n", "share", "ci_low", "ci_high",
        "lift", "lift_ci_low", "lift_ci_high", "p_value", "note",
    ]  # fmt: skip
    assert table["status"].tolist() == ["dead_line"] * 2 + ["normal"] * 2 + ["cancelled"] * 2
    fraud = _row(table, "dead_line", True)
    assert fraud["share"] == pytest.approx(0.35)
    assert fraud["lift"] == pytest.approx(3.5)
    assert fraud["p_value"] == pytest.approx(fisher_exact([[14, 26], [16, 144]]).pvalue, rel=1e-12)
    se = np.sqrt(1 / 14 - 1 / 40 + 1 / 16 - 1 / 160)  # Katz
    assert fraud["lift_ci_low"] == pytest.approx(3.5 * np.exp(-1.959964 * se), rel=1e-6)
    assert fraud["lift_ci_high"] == pytest.approx(3.5 * np.exp(1.959964 * se), rel=1e-6)
    reference = _row(table, "dead_line", False)
    assert reference["lift"] == 1.0
    assert pd.isna(reference["p_value"])
    assert reference["note"] == "reference group"
    assert table.attrs["compare"]["reference"] is False


def test_lift_and_its_interval_find_a_planted_effect() -> None:
    rng = np.random.default_rng(0)
    fraud = rng.random(20_000) < 0.1
    dead = rng.random(20_000) < np.where(fraud, 0.36, 0.12)  # planted lift: 3
    frame = pd.DataFrame({"fraud": fraud, "mobile_status": np.where(dead, "offline", "normal")})
    row = _row(frame.mobile.compare("fraud", statuses="dead_line"), "dead_line", True)
    assert row["lift_ci_low"] < 3 < row["lift_ci_high"]
    assert row["lift_ci_low"] > 2.5
    assert row["lift_ci_high"] < 3.6
    assert row["p_value"] < 1e-12


def test_shuffled_labels_show_no_effect_in_most_seeds() -> None:
    rng = np.random.default_rng(1)
    dead = rng.random(3000) < 0.15
    frame = pd.DataFrame({"mobile_status": np.where(dead, "cancelled", "normal")})
    significant = 0
    for seed in range(100):
        labels = np.random.default_rng(seed).permutation(np.arange(3000) < 300)
        table = compare(frame, labels, statuses="dead_line")
        significant += bool(table["p_value"].min() <= 0.05)
    assert significant <= 10  # about 5 expected at the 5% level


def test_more_groups_chi_square_overall_and_fisher_against_the_reference() -> None:
    frame = _frame({"ads": (40, 160), "organic": (50, 450), "partner": (9, 41)})
    frame.loc[:19, "mobile_status"] = "not_found"  # a third status among the ads rows
    table = compare(frame, "g")
    assert table.attrs["compare"]["reference"] == "organic"  # the largest group
    counts = pd.crosstab(frame["g"], frame["mobile_status"])
    overall = chi2_contingency(counts.to_numpy())
    test = table.attrs["compare"]["overall_test"]
    assert test["p_value"] == pytest.approx(overall.pvalue, rel=1e-9)
    assert test["dof"] == overall.dof
    partner = _row(table, "dead_line", "partner")
    assert partner["p_value"] == pytest.approx(fisher_exact([[9, 41], [50, 450]]).pvalue)
    assert _row(table, "not_found", "organic")["share"] == 0.0
    assert _row(table, "not_found", "ads")["note"] == (
        "no rows with this status in the reference group: no lift"
    )
    assert pd.isna(_row(table, "not_found", "ads")["lift"])


def test_small_groups_get_na_and_a_note_not_a_misleading_number() -> None:
    frame = _frame({"big": (30, 170), "tiny": (3, MIN_ANSWERED_FOR_TEST - 5)})
    row = _row(compare(frame, "g"), "dead_line", "tiny")
    assert row["share"] == pytest.approx(3 / (MIN_ANSWERED_FOR_TEST - 2))  # still estimated
    assert pd.isna(row["lift"])
    assert pd.isna(row["p_value"])
    assert "no lift or test" in row["note"]


def test_rows_without_an_answer_are_left_out_of_shares() -> None:
    frame = _frame({"a": (10, 90), "b": (20, 80)})
    frame.loc[:9, "mobile_status"] = "error"
    frame.loc[10:14, "mobile_status"] = "not_checked"
    frame.loc[100:104, "mobile_status"] = "missing"
    table = compare(frame, "g")
    a = _row(table, "dead_line", "a")
    assert (a["rows"], a["n"], a["share"]) == (100, 85, pytest.approx(0 / 85))
    b = _row(table, "dead_line", "b")
    assert (b["rows"], b["n"], b["share"]) == (100, 95, pytest.approx(15 / 95))
    assert set(table["status"]) == {"dead_line", "normal", "cancelled"}


def test_by_takes_a_series_or_an_array_and_missing_groups_are_left_out() -> None:
    frame = _frame({"a": (10, 90), "b": (20, 80)})
    series = frame["g"].rename("label")
    series.iloc[:50] = None
    by_series = compare(frame, series)
    assert by_series.attrs["compare"]["by"] == "label"
    assert _row(by_series, "dead_line", "a")["rows"] == 50
    by_array = compare(frame, frame["g"].to_numpy(), reference="b")
    assert _row(by_array, "dead_line", "a")["lift"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"by": "nope"}, "cannot group by"),
        ({"by": np.array([1, 2])}, "one value per row"),
        ({"by": "g", "statuses": ["error"]}, "carries no answer"),
        ({"by": "g", "statuses": ["dead"]}, "unknown status"),
        ({"by": "g", "reference": "c"}, "is not a group"),
        ({"by": "g", "level": 95}, "confidence level"),
    ],
)
def test_wrong_options_say_what_to_do(options: dict[str, object], message: str) -> None:
    with pytest.raises(msp.InputError, match=message):
        compare(_frame({"a": (10, 90), "b": (20, 80)}), **options)  # type: ignore[arg-type]


# -- sampled frames: estimates for the whole frame that cover the truth --------------------------


def _population() -> pd.DataFrame:
    """A known 'full run': 2,000 numbers in 1-3 rows each, 5% of numbers fraudulent with a
    planted dead-line share of 35% against 14%, and a channel not used to sample."""
    rng = np.random.default_rng(42)
    numbers = np.array(random_numbers(2000, seed=42), dtype=object)
    fraud = rng.random(2000) < 0.05
    dead = rng.random(2000) < np.where(fraud, 0.35, 0.14)
    status = np.where(dead, rng.choice(["cancelled", "offline"], 2000), "normal")
    status = np.where(rng.random(2000) < 0.05, "not_found", status)
    repeats = rng.integers(1, 4, 2000)
    which = np.repeat(np.arange(2000), repeats)
    return pd.DataFrame(
        {
            "fraud": fraud[which],
            "channel": rng.choice(["ads", "organic", "partner"], len(which)),
            "mobile_number": pd.array(numbers[which], dtype="string"),
            "mobile_status": status[which],
        }
    )


def _sample(full: pd.DataFrame, size: int, by: str, seed: int) -> pd.DataFrame:
    """What status(sample=size, by=by, seed=seed) returns for ``full``, without the calls."""
    codes, distinct = pd.factorize(full["mobile_number"])
    distinct_list = [str(n) for n in distinct]
    request = SampleRequest(size, full[by].to_numpy(dtype=object), by, seed)
    _, design = draw(distinct_list, distinct_list, np.asarray(codes), request)
    sampled = full.copy()
    left = full["mobile_number"].isin(design.left_out).to_numpy()
    sampled.loc[left, "mobile_status"] = "not_checked"
    sampled[f"mobile_{WEIGHT_COLUMN}"] = design.row_weights(np.asarray(codes))
    return sampled


@pytest.mark.parametrize("by", ["fraud", "channel"])
def test_sampled_intervals_cover_the_whole_frame_at_the_stated_level(by: str) -> None:
    full = _population()
    truth = compare(full, by, statuses=["dead_line", "not_found"]).set_index(["status", "group"])
    covered = pd.Series(0, index=truth.index)
    lift_covered = pd.Series(0, index=truth.index)
    lift_given = pd.Series(0, index=truth.index)
    seeds = 200
    for seed in range(seeds):
        sampled = _sample(full, 300, "fraud", seed)  # floored: fraud numbers are ~100 of 2,000
        est = compare(sampled, by, statuses=["dead_line", "not_found"])
        est = est.set_index(["status", "group"])
        covered += (est["ci_low"] <= truth["share"]) & (truth["share"] <= est["ci_high"])
        lift_covered += (est["lift_ci_low"] <= truth["lift"]) & (
            truth["lift"] <= est["lift_ci_high"]
        )
        lift_given += est["lift_ci_low"].notna()
    assert sampled.attrs == {}  # the design came from the weights column alone
    coverage = covered / seeds
    assert (coverage >= 0.90).all(), coverage
    # the lift of the dead-line share, for each group against the reference
    dead = (truth.index.get_level_values("status") == "dead_line") & truth["lift_ci_low"].notna()
    assert dead.sum() == truth.index.get_level_values("group").nunique() - 1
    assert (lift_given[dead] >= 0.95 * seeds).all()
    assert (lift_covered[dead] / lift_given[dead] >= 0.90).all(), lift_covered / lift_given


def test_a_sampled_share_is_the_weighted_estimate() -> None:
    full = _population()
    sampled = _sample(full, 300, "fraud", 0)
    answered = sampled["mobile_status"] != "not_checked"
    w = sampled["mobile_sample_weight"].where(answered)
    dead = sampled["mobile_status"].isin(msp.DEAD_LINE_STATES)
    table = compare(sampled, "fraud", statuses="dead_line")
    for group in (False, True):
        mine = sampled["fraud"] == group
        expected = (w * dead)[mine].sum() / w[mine].sum()
        row = _row(table, "dead_line", group)
        assert row["share"] == pytest.approx(expected)
        assert row["n"] == int((answered & mine).sum())
        assert row["rows"] == int(mine.sum())


def test_a_group_without_answers_and_the_level() -> None:
    frame = _frame({"a": (30, 170), "b": (20, 180), "c": (0, 0)})
    frame = pd.concat(
        [frame, pd.DataFrame({"g": ["c"] * 12, "mobile_status": ["not_checked"] * 12})],
        ignore_index=True,
    )
    table = compare(frame, "g", statuses="dead_line")
    c = _row(table, "dead_line", "c")
    assert (c["rows"], c["n"]) == (12, 0)
    assert pd.isna(c["share"])
    assert pd.isna(c["ci_low"])
    assert c["note"] == "no answered rows"
    wide = _row(compare(frame, "g", level=0.99), "dead_line", "a")
    narrow = _row(compare(frame, "g", level=0.9), "dead_line", "a")
    assert wide["ci_low"] < narrow["ci_low"] < 0.15 < narrow["ci_high"] < wide["ci_high"]
    b_wide = _row(compare(frame, "g", level=0.99), "dead_line", "b")
    b_narrow = _row(compare(frame, "g", level=0.9), "dead_line", "b")
    assert b_wide["lift_ci_low"] < b_narrow["lift_ci_low"] < b_narrow["lift_ci_high"]
    assert b_narrow["lift_ci_high"] < b_wide["lift_ci_high"]


@pytest.mark.parametrize("empty", ["0 first", "ab between", "z last"])
def test_a_group_without_answers_leaves_the_others_figures_alone(empty: str) -> None:
    # A group with rows but no answer has no cells: wherever it sorts, every other group's
    # sums keep all their cells (a last empty group once cut the previous group's last).
    frame = _frame({"a": (30, 170), "b": (20, 180)}).assign(mobile_key=np.arange(400) // 2)
    unanswered = pd.DataFrame({"g": [empty] * 12, "mobile_status": ["error"] * 12})
    with_empty = pd.concat([frame, unanswered.assign(mobile_key=-np.arange(1, 13))])
    got = compare(with_empty, "g", reference="a")
    expected = compare(frame, "g", reference="a")
    got = got[got["group"] != empty].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[FIGURES], expected[FIGURES])
    assert _row(expected, "normal", "b")["share"] == 0.9


def test_a_frame_without_results_or_groups_is_refused() -> None:
    with pytest.raises(msp.InputError, match="mobile_status"):
        compare(pd.DataFrame({"g": [1]}), "g")
    with pytest.raises(msp.InputError, match="no groups"):
        compare(pd.DataFrame({"g": [None], "mobile_status": ["normal"]}), "g")


# -- numbers are the clusters: intervals that cover the truth when rows share numbers ----------

#: The known process: a number is a fraud ring's with this probability, then dead with the
#: group's probability, and used for 1 to 8 sign-ups.
RING_SHARE, DEAD_FRAUD, DEAD_GOOD = 0.25, 0.35, 0.14
TABLES, NUMBERS_PER_TABLE, MAX_SIGNUPS = 300, 600, 8


def _clustered_tables(tables: int, seed: int = 0) -> list[pd.DataFrame]:
    """``tables`` result frames drawn from the process above: the label is the number's, so
    a number's rows share its label and its line status."""
    rng = np.random.default_rng(seed)
    shape = (tables, NUMBERS_PER_TABLE)
    fraud = rng.random(shape) < RING_SHARE
    dead = rng.random(shape) < np.where(fraud, DEAD_FRAUD, DEAD_GOOD)
    signups = rng.integers(1, MAX_SIGNUPS + 1, shape)
    frames = []
    for t in range(tables):
        which = np.repeat(np.arange(NUMBERS_PER_TABLE), signups[t])
        frames.append(
            pd.DataFrame(
                {
                    "fraud": fraud[t][which],
                    "mobile_key": which,
                    "mobile_status": np.where(dead[t][which], "cancelled", "normal"),
                }
            )
        )
    return frames


def _coverage(frames: list[pd.DataFrame], per_row: bool) -> dict[str, float]:
    """How often the 95% intervals hold the process's shares and lift; ``per_row``: as if
    every row were its own number (the naive, row-level intervals)."""
    hits = {"fraud share": 0, "good share": 0, "lift": 0}
    for frame in frames:
        if per_row:
            frame = frame.assign(mobile_key=np.arange(len(frame)))
        table = compare(frame, "fraud", statuses="dead_line").set_index("group")
        fraud, good = table.loc[True], table.loc[False]
        hits["fraud share"] += bool(fraud["ci_low"] <= DEAD_FRAUD <= fraud["ci_high"])
        hits["good share"] += bool(good["ci_low"] <= DEAD_GOOD <= good["ci_high"])
        lift = DEAD_FRAUD / DEAD_GOOD
        hits["lift"] += bool(fraud["lift_ci_low"] <= lift <= fraud["lift_ci_high"])
    return {name: hit / len(frames) for name, hit in hits.items()}


def test_intervals_cover_the_process_when_rows_share_numbers() -> None:
    frames = _clustered_tables(TABLES)
    clustered = _coverage(frames, per_row=False)
    assert min(clustered.values()) >= 0.93, clustered
    naive = _coverage(frames[:100], per_row=True)
    assert max(naive.values()) < 0.85, naive  # rows taken as independent: far too narrow


FIGURES = ["numbers", "effective_n", "share", "ci_low", "ci_high", "lift", "lift_ci_low",
           "lift_ci_high", "p_value"]  # fmt: skip


@pytest.mark.parametrize("by", ["fraud", "channel"])
@pytest.mark.parametrize("population", ["process", "table"])
def test_a_sample_of_every_number_is_the_full_run(by: str, population: str) -> None:
    full = _population()
    everyone = _sample(full, full["mobile_number"].nunique(), "fraud", 0)
    assert (everyone[f"mobile_{WEIGHT_COLUMN}"] == 1.0).all()
    truth = compare(full, by, population=population)
    sampled = compare(everyone, by, population=population)
    pd.testing.assert_frame_equal(
        sampled[FIGURES], truth[FIGURES], check_exact=False, rtol=1e-9, atol=1e-9
    )
    if population == "table":  # about this table, the full run is exact
        assert (truth["ci_low"] == truth["share"]).all()
        assert (truth["ci_high"] == truth["share"]).all()


@pytest.mark.parametrize("by", ["fraud", "channel"])
def test_a_sample_is_never_more_certain_than_the_full_run(by: str) -> None:
    """A 90% sample holds 90% of the numbers: its effective sizes are about 0.9 of the full
    run's and its intervals about sqrt(1/0.9) = 1.05 times as wide. A single draw's interval
    moves with its estimated share (a share nearer 0.5 is less certain), so widths are
    compared over draws; the dead-line share's effective size is below the full run's in
    every draw."""
    full = _population()
    statuses = ["dead_line", "not_found"]
    truth = compare(full, by, statuses=statuses)
    width = truth["ci_high"] - truth["ci_low"]
    lift = truth["lift_ci_low"].notna()
    lift_width = np.log(truth["lift_ci_high"] / truth["lift_ci_low"])[lift]
    ratios, lift_ratios = [], []
    for seed in range(8):
        sample = _sample(full, int(0.9 * full["mobile_number"].nunique()), "fraud", seed)
        est = compare(sample, by, statuses=statuses)
        dead = est["status"] == "dead_line"
        assert (est["effective_n"][dead] < truth["effective_n"][dead]).all()
        assert (est["effective_n"][dead] > 0.8 * truth["effective_n"][dead]).all()
        ratios.append((est["ci_high"] - est["ci_low"]) / width)
        lift_ratios.append(np.log(est["lift_ci_high"] / est["lift_ci_low"])[lift] / lift_width)
        # about the table, a 90% sample is close to the full run: much narrower
        table = compare(sample, by, statuses=statuses, population="table")
        assert (table["ci_high"] - table["ci_low"] < 0.5 * (est["ci_high"] - est["ci_low"])).all()
    assert (pd.concat(ratios, axis=1).mean(axis=1) >= 1.0).all()
    assert (pd.concat(lift_ratios, axis=1).mean(axis=1) >= 1.0).all()


def test_a_frame_that_cannot_tell_its_numbers_apart_is_refused() -> None:
    full = _population()
    sampled = _sample(full, 300, "fraud", 0).drop(columns="mobile_number")
    with pytest.raises(msp.InputError, match="Keep the mobile_key column"):
        compare(sampled, "fraud")
    repeated = full.drop(columns="mobile_number")
    repeated.attrs["mobilestatus"] = {"rows": len(full), "distinct_numbers": 2000}
    with pytest.raises(msp.InputError, match="numbers repeat"):
        compare(repeated, "fraud")
    # one row per number, by the run report: each row is its own number
    single = _frame({"a": (10, 90), "b": (20, 80)})
    single.attrs["mobilestatus"] = {"rows": 200, "distinct_numbers": 200}
    assert compare(single, "g").attrs["compare"]["clusters"] == "rows (no number column)"


def test_the_key_stands_for_the_number_and_rows_of_a_number_are_one_cluster() -> None:
    full = _population()
    keyed = full.assign(mobile_key=pd.factorize(full["mobile_number"])[0] * 7 + 3)
    by_key = compare(keyed.drop(columns="mobile_number"), "fraud")
    by_number = compare(full, "fraud")
    assert by_key.attrs["compare"]["clusters"] == "numbers (mobile_key)"
    pd.testing.assert_frame_equal(by_key[FIGURES], by_number[FIGURES], rtol=1e-12)
    per_row = compare(full.assign(mobile_number=pd.RangeIndex(len(full)).astype(str)), "fraud")
    assert (by_number["numbers"] < per_row["numbers"]).all()
    assert (by_number["effective_n"] < per_row["effective_n"]).all()  # 1-3 rows per number


# -- tenure: new lines and bands, compared the same way ----------------------------------------


def _tenure_frame() -> pd.DataFrame:
    """800 numbers on 1-3 rows each: fraud numbers are new lines (under six months) 40% of the
    time, good ones 15%; some rows have no tenure (not found, missing)."""
    rng = np.random.default_rng(5)
    fraud = rng.random(800) < 0.2
    new = rng.random(800) < np.where(fraud, 0.4, 0.15)
    band = np.where(new, rng.choice(["[0,3)", "[3,6)"], 800), rng.choice(
        ["[6,12)", "[12,24)", "[24,+)"], 800))  # fmt: skip
    status = np.where(rng.random(800) < 0.05, "not_found", "known")
    band = np.where(status == "known", band, None)
    which = np.repeat(np.arange(800), rng.integers(1, 4, 800))
    return pd.DataFrame(
        {
            "fraud": fraud[which],
            "tenure_number": pd.array([f"139{i:08d}" for i in which], dtype="string"),
            "tenure_status": status[which],
            "tenure_band": pd.Categorical(band[which], categories=list(BANDS), ordered=True),
        }
    )


def test_tenure_is_compared_with_new_lines_and_bands_in_their_order() -> None:
    frame = _tenure_frame()
    table = frame.mobile.compare("fraud", outcome="tenure")
    assert table["status"].cat.categories.tolist() == ["new_line", *BANDS]
    assert table.attrs["compare"]["outcome"] == "tenure"
    fraud = _row(table, "new_line", True)
    known = frame["tenure_band"].notna()
    mine = frame["fraud"] & known
    assert fraud["n"] == int(mine.sum())
    assert fraud["share"] == pytest.approx(
        frame.loc[mine, "tenure_band"].isin(NEW_LINE_BANDS).mean()
    )
    assert fraud["ci_low"] < 0.4 < fraud["ci_high"]
    assert fraud["lift_ci_low"] > 1.5  # a new line is a fraud signal here (planted 0.4 / 0.15)
    assert fraud["p_value"] < 1e-4
    assert fraud["numbers"] == frame.loc[mine, "tenure_number"].nunique()
    with pytest.raises(msp.InputError, match="tenure_band"):
        frame.drop(columns="tenure_band").mobile.compare("fraud", outcome="tenure")
    with pytest.raises(msp.InputError, match="outcome"):
        compare(frame, "fraud", outcome="age")


def test_a_number_in_both_groups_counts_in_both_with_its_covariance() -> None:
    """The lift's log variance, by hand: sum over numbers of (u_g / p_g - u_ref / p_ref)²,
    u a number's linearised value in each group (0 where it has no row there)."""
    rng = np.random.default_rng(9)
    numbers = rng.integers(0, 300, 2000)  # 300 numbers, each in rows of both groups
    group = rng.random(2000) < 0.3
    dead = (rng.random(300) < 0.25)[numbers]
    frame = pd.DataFrame(
        {"g": group, "mobile_key": numbers, "mobile_status": np.where(dead, "offline", "normal")}
    )
    row = _row(compare(frame, "g", statuses="dead_line"), "dead_line", True)
    u = {}
    for label in (True, False):
        mine = frame[frame["g"] == label]
        p = dead[group == label].mean()
        per_number = (pd.Series(dead[group == label].astype(float) - p).groupby(
            mine["mobile_key"].to_numpy()).sum() / len(mine))  # fmt: skip
        u[label] = per_number.reindex(range(300), fill_value=0.0) / p
    se = np.sqrt(((u[True] - u[False]) ** 2).sum())
    assert np.log(row["lift_ci_high"] / row["lift"]) == pytest.approx(1.959964 * se, rel=1e-5)
    # the same rows as if every row had a number of its own: the covariance is lost
    apart = compare(frame.assign(mobile_key=np.arange(2000)), "g", statuses="dead_line")
    apart_row = _row(apart, "dead_line", True)
    assert apart_row["lift_ci_high"] / apart_row["lift"] != pytest.approx(
        row["lift_ci_high"] / row["lift"], rel=1e-3
    )


@settings(max_examples=60, deadline=None)
@given(
    counts=st.tuples(
        st.integers(1, 60), st.integers(10, 200), st.integers(1, 60), st.integers(10, 200)
    ),
    shuffle=st.randoms(use_true_random=False),
)
def test_one_row_per_number_gives_the_textbook_figures(
    counts: tuple[int, int, int, int], shuffle: random.Random
) -> None:
    """Whatever the counts and row order: Wilson on the counts, Katz's lift interval and
    Fisher's test, as before numbers were clusters (a number per row, and a key column)."""
    k, alive, k_ref, alive_ref = counts
    n, n_ref = k + alive, k_ref + alive_ref
    frame = _frame({"a": (k, alive), "b": (k_ref, alive_ref)})
    order = list(range(len(frame)))
    shuffle.shuffle(order)
    frame = frame.iloc[order].assign(mobile_key=np.arange(len(frame)) * 13 + 5)
    row = _row(compare(frame, "g", statuses="dead_line", reference="b"), "dead_line", "a")
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert row["effective_n"] == pytest.approx(n, rel=1e-12)
    lift = (k / n) / (k_ref / n_ref)
    se = np.sqrt(1 / k - 1 / n + 1 / k_ref - 1 / n_ref)
    z = 1.959963984540054
    assert row["lift_ci_low"] == pytest.approx(lift * np.exp(-z * se), rel=1e-9)
    assert row["lift_ci_high"] == pytest.approx(lift * np.exp(z * se), rel=1e-9)
    fisher = fisher_exact([[k, alive], [k_ref, alive_ref]]).pvalue
    assert row["p_value"] == pytest.approx(fisher, rel=1e-9)


# -- the counted form (rows=): what Dask sends to the client -----------------------------------


def _counted(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as its counted form: a row per distinct row, with how many it stands for."""
    columns = list(frame.columns)
    counts = frame.groupby(columns, dropna=False, observed=True, sort=False).size()
    counts = counts.rename("rows").reset_index()
    for name in columns:
        counts[name] = counts[name].astype(frame[name].dtype)
    return counts.sample(frac=1.0, random_state=0)  # the order of the counts does not matter


def _study(sampled: bool) -> pd.DataFrame:
    """The population with its awkward rows: numbers in rows of both groups, rows without a
    number (``missing``, and ``invalid``: an answer, each row a number of its own), and
    tenure's bands; sampled by fraud or not."""
    full = _population()
    rng = np.random.default_rng(7)
    full["fraud"] = np.where(rng.random(len(full)) < 0.05, ~full["fraud"], full["fraud"])
    lonely = rng.random(len(full)) < 0.06
    full["mobile_status"] = np.where(
        lonely, np.where(rng.random(len(full)) < 0.5, "missing", "invalid"), full["mobile_status"]
    )
    full["mobile_number"] = full["mobile_number"].mask(lonely)
    codes = pd.factorize(full["mobile_number"])[0]
    band = rng.choice([*BANDS, None], codes.max() + 1, p=[0.1, 0.1, 0.2, 0.2, 0.3, 0.1])
    full["tenure_band"] = pd.Categorical(
        np.where(codes >= 0, band[codes], None), categories=list(BANDS), ordered=True
    )
    full["tenure_number"] = full["mobile_number"]
    full["tenure_status"] = np.where(full["tenure_band"].isna(), "not_found", "normal")
    if not sampled:
        return full
    drawn = _sample(full[~lonely], 500, "fraud", 3)  # rows without a number: no call, weight 1
    full[f"mobile_{WEIGHT_COLUMN}"] = 1.0
    for name in ["mobile_status", f"mobile_{WEIGHT_COLUMN}"]:
        full.loc[drawn.index, name] = drawn[name]
    assert full[f"mobile_{WEIGHT_COLUMN}"].isna().any()
    return full


@pytest.mark.parametrize("sampled", [False, True])
@pytest.mark.parametrize("population", ["process", "table"])
@pytest.mark.parametrize("outcome", ["status", "tenure"])
def test_the_counted_form_gives_the_figures_of_the_rows(
    sampled: bool, population: str, outcome: str
) -> None:
    frame = _study(sampled)
    assert frame["mobile_number"].isna().any()
    assert frame["fraud"].nunique() == 2
    for by in ["fraud", ["fraud", "channel"]]:
        expected = compare(frame, by, population=population, outcome=outcome)
        counts = _counted(frame)
        assert counts["rows"].sum() == len(frame)
        assert len(counts) < len(frame)
        got = compare(counts, by, population=population, outcome=outcome, rows="rows")
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)
        overall, expected_overall = (
            t.attrs["compare"].pop("overall_test") for t in (got, expected)
        )
        assert got.attrs["compare"] == expected.attrs["compare"]
        if expected_overall is not None:
            assert overall["p_value"] == pytest.approx(expected_overall["p_value"], rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(5, 300),
    groups=st.integers(2, 4),
    sampled=st.booleans(),
    numbered=st.booleans(),
)
def test_any_counted_form_gives_the_figures_of_its_rows(
    seed: int, rows: int, groups: int, sampled: bool, numbered: bool
) -> None:
    """Numbers in several groups, runs that disagree about a number, rows without a number,
    weights of several strata, groups without answers: the counts give the rows' figures."""
    rng = np.random.default_rng(seed)
    distinct = int(rng.integers(1, rows + 1))
    which = rng.integers(0, distinct, rows)
    states = ["normal", "cancelled", "offline", "not_found", "invalid", "error", "not_checked"]
    status = rng.choice(states, distinct)[which]
    status = np.where(rng.random(rows) < 0.05, "cancelled", status)  # merged runs
    lonely = rng.random(rows) < 0.1
    status = np.where(lonely, rng.choice(["invalid", "missing"], rows), status)
    frame = pd.DataFrame(
        {
            "g": rng.integers(0, groups, rows),
            "mobile_number": pd.array(np.where(lonely, None, which.astype(str)), dtype="string"),
            "mobile_status": status,
        }
    )
    if sampled:
        weight = rng.choice([1.0, 2.5, 7 / 3], distinct)[which]
        frame["mobile_sample_weight"] = np.where(status == "not_checked", np.nan, weight)
    if not numbered and not sampled:  # (a sample without its numbers is refused)
        frame = frame.drop(columns="mobile_number")
    for population in ["process", "table"]:
        expected = compare(frame, "g", population=population)
        got = compare(_counted(frame), "g", population=population, rows="rows")
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=1e-12)


def test_rows_without_a_number_are_numbers_of_their_own_when_counted() -> None:
    # No number column: each row its own number, however many rows a count stands for.
    frame = _frame({"a": (14, 26), "b": (16, 144)})
    counts = frame.groupby(["g", "mobile_status"]).size().rename("n_rows").reset_index()
    assert len(counts) == 4
    got = compare(counts, "g", rows="n_rows")
    pd.testing.assert_frame_equal(got, compare(frame, "g"))
    assert got["numbers"].tolist() == got["n"].tolist() == [40, 160, 40, 160, 40, 160]
    zero = pd.concat([counts, counts.head(1).assign(g="c", n_rows=0)], ignore_index=True)
    assert compare(zero, "g", rows="n_rows")["group"].tolist() == ["a", "b", "c"] * 3


@pytest.mark.parametrize(
    ("rows", "message"),
    [("nope", "not a column"), ("g", "whole numbers"), ("bad", "whole numbers >= 0")],
)
def test_rows_that_do_not_count_are_refused(rows: str, message: str) -> None:
    frame = _frame({"a": (1, 2), "b": (3, 4)}).assign(bad=[1, 2, -1, 1, 1, 1, 1, 1, 1, 1])
    with pytest.raises(msp.InputError, match=message):
        compare(frame, "g", rows=rows)
