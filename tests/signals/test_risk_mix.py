"""Patient-risk mixes: deduplication, validation and the Beta Parsonnet mix."""

import pytest
from scipy import integrate, special

from signals.risk_mix import RiskMix, beta_parsonnet_mix, logistic_risks, risk_mix


def test_duplicates_merge_into_weights():
    mix = risk_mix([0.3, 0.1, 0.3, 0.2, 0.3])
    assert isinstance(mix, RiskMix)
    assert mix.risks.tolist() == [0.1, 0.2, 0.3]
    assert mix.weights.tolist() == pytest.approx([0.2, 0.2, 0.6])


def test_given_weights_are_summed_and_normalised():
    mix = risk_mix([0.1, 0.2, 0.1], weights=[1, 2, 3])
    assert mix.risks.tolist() == [0.1, 0.2]
    assert mix.weights.tolist() == pytest.approx([4 / 6, 2 / 6])


def test_a_scalar_is_a_one_point_mix():
    mix = risk_mix(0.05)
    assert (mix.risks.tolist(), mix.weights.tolist()) == ([0.05], [1.0])


@pytest.mark.parametrize(
    ("risks", "weights"),
    [([], None), ([0.1, 1.2], None), ([-0.1], None), ([0.1, 0.2], [1]), ([0.1], [-1]),
     ([0.1, 0.2], [0, 0])],
)
def test_invalid_mixes_are_rejected(risks, weights):
    with pytest.raises(ValueError):
        risk_mix(risks, weights)


def test_logistic_risks_reproduce_the_reference_risks():
    # statistics.md: p(0) = 0.025, p(50) = 0.542 under logit p = −3.68 + 0.077·Parsonnet
    assert logistic_risks([0, 50], -3.68, 0.077).round(3).tolist() == [0.025, 0.542]


def test_beta_mix_matches_the_continuous_distribution():
    mix = beta_parsonnet_mix()
    assert mix.weights.sum() == pytest.approx(1.0)
    # The mean risk of the discretised mix against the integral over Parsonnet ~ 71·Beta(1, 3).
    exact, _ = integrate.quad(
        lambda x: 3 * (1 - x) ** 2 * special.expit(-3.6798 + 0.0768 * 71 * x), 0, 1
    )
    assert float(mix.risks @ mix.weights) == pytest.approx(exact, rel=1e-5)
