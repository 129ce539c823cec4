"""A refused logon (a wrong API secret) ends `tradeactors run` in one line naming the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

RIGHT, WRONG = "right-" + "r" * 30, "wrong-" + "w" * 30


@pytest.fixture
def exchange(tmp_path):
    """`tradeactors exchange` in its own process, serving account ``demo``; its URLs."""
    env = {**os.environ, "TRADEACTORS_SECRET_DEMO": RIGHT}
    process = subprocess.Popen(
        [sys.executable, "-m", "tradeactors", "exchange", "--api-key", "demo", "--symbol",
         "BTCUSDT", "--duration", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        urls = {}
        for _ in range(3):  # market data, order entry, depth snapshot: one line each
            name, _, rest = process.stdout.readline().partition(": ")
            urls[name] = rest.split()[0]
        yield urls
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_a_wrong_api_secret_is_one_line_naming_the_key_and_never_the_secret(exchange, tmp_path):
    config = tmp_path / "venue.toml"
    config.write_text(
        "[venue]\n"
        f'trade_url = "{exchange["order entry"]}"\n'
        f'stream_url = "{exchange["market data"]}"\n'
        f'rest_url = "{exchange["depth snapshot"].partition("?")[0]}"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "tradeactors", "run", "--config", str(config), "--duration", "5"],
        capture_output=True, text=True, timeout=90, check=False,
        env={**os.environ, "TRADEACTORS_SIM_SECRET": WRONG},
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tradeactors run: ")
    assert "refused the logon of API key 'demo': auth_failed" in last
    assert "Traceback" not in result.stdout + result.stderr
    assert WRONG not in result.stdout + result.stderr
    assert RIGHT not in result.stdout + result.stderr
