"""PFA: covariance accuracy, strategies, unit selection, recipes, show() and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from deepview.base import ArrayProducer, Batch
from deepview.exceptions import (
    DeepViewException,
    DeepViewWarning,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)
from deepview.introspectors import (
    PFA,
    PFACovariancesResult,
    PFAEnergyDiagnostics,
    PFAKLDiagnostics,
    PFARecipe,
)


def planted(rng: np.random.Generator, n: int = 3000, k: int = 6, n_corr: int = 10,
            n_dead: int = 4, noise: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """k independent sources, n_corr noisy combinations of them, n_dead constant units,
    shuffled; returns (data, sorted dead unit indices)."""
    src = rng.normal(size=(n, k)) * rng.uniform(0.5, 2.0, size=k)
    mix = src @ rng.normal(size=(k, n_corr)) + noise * rng.normal(size=(n, n_corr))
    dead = np.zeros((n, n_dead))
    dead[:, ::2] = 3.0  # constant but not zero: still inactive
    x = np.hstack([src, mix, dead])
    order = rng.permutation(x.shape[1])
    x = x[:, order]
    dead_units = np.sort(np.flatnonzero(order >= k + n_corr))
    return x, dead_units


def cov_result(pfa: PFA, name: str = "x") -> PFACovariancesResult:
    return pfa.covariances[name]


# ---------------------------------------------------------------- covariance


@pytest.mark.parametrize("batch_size", [1, 7, 32, 5000])
def test_covariance_matches_np_cov_for_any_batch_size(rng, make_producer, batch_size):
    x = rng.normal(size=(2500, 9)) @ rng.normal(size=(9, 9)) + rng.normal(size=9) * 5
    producer = make_producer({"x": x})
    pfa = PFA.introspect(producer, batch_size=batch_size)
    assert producer.calls == 1
    np.testing.assert_allclose(cov_result(pfa).covariances, np.cov(x.T), rtol=1e-10, atol=1e-12)


def test_covariance_spans_many_blocks(rng, monkeypatch):
    from deepview.introspectors._pfa import _covariances

    monkeypatch.setattr(_covariances, "_BLOCK_BYTES", 2048)  # 64-row blocks
    monkeypatch.setattr(_covariances, "_MAX_PENDING", 3)  # fold often
    x = rng.normal(size=(1000, 5)) + np.linspace(0, 50, 1000)[:, None]  # drifting mean
    pfa = PFA.introspect(ArrayProducer({"x": x}), batch_size=10)
    np.testing.assert_allclose(cov_result(pfa).covariances, np.cov(x.T), rtol=1e-10)


def test_covariance_stable_with_large_offset(rng):
    x = 1e4 + rng.normal(size=(4000, 6))
    expected = np.cov(x.T)  # two-pass, accurate reference
    for dtype, rtol in ((np.float64, 1e-9), (np.float32, 2e-4)):
        data = x.astype(dtype)
        exp = np.cov(data.astype(np.float64).T)
        got = cov_result(PFA.introspect(ArrayProducer({"x": data}), batch_size=32)).covariances
        np.testing.assert_allclose(got, exp, rtol=rtol, atol=rtol)
    # the cancellation-prone textbook formula would be off by orders of magnitude here
    n = len(x)
    naive = (x.T @ x - n * np.outer(x.mean(0), x.mean(0))) / (n - 1)
    assert np.abs(naive - expected).max() > 1e-7


def test_float32_responses_are_accurate(rng):
    x = (rng.normal(size=(6000, 40)) @ rng.normal(size=(40, 40))).astype(np.float32)
    got = cov_result(PFA.introspect(ArrayProducer({"x": x}))).covariances
    exp = np.cov(x.astype(np.float64).T)
    assert np.abs(got - exp).max() <= 1e-5 * np.abs(exp).max()


def test_eigenvectors_match_eigenvalues(rng):
    x, _ = planted(rng)
    cov = cov_result(PFA.introspect(ArrayProducer({"x": x})))
    vals, vecs = cov.eigenvalues, cov.eigenvectors
    assert np.all(np.diff(vals) <= 0) and np.all(vals >= 0)
    s = cov.covariances
    np.testing.assert_allclose(s @ vecs, vecs * vals, atol=1e-8 * vals[0])
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(len(vals)), atol=1e-10)
    assert cov.original_output_count == x.shape[1]


def test_one_dim_field_is_one_unit(rng):
    x = rng.normal(size=50)
    cov = cov_result(PFA.introspect(ArrayProducer({"x": x})))
    assert cov.original_output_count == 1
    np.testing.assert_allclose(cov.covariances[0, 0], np.var(x, ddof=1))


# ---------------------------------------------------------------- strategies


def test_energy_recommends_number_of_sources(rng):
    x, dead = planted(rng, k=6)
    pfa = PFA.introspect(ArrayProducer({"x": x}))
    recipe = pfa.get_recipe(strategy=PFA.Strategy.Energy(energy_threshold=0.999))["x"]
    assert recipe.recommended_output_count == 6
    assert recipe.number_inactive_units == len(dead) == 4
    assert sorted(recipe.maximally_correlated_units[:4]) == dead.tolist()
    assert isinstance(recipe.diagnostics, PFAEnergyDiagnostics)
    vals = cov_result(pfa).eigenvalues
    assert recipe.diagnostics.total_kept_energy == pytest.approx(vals[:6].sum())


@pytest.mark.parametrize("unit_strategy", list(PFA.UnitSelectionStrategy.get_algos()),
                         ids=lambda s: type(s).__name__)
def test_removed_units_are_a_list_with_the_inactive_units_first(rng, unit_strategy):
    # a dead block at the end, as in a layer whose last channels never fire
    x = np.hstack([rng.normal(size=(500, 3)) @ rng.normal(size=(3, 8)),
                   np.zeros((500, 4))])
    pfa = PFA.introspect(ArrayProducer({"x": x}))
    recipe = pfa.get_recipe(strategy=PFA.Strategy.Energy(0.98), unit_strategy=unit_strategy)
    units = recipe["x"].maximally_correlated_units
    assert type(units) is list and all(type(u) is int for u in units)
    assert recipe["x"].number_inactive_units == 4
    assert units[:4] == [8, 9, 10, 11]  # compares with a list, as DeepView's code does


def test_recipe_stores_any_sequence_of_units_as_a_list_of_ints():
    recipe = PFARecipe(original_output_count=5, recommended_output_count=3,
                       maximally_correlated_units=np.array([4, 1]), number_inactive_units=0,
                       diagnostics=None)
    assert recipe.maximally_correlated_units == [4, 1]
    assert all(type(u) is int for u in recipe.maximally_correlated_units)
    assert recipe.units_to_keep == (0, 2, 3)
    assert PFARecipe(2, 2).maximally_correlated_units == []


def test_energy_threshold_edges_and_min_kept(rng):
    x, _ = planted(rng)
    pfa = PFA.introspect(ArrayProducer({"x": x}))
    n = x.shape[1]
    assert pfa.get_recipe(strategy=PFA.Strategy.Energy(0.0))["x"].recommended_output_count == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # threshold 1.0 is reached at the last active unit
        full = pfa.get_recipe(strategy=PFA.Strategy.Energy(1.0))["x"]
    assert full.recommended_output_count == n - 4  # all active units; the 4 dead removed
    r = pfa.get_recipe(strategy=PFA.Strategy.Energy(0.5, min_kept_count=9))["x"]
    assert r.recommended_output_count == 9


def test_kl_recipe_and_diagnostics(rng):
    x, _ = planted(rng)
    pfa = PFA.introspect(ArrayProducer({"x": x}))
    recipe = pfa.get_recipe()["x"]  # defaults: KL + L1Max
    diag = recipe.diagnostics
    assert isinstance(diag, PFAKLDiagnostics)
    vals = cov_result(pfa).eigenvalues
    p = vals / vals.sum() + np.finfo(float).eps
    p /= p.sum()
    kl = float(np.sum(p * np.log(p * len(p))))
    assert diag.kl_divergence == pytest.approx(kl)
    assert diag.units_ratio == pytest.approx(1 - kl / np.log(len(p)))
    assert recipe.recommended_output_count == int(np.ceil(len(p) * diag.units_ratio))


def test_kl_custom_interpolation_and_bad_function(rng):
    x, _ = planted(rng)
    pfa = PFA.introspect(ArrayProducer({"x": x}))
    keep_all = PFA.Strategy.KL(interpolation_function=lambda kl, mx: 1.0)
    with pytest.warns(DeepViewWarning, match="inactive units are removed"):
        recipe = pfa.get_recipe(strategy=keep_all)["x"]
    assert recipe.recommended_output_count == x.shape[1] - 4
    near_zero = PFA.Strategy.KL(interpolation_function=lambda kl, mx: 1e-9)
    assert pfa.get_recipe(strategy=near_zero)["x"].recommended_output_count == 1
    with pytest.raises(DeepViewException, match="interpolation function"):
        pfa.get_recipe(strategy=PFA.Strategy.KL(interpolation_function=lambda kl, mx: 2.0))
    with pytest.raises(InvalidTypeError):
        PFA.Strategy.KL(interpolation_function=3)  # type: ignore[arg-type]
    assert PFA.Strategy.KL.LinearInterpolation()(1.0, 4.0) == 0.75


def test_kl_on_one_unit_layer(rng):
    pfa = PFA.introspect(ArrayProducer({"one": rng.normal(size=(20, 1))}))
    recipe = pfa.get_recipe()["one"]
    assert recipe.recommended_output_count == 1
    assert recipe.maximally_correlated_units == []
    assert recipe.diagnostics == PFAKLDiagnostics(kl_divergence=0.0, units_ratio=1.0)


def test_size_strategy_pools_layers(rng):
    a, _ = planted(rng, k=3, n_corr=12, n_dead=1)
    b = rng.normal(size=(3000, 16))
    pfa = PFA.introspect(ArrayProducer({"a": a, "b": b}))
    strategy = PFA.Strategy.Size(relative_size=0.5)
    recipes = pfa.get_recipe(strategy=strategy)
    # correlated layer a is cut far more than the white-noise layer b
    assert recipes["a"].recommended_output_count <= 4
    assert recipes["b"].recommended_output_count >= 8
    t = strategy.energy_threshold(pfa.covariances)
    energy = pfa.get_recipe(strategy=PFA.Strategy.Energy(t))
    assert {k: r.recommended_output_count for k, r in energy.items()} == \
        {k: r.recommended_output_count for k, r in recipes.items()}
    assert pfa.get_recipe(strategy=PFA.Strategy.Size(1.0))["b"].recommended_output_count == 16


@pytest.mark.parametrize("make", [
    lambda: PFA.Strategy.Energy(1.5),
    lambda: PFA.Strategy.Energy(-0.1),
    lambda: PFA.Strategy.Energy(0.5, min_kept_count=-1),
    lambda: PFA.Strategy.Size(2.0),
    lambda: PFA.Strategy.Size(0.5, epsilon_energy=0.7),
])
def test_strategy_parameters_validated(make):
    with pytest.raises(ValueError):
        make()


# ---------------------------------------------------------------- unit selection


@pytest.mark.parametrize("unit_strategy", list(PFA.UnitSelectionStrategy.get_algos()),
                         ids=lambda s: type(s).__name__)
def test_unit_strategies_valid_distinct_inactive_first(rng, unit_strategy):
    x, dead = planted(rng)
    pfa = PFA.introspect(ArrayProducer({"x": x}))
    cov = cov_result(pfa)
    n = x.shape[1]
    for keep in (1, 5, n - len(dead)):
        removed = unit_strategy(cov, num_units_to_keep=keep)
        assert len(removed) == n - keep
        assert len(set(removed.tolist())) == len(removed)
        assert all(0 <= u < n for u in removed)
        assert sorted(removed[:len(dead)].tolist()) == dead.tolist()
        recipe = pfa.get_recipe(strategy=PFA.Strategy.Energy(0.5, min_kept_count=keep),
                                unit_strategy=unit_strategy)["x"]
        assert recipe.recommended_output_count + len(recipe.maximally_correlated_units) == n
        assert set(recipe.units_to_keep).isdisjoint(recipe.maximally_correlated_units)


def test_get_algos_yields_four_distinct_strategies():
    names = [type(s).__name__ for s in PFA.UnitSelectionStrategy.get_algos()]
    assert sorted(names) == ["AbsMax", "AbsMin", "L1Max", "L1Min"]


def _cov_from_matrix(s: np.ndarray, inactive=()) -> PFACovariancesResult:
    result = PFACovariancesResult.make_covariance_result(covariances=s)
    return PFACovariancesResult(result.covariances, result.eigenvalues, result.eigenvectors,
                                result.original_output_count,
                                np.asarray(inactive, dtype=np.int64))


def test_l1_selection_matches_brute_force(rng):
    a = rng.normal(size=(30, 12))
    s = np.cov(a.T) + np.cov(a[:, :3].T).sum() * 0  # generic, no ties
    cov = _cov_from_matrix(s)
    d = np.sqrt(np.diag(s))
    corr = np.abs(s) / np.outer(d, d)
    np.fill_diagonal(corr, 0.0)
    for maximize, strategy in ((True, PFA.UnitSelectionStrategy.L1Max()),
                               (False, PFA.UnitSelectionStrategy.L1Min())):
        alive = list(range(12))
        expected = []
        for _ in range(12 - 4):
            sums = {j: sum(corr[i, j] for i in alive) for j in alive}
            j = (max if maximize else min)(alive, key=lambda u: sums[u])
            expected.append(j)
            alive.remove(j)
        assert strategy(cov, num_units_to_keep=4).tolist() == expected


def _brute_abs(corr: np.ndarray, keep: int, maximize: bool) -> list[int]:
    """Direct O(C^3) transcription of the documented Abs rule (generic data, no ties)."""
    ext = max if maximize else min
    alive = list(range(len(corr)))
    removed = []
    while len(alive) > keep:
        pairs = [(corr[i, j], i, j) for i in alive for j in alive if i < j]
        value, i, j = ext(pairs, key=lambda t: t[0])
        def second(r, other):
            rest = [corr[r, c] for c in alive if c not in (r, other)]
            return ext(rest) if rest else None
        si, sj = second(i, j), second(j, i)
        pick = i if si is None else (i if ext(si, sj) == si else j)  # i < j: lowest first
        removed.append(pick)
        alive.remove(pick)
    return removed


def test_abs_selection_matches_brute_force(rng):
    a = rng.normal(size=(40, 11))
    s = np.cov(a.T)
    d = np.sqrt(np.diag(s))
    corr = np.abs(s) / np.outer(d, d)
    cov = _cov_from_matrix(s)
    for maximize, strategy in ((True, PFA.UnitSelectionStrategy.AbsMax()),
                               (False, PFA.UnitSelectionStrategy.AbsMin())):
        for keep in (1, 3, 10):
            assert strategy(cov, num_units_to_keep=keep).tolist() == \
                _brute_abs(corr, keep, maximize)


def test_abs_selection_removes_most_correlated_pair_member():
    # units 0 and 1 are the most correlated pair; 1 has the larger second coefficient (to 2)
    s = np.array([[1.0, 0.9, 0.1, 0.0],
                  [0.9, 1.0, 0.5, 0.0],
                  [0.1, 0.5, 1.0, 0.2],
                  [0.0, 0.0, 0.2, 1.0]])
    cov = _cov_from_matrix(s)
    assert PFA.UnitSelectionStrategy.AbsMax()(cov, num_units_to_keep=3).tolist() == [1]
    # least correlated pairs: (0,3) and (1,3) at 0; among candidate rows 0, 1, 3 the one
    # with the lowest next coefficient is 3 (next lowest: 0.0 to the other unit)
    assert PFA.UnitSelectionStrategy.AbsMin()(cov, num_units_to_keep=3).tolist() == [3]


def test_l1_tie_break_only_picks_tied_units():
    # L1 sums: 0.9, 1.7, 1.7, 1.25, 1.25 -> units 1 and 2 tie. The largest coefficient in
    # their columns is c02 = 0.9, in ROW 0: the tie-break must remove tied unit 2 (the column
    # holding it), never the non-tied unit 0 (the reference's row-index bug).
    c = np.eye(5)
    for (i, j), v in {(0, 2): 0.9, (1, 2): 0.1, (1, 3): 0.8, (1, 4): 0.8, (2, 3): 0.35,
                      (2, 4): 0.35, (3, 4): 0.1}.items():
        c[i, j] = c[j, i] = v
    cov = _cov_from_matrix(c)
    assert PFA.UnitSelectionStrategy.L1Max()(cov, num_units_to_keep=4).tolist() == [2]
    s2 = np.array([[1.0, 0.5, 0.5],
                   [0.5, 1.0, 0.2],
                   [0.5, 0.2, 1.0]])
    # sums: 1.0, 0.7, 0.7 -> L1Min ties on 1 and 2 (both hold min 0.2): lowest index
    assert PFA.UnitSelectionStrategy.L1Min()(_cov_from_matrix(s2),
                                             num_units_to_keep=2).tolist() == [1]


def test_unit_strategy_bad_keep(rng):
    cov = cov_result(PFA.introspect(ArrayProducer({"x": rng.normal(size=(40, 5))})))
    for strategy in PFA.UnitSelectionStrategy.get_algos():
        with pytest.raises(InvalidParameterError):
            strategy(cov, num_units_to_keep=0)
        with pytest.raises(InvalidParameterError):
            strategy(cov, num_units_to_keep=6)


# ---------------------------------------------------------------- inactive units


def test_dead_units_counted_exactly(rng):
    x = rng.normal(size=(500, 10)).astype(np.float32)
    x[:, [1, 4, 7]] = 0.0
    x[:, 8] = 1e-6 * rng.normal(size=500)  # tiny variance: inactive at epsilon 1e-8
    pfa = PFA.introspect(ArrayProducer({"x": x}))
    assert cov_result(pfa).inactive_units.tolist() == [1, 4, 7, 8]
    loose = PFA.introspect(ArrayProducer({"x": x}), epsilon_inactive=0.0)
    assert cov_result(loose).inactive_units.tolist() == [1, 4, 7]


def test_all_zero_layer_is_all_inactive_and_keeps_one_unit():
    pfa = PFA.introspect(ArrayProducer({"z": np.zeros((30, 5))}))
    assert cov_result(pfa, "z").inactive_units.tolist() == [0, 1, 2, 3, 4]
    for strategy in (PFA.Strategy.KL(), PFA.Strategy.Energy(0.9), PFA.Strategy.Size(0.5)):
        recipe = pfa.get_recipe(strategy=strategy)["z"]
        assert recipe.recommended_output_count == 1
        assert sorted(recipe.maximally_correlated_units) == [1, 2, 3, 4]


def test_recommended_above_active_removes_inactive_only(rng):
    x = rng.normal(size=(200, 6))
    x[:, [0, 3]] = 0.0
    pfa = PFA.introspect(ArrayProducer({"x": x}))
    with pytest.warns(DeepViewWarning, match="active"):
        recipe = pfa.get_recipe(strategy=PFA.Strategy.Energy(1.0, min_kept_count=6))["x"]
    assert sorted(recipe.maximally_correlated_units) == [0, 3]
    assert recipe.recommended_output_count == 4


# ---------------------------------------------------------------- introspect behaviour


def test_failed_responses_when_fewer_samples_than_units(rng):
    producer = ArrayProducer({"wide": rng.normal(size=(5, 8)), "ok": rng.normal(size=(5, 2))})
    with pytest.warns(DeepViewWarning, match="wide"):
        pfa = PFA.introspect(producer)
    assert list(pfa.failed_responses) == ["wide"]
    assert set(pfa.get_recipe()) == {"ok"}


def test_multiple_fields_one_pass(rng, make_producer):
    x, _ = planted(rng)
    producer = make_producer({"a": x, "b": x[:, :5]})
    pfa = PFA.introspect(producer, batch_size=100)
    assert producer.calls == 1
    np.testing.assert_allclose(pfa.covariances["b"].covariances, np.cov(x[:, :5].T), rtol=1e-9)


def test_more_than_two_dims_rejected(rng):
    with pytest.raises(DeepViewException, match="Pooler"):
        PFA.introspect(ArrayProducer({"conv": rng.normal(size=(10, 3, 4, 4))}))


def test_non_finite_responses_rejected(rng):
    for dtype in (np.float32, np.float64):
        x = rng.normal(size=(300, 4)).astype(dtype)
        x[150, 2] = np.nan
        with pytest.raises(InvalidDataError, match="NaN"):
            PFA.introspect(ArrayProducer({"x": x}))
        x[150, 2] = np.inf
        with pytest.raises(InvalidDataError, match="NaN or inf"):
            PFA.introspect(ArrayProducer({"x": x}))


def test_float32_overflow_falls_back_to_float64(rng):
    x = (rng.normal(size=(100, 3)) * 1e20).astype(np.float32)  # squares overflow float32
    cov = cov_result(PFA.introspect(ArrayProducer({"x": x}))).covariances
    np.testing.assert_allclose(cov, np.cov(x.astype(np.float64).T), rtol=1e-6)


def test_bad_producers_and_parameters(rng):
    x = rng.normal(size=(20, 3))
    with pytest.raises(InvalidParameterError):
        PFA.introspect(ArrayProducer({"x": x}), batch_size=0)
    with pytest.raises(InvalidParameterError):
        PFA.introspect(ArrayProducer({"x": x}), epsilon_inactive=-1.0)
    with pytest.raises(InvalidDataError, match="no batches"):
        PFA.introspect(lambda batch_size: iter(()))

    def changing(batch_size):
        yield Batch({"x": x[:10]})
        yield Batch({"x": x[10:, :2]})

    with pytest.raises(InvalidDataError, match="units"):
        PFA.introspect(changing)

    def new_field(batch_size):
        yield Batch({"x": x[:10]})
        yield Batch({"y": x[10:]})

    with pytest.raises(InvalidDataError, match="fields"):
        PFA.introspect(new_field)
    with pytest.raises(InvalidTypeError):
        PFA.introspect(ArrayProducer({"s": np.array([["a", "b"]] * 4)}))


def test_get_recipe_rejects_bad_strategies(rng):
    pfa = PFA.introspect(ArrayProducer({"x": rng.normal(size=(50, 4))}))
    with pytest.raises(InvalidTypeError, match="instance"):
        pfa.get_recipe(strategy=PFA.Strategy.KL)  # type: ignore[arg-type]

    def bad_count(covs):
        return {k: PFARecipe(c.original_output_count, 0) for k, c in covs.items()}

    with pytest.raises(DeepViewException, match=r"\[1, 4\]"):
        pfa.get_recipe(strategy=bad_count)

    def bad_units(cov, *, num_units_to_keep):
        return np.array([0, 0])

    with pytest.raises(DeepViewException, match="invalid"):
        pfa.get_recipe(unit_strategy=bad_units)


# ---------------------------------------------------------------- show


def _two_recipes(rng):
    x, _ = planted(rng, n=800)
    pfa = PFA.introspect(ArrayProducer({"a": x, "b": x[:, :6]}))
    return pfa, pfa.get_recipe(), pfa.get_recipe(strategy=PFA.Strategy.Energy(0.99))


def test_show_table_columns_and_filters(rng):
    pytest.importorskip("pandas")
    pfa, kl, energy = _two_recipes(rng)
    table = PFA.show(kl)
    assert list(table.columns) == list(PFA.COLUMNS)
    assert table["layer name"].tolist() == ["a", "b"]
    assert table["PFA strategy"].tolist() == ["PFA KL", "PFA KL"]
    assert table["kept energy"].tolist() == ["N/A", "N/A"]
    assert table.loc[0, "units to keep"] == set(kl["a"].units_to_keep)
    both = PFA.show([kl, energy], include_columns=["layer name", "PFA strategy"])
    assert both.shape == (4, 2)
    assert both["PFA strategy"].tolist() == ["PFA KL", "PFA KL", "PFA Energy", "PFA Energy"]
    fewer = PFA.show(energy, exclude_columns=["units to keep", "KL divergence"])
    assert "units to keep" not in fewer.columns and "kept energy" in fewer.columns
    with pytest.raises(DeepViewException, match="no columns"):
        PFA.show(kl, include_columns=["layer name"], exclude_columns=["layer name"])
    with pytest.raises(InvalidParameterError, match="unknown"):
        PFA.show(kl, include_columns=["nope"])


def test_show_table_defaults_to_all_columns_and_empty_include_means_all(rng):
    pytest.importorskip("pandas")
    _, kl, _ = _two_recipes(rng)
    assert list(PFA.show(kl).columns) == list(PFA.COLUMNS)
    assert list(PFA.show(kl, include_columns=[]).columns) == list(PFA.COLUMNS)
    left = PFA.show(kl, include_columns=[], exclude_columns=list(PFA.COLUMNS[:3]))
    assert list(left.columns) == list(PFA.COLUMNS[3:])


def test_show_table_refuses_typos_and_an_empty_selection(rng):
    pytest.importorskip("pandas")
    _, kl, _ = _two_recipes(rng)
    # a misspelt column is an error, not silently dropped, in either argument
    with pytest.raises(InvalidParameterError, match="'include_columns'.*'layer nmae'"):
        PFA.show(kl, include_columns=["layer name", "layer nmae"])
    with pytest.raises(InvalidParameterError, match="'exclude_columns'.*'kind'"):
        PFA.show(kl, exclude_columns=["kind"])
    # excluding every column leaves nothing to show: an error naming both arguments
    with pytest.raises(InvalidParameterError, match="include_columns.*exclude_columns"):
        PFA.show(kl, exclude_columns=list(PFA.COLUMNS))
    with pytest.raises(ValueError, match="no columns"):
        PFA.show(kl, include_columns=["units ratio"], exclude_columns=["units ratio"])


def test_show_chart_returns_one_axes_for_one_or_several_recipes(rng):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    _, kl, energy = _two_recipes(rng)
    ax = PFA.show([kl, energy], vis_type=PFA.VisType.CHART)
    try:
        assert isinstance(ax, Axes)
        assert len(ax.patches) == 3 * 2  # original + two recipes, two layers
        labels = [text.get_text() for text in ax.get_legend().get_texts()]
        assert labels == ["original", "recommended 1 (KL)", "recommended 2 (Energy)"]
    finally:
        plt.close(ax.figure)
    one = PFA.show(kl, vis_type="chart")
    try:
        assert isinstance(one, Axes) and len(one.patches) == 2 * 2
        assert one.figure.axes == [one]
    finally:
        plt.close(one.figure)


def test_show_bad_input(rng):
    pfa, kl, _ = _two_recipes(rng)
    with pytest.raises(DeepViewException, match="get_recipe"):
        PFA.show(pfa)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PFA.show({})
    with pytest.raises(ValueError):
        PFA.show([])
    with pytest.raises(ValueError):
        PFA.show(kl, vis_type="pie")
    with pytest.raises(InvalidTypeError):
        PFA.show({"a": 3})  # type: ignore[dict-item]


def test_no_warnings_on_clean_run(rng):
    x, _ = planted(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PFA.introspect(ArrayProducer({"x": x})).get_recipe()
