"""Settings validation: every bad value is one line that names its option."""

from __future__ import annotations

import argparse

import pytest

from harness.settings import LOAD_OPTIONS, LoadSettings, SettingsError, add_options, secret_environment, to_arguments


def parse(*argv: str) -> LoadSettings:
    parser = argparse.ArgumentParser()
    add_options(parser)
    return LoadSettings.from_namespace(parser.parse_args(list(argv)))


def test_defaults_are_valid() -> None:
    settings = parse()
    assert (settings.producers, settings.consumers, settings.rate, settings.subscription_type) == (
        2,
        2,
        100.0,
        "Shared",
    )


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--rate", "-5"], "--rate"),
        (["--rate", "0"], "--rate"),
        (["--subscription-type", "Sharded"], "--subscription-type"),
        (["--target", "kafka"], "--target"),
        (["--target", "pulsar"], "--url"),
        (["--url", "ftp://x"], "--url"),
        (["--topic", "c8globals.x"], "--topic"),
        (["--producers", "-1"], "--producers"),
        (["--size", "900000"], "--size"),
        (["--duration", "-1"], "--duration"),
        (["--target", "gdn", "--url", "https://gdn.example"], "--api-key"),
        (["--target", "gdn", "--url", "https://gdn.example", "--email", "a@b.c"], "--password"),
        (["--target", "gdn"], "--url"),
        (["--ca-file", "/nonexistent/ca.pem"], "--ca-file"),
        (["--nack-probability", "2"], "--nack-probability"),
        (["--permits", "0"], "--permits"),
        (["--rate-profile", "step"], "--step-rates"),
        (["--rate-profile", "step", "--step-rates", "5,-1"], "--step-rates"),
        (["--rate-profile", "ramp", "--duration", "0"], "--rate-profile ramp"),
        (["--payload", "lorem"], "--payload"),
        (["--events-to", "s3"], "--events-to"),
    ],
)
def test_bad_values_give_one_line_naming_the_option(argv: list[str], names: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(*argv)
    message = str(caught.value)
    assert names in message and "\n" not in message


def test_round_trip_to_arguments_keeps_secrets_out_of_the_command_line() -> None:
    settings = parse("--target", "pulsar", "--url", "ws://h:1", "--token", "s3cret", "--rate", "7.5")
    args = to_arguments(settings)
    assert "s3cret" not in args and "--token" not in args
    assert args[args.index("--rate") + 1] == "7.5"
    assert secret_environment(settings) == {"STREAMHARNESS_TOKEN": "s3cret"}


def test_every_option_maps_to_a_setting() -> None:
    fields = set(LoadSettings().as_dict())
    assert {spec.dest for spec in LOAD_OPTIONS} == fields


def test_gdn_settings_accept_any_one_credential() -> None:
    for creds in (["--api-key", "t.k.s"], ["--token", "a.b.c"], ["--email", "a@b.c", "--password", "pw"]):
        settings = parse("--target", "gdn", "--url", "https://gdn.example", *creds)
        assert settings.target == "gdn"


def test_environment_variables_give_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMHARNESS_API_KEY", "t.k.from-env")
    monkeypatch.setenv("STREAMHARNESS_INSECURE", "true")
    monkeypatch.setenv("STREAMHARNESS_RATE", "12.5")
    settings = parse("--target", "gdn", "--url", "https://gdn.example")
    assert (settings.api_key, settings.insecure, settings.rate) == ("t.k.from-env", True, 12.5)
    assert "t.k.from-env" not in " ".join(to_arguments(settings))
    args = to_arguments(settings)
    assert args[args.index("--insecure") + 1].startswith("--")  # a bare flag, no value after it
