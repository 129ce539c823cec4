from __future__ import annotations

import msgspec
import pytest

from tradeactors.errors import ConfigError
from tradeactors.strategy import make_strategy, strategy_names
from tradeactors.strategy.api import Strategy
from tradeactors.strategy.builtin import (
    BUILTINS,
    MarketMaker,
    MarketMakerParams,
    Momentum,
    MomentumParams,
    Vwap,
    VwapParams,
)


def test_the_builtins_by_name():
    assert strategy_names() == ["market_maker", "momentum", "vwap"]
    assert dict(BUILTINS) == {
        "market_maker": (MarketMaker, MarketMakerParams),
        "momentum": (Momentum, MomentumParams),
        "vwap": (Vwap, VwapParams),
    }


@pytest.mark.parametrize("name", ["market_maker", "momentum", "vwap"])
def test_each_name_builds_with_its_defaults(name):
    strategy = make_strategy(name)
    cls, params_type = BUILTINS[name]
    assert isinstance(strategy, Strategy)
    assert type(strategy) is cls
    assert strategy.name == name
    assert strategy.params == params_type()


@pytest.mark.parametrize("params_type", [MarketMakerParams, MomentumParams, VwapParams])
def test_params_are_frozen_and_forbid_unknown_fields(params_type):
    params = params_type()
    with pytest.raises(AttributeError):
        params.size = 1
    assert params_type.__struct_config__.forbid_unknown_fields
    assert params_type.__struct_config__.frozen
    with pytest.raises(TypeError):
        params_type(1)  # keyword only


def test_string_params_are_converted():
    strategy = make_strategy(
        "market_maker",
        {"half_spread": "5", "size": "200", "skew": "0.02", "min_interval": "1"},
    )
    assert strategy.params == MarketMakerParams(
        half_spread=5, size=200, skew=0.02, min_interval=1.0
    )
    strategy = make_strategy("momentum", {"use_flow": "true", "window": "2.5", "cooldown": "0"})
    assert strategy.params.use_flow is True
    assert strategy.params.window == 2.5
    strategy = make_strategy(
        "vwap", {"side": "sell", "quantity": "500", "profile": "1,2,1", "limit_price": "268000"}
    )
    assert strategy.params.weights() == (0.25, 0.5, 0.25)
    assert strategy.params.quantity == 500
    assert make_strategy("vwap", {"profile": [1, 3]}).params.weights() == (0.25, 0.75)


def test_an_unknown_name_is_a_config_error():
    with pytest.raises(ConfigError, match=r"unknown strategy 'twap' \(known: market_maker, "):
        make_strategy("twap")


@pytest.mark.parametrize("name", ["market_maker", "momentum", "vwap"])
def test_an_unknown_param_is_a_config_error(name):
    with pytest.raises(ConfigError, match="bogus"):
        make_strategy(name, {"bogus": "1"})


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("market_maker", {"size": "many"}, "Expected `int`"),
        ("market_maker", {"half_spread": "0"}, "half_spread must be >= 1"),
        ("market_maker", {"size": "100", "max_inventory": "50"}, "max_inventory"),
        ("market_maker", {"skew": "-1"}, "skew"),
        ("market_maker", {"min_interval": "nan"}, "min_interval must be a finite number"),
        ("momentum", {"window": "0"}, "window must be positive"),
        ("momentum", {"threshold_bps": "-1"}, "threshold_bps must be positive"),
        ("momentum", {"size": "0"}, "size must be >= 1"),
        ("momentum", {"slippage": "-1"}, "slippage"),
        ("momentum", {"max_hold": "inf"}, "max_hold must be a finite number"),
        ("vwap", {"side": "long"}, "side must be 'buy' or 'sell'"),
        ("vwap", {"quantity": "0"}, "quantity must be >= 1"),
        ("vwap", {"participation": "1.5"}, r"participation must be within \[0, 1\]"),
        ("vwap", {"limit_price": "-5"}, "limit_price"),
        ("vwap", {"slice_interval": "400", "horizon": "300"}, "slice_interval must be"),
        ("vwap", {"profile": "1,x"}, "profile must be numbers"),
        ("vwap", {"profile": "0,0"}, "must not all be 0"),
        ("vwap", {"profile": [1, -1]}, "finite and >= 0"),
        ("vwap", {"buckets": "0"}, "buckets must be >= 1"),
    ],
)
def test_bad_values_are_config_errors(name, params, message):
    with pytest.raises(ConfigError, match=message):
        make_strategy(name, params)


def test_params_round_trip_through_msgspec():
    params = VwapParams(side="sell", profile=(1.0, 2.0))
    assert msgspec.convert(msgspec.to_builtins(params), VwapParams) == params
